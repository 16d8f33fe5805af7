#!/usr/bin/python3
"""Verifies the topmost DKIM-Signature of a message with Debian's python3-dkim (dkimpy).

Usage: dkim_verify.py MESSAGE_FILE RECORD_NAME RECORD_VALUE

The key comes from RECORD_VALUE, the TXT record that would be published at
RECORD_NAME (e.g. "sel._domainkey.example.com"); no DNS is ever used. A lookup
of any other name finds nothing, so a signature must also name the right
selector and domain to pass.

Prints "pass" and exits 0 when the signature verifies; prints "fail: <reason>"
and exits 1 when it does not; exits 2 on a usage mistake. Run it with
/usr/bin/python3: python3-dkim is installed for the system interpreter only.
"""

import logging
import sys

import dkim


class Collect(logging.Handler):
    """Keeps the errors dkimpy logs, to tell why a signature failed."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def main(argv):
    if len(argv) != 4:
        print("usage: dkim_verify.py MESSAGE_FILE RECORD_NAME RECORD_VALUE", file=sys.stderr)
        return 2
    path, record_name, record_value = argv[1:]
    with open(path, "rb") as f:
        message = f.read()

    wanted = record_name.lower().rstrip(".")
    asked = []

    def dnsfunc(name, timeout=5):
        text = name.decode("ascii") if isinstance(name, bytes) else name
        asked.append(text)
        if text.lower().rstrip(".") == wanted:
            return record_value.encode("ascii")
        return None

    collect = Collect()
    logger = logging.getLogger("dkim_verify")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    logger.addHandler(collect)

    if dkim.verify(message, logger=logger, dnsfunc=dnsfunc):
        print("pass")
        return 0
    reason = "; ".join(collect.lines) or "the signature does not match the signed header fields"
    print(f"fail: {reason} (looked up: {', '.join(asked) or 'nothing'})")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
