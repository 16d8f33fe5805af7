#!/usr/bin/python3
"""Signs a message with Debian's python3-dkim (dkimpy), an independent DKIM signer.

Usage: dkim_sign.py KEY_FILE SELECTOR DOMAIN HEADERS [CANONICALIZATION] < MESSAGE

KEY_FILE is an RSA private key in PEM; HEADERS the header fields to sign,
comma-separated (e.g. "From,To,Subject"); CANONICALIZATION is
"header/body" (default "relaxed/simple"). Prints the signed message (the
DKIM-Signature field on top of the message as read) on stdout. Exits 1 when
dkimpy refuses to sign, 2 on a usage mistake. Run it with /usr/bin/python3:
python3-dkim is installed for the system interpreter only.
"""

import sys

import dkim


def main(argv):
    if len(argv) not in (5, 6):
        print("usage: dkim_sign.py KEY_FILE SELECTOR DOMAIN HEADERS [CANON] < MESSAGE",
              file=sys.stderr)
        return 2
    key_file, selector, domain, headers = argv[1:5]
    canon = (argv[5] if len(argv) == 6 else "relaxed/simple").split("/")
    with open(key_file, "rb") as f:
        key = f.read()
    message = sys.stdin.buffer.read()
    try:
        signature = dkim.sign(
            message,
            selector.encode("ascii"),
            domain.encode("ascii"),
            key,
            canonicalize=(canon[0].encode("ascii"), canon[1].encode("ascii")),
            include_headers=[h.strip().encode("ascii") for h in headers.split(",") if h.strip()],
        )
    except dkim.DKIMException as e:
        print(f"cannot sign: {e}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(signature + message)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
