#!/usr/bin/env python3
"""Regenerate the Dovecot answers for the MIME fixtures (tests/fixtures/mime/*.eml).

Dovecot is the independent oracle for src/mail/mime.ts, src/mail/envelope.ts,
src/mail/bodystructure.ts and src/mail/message_meta.ts: this script starts a
private Dovecot on loopback (own config, base_dir and maildirs in a temp dir),
puts every fixture into a mailbox of its own, FETCHes ENVELOPE, BODYSTRUCTURE,
BODY and every BODY.PEEK[section] that the structure makes meaningful (plus a
few invalid ones) with imaplib, and writes the raw untagged answers to
tests/fixtures/mime/<name>.dovecot.json. The Deno tests only read those files;
they never need Dovecot.

Usage: python3 tests/support/mime_oracle.py [FIXTURE.eml ...]
  (no arguments: every fixture). Needs the `dovecot` binary and root (Dovecot
  drops to the `nobody` user for mail access). Dovecot is stopped on exit.
"""

import base64
import imaplib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "fixtures", "mime"))
USER, PASSWORD = "oracle", "oraclepass"
MAX_PATH_DEPTH = 5  # deeper sections are sampled only at the deepest leaf
MAX_WIDTH = 8  # of a wider multipart, sections are asked of the first and last few parts only


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_dovecot(tmp, port, fixtures):
    nobody = pwd.getpwnam("nobody")
    home = os.path.join(tmp, "home")
    maildir = os.path.join(home, "Maildir")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(maildir, sub))
    for name in fixtures:
        box = os.path.join(maildir, "." + mailbox_name(name))
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(box, sub))
        shutil.copyfile(os.path.join(FIXTURES, name), os.path.join(box, "new", "1000000000.M1P1.oracle"))
    for root, dirs, files in os.walk(home):
        for n in dirs + files:
            os.chown(os.path.join(root, n), nobody.pw_uid, nobody.pw_gid)
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    for sub in ("run", "state"):
        os.makedirs(os.path.join(tmp, sub))
    with open(os.path.join(tmp, "passwd"), "w") as f:
        f.write(f"{USER}:{{PLAIN}}{PASSWORD}:{nobody.pw_uid}:{nobody.pw_gid}::{home}::\n")
    conf = os.path.join(tmp, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(f"""base_dir = {tmp}/run
state_dir = {tmp}/state
instance_name = mimeoracle
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
log_path = {tmp}/dovecot.log
mail_location = maildir:~/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {tmp}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {tmp}/passwd
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")
    proc = subprocess.Popen(["dovecot", "-F", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    stop(proc)
    sys.exit("dovecot failed to start:\n" + open(os.path.join(tmp, "dovecot.log")).read())


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def mailbox_name(fixture):
    return fixture[: -len(".eml")]


def raw_response(data):
    """The untagged FETCH answer as it came over the wire (without "* ", without the final CRLF)."""
    out = b""
    for item in data:
        if isinstance(item, tuple):
            out += item[0] + b"\r\n" + item[1]
        elif item is not None:
            out += item
    return out


# A small reader of IMAP s-expressions, enough to walk a BODYSTRUCTURE.
def parse_sexp(data, i=0):
    items = []
    while i < len(data):
        c = data[i : i + 1]
        if c == b" ":
            i += 1
        elif c == b"(":
            sub, i = parse_sexp(data, i + 1)
            items.append(sub)
        elif c == b")":
            return items, i + 1
        elif c == b'"':
            j, s = i + 1, b""
            while data[j : j + 1] != b'"':
                if data[j : j + 1] == b"\\":
                    j += 1
                s += data[j : j + 1]
                j += 1
            items.append(s)
            i = j + 1
        elif c == b"{":
            j = data.index(b"}", i)
            n = int(data[i + 1 : j].rstrip(b"+"))
            start = j + 3
            items.append(data[start : start + n])
            i = start + n
        else:
            j = i
            depth = 0
            while j < len(data) and (depth > 0 or data[j : j + 1] not in (b" ", b"(", b")")):
                if data[j : j + 1] == b"[":
                    depth += 1
                elif data[j : j + 1] == b"]":
                    depth -= 1
                j += 1
            atom = data[i:j]
            items.append(None if atom.upper() == b"NIL" else atom)
            i = j
    return items, i


def fetch_value(raw):
    """The value of the one item in `N (ITEM value)` (imaplib drops the word FETCH)."""
    parsed, _ = parse_sexp(raw)
    return parsed[1][1]


def is_multipart(node):
    return isinstance(node, list) and len(node) > 0 and isinstance(node[0], list)


def sampled(children):
    """(number, child) pairs worth asking about: all of them, or the first 3 and last 2 of many."""
    numbered = list(enumerate(children, 1))
    return numbered if len(numbered) <= MAX_WIDTH else numbered[:3] + numbered[-2:]


def sections_for(structure):
    """Section specs worth asking about, derived from Dovecot's own BODYSTRUCTURE."""
    out = ["", "HEADER", "TEXT", "HEADER.FIELDS (FROM TO SUBJECT)", "HEADER.FIELDS.NOT (RECEIVED RETURN-PATH)",
           "HEADER.FIELDS (X-NOT-THERE)"]
    deepest = []

    def leafs_and_parts(node, path):
        nonlocal deepest
        p = ".".join(map(str, path))
        if len(path) <= MAX_PATH_DEPTH:
            out.extend([p, p + ".MIME"])
        if len(path) > len(deepest):
            deepest = path
        if is_multipart(node):
            children = [c for c in node if isinstance(c, list)]
            for n, child in sampled(children):
                leafs_and_parts(child, path + [n])
            if len(path) <= MAX_PATH_DEPTH:
                out.append(p + "." + str(len(children) + 1))
            return
        kind = (node[0] or b"").lower(), (node[1] or b"").lower()
        if kind[0] == b"message" and kind[1] in (b"rfc822", b"global") and len(node) > 8 and isinstance(node[8], list):
            if len(path) <= MAX_PATH_DEPTH:
                out.extend([p + ".HEADER", p + ".TEXT", p + ".HEADER.FIELDS (SUBJECT FROM)",
                            p + ".HEADER.FIELDS.NOT (SUBJECT)"])
            inner = node[8]
            if is_multipart(inner):
                children = [c for c in inner if isinstance(c, list)]
                for n, child in sampled(children):
                    leafs_and_parts(child, path + [n])
                out.append(p + "." + str(len(children) + 1))
            else:
                leafs_and_parts(inner, path + [1])
                out.append(p + ".2")
        elif len(path) <= 2:
            # Dovecot is lenient with "1.1" on a leaf, and HEADER/TEXT of a non-message part.
            out.extend([p + ".1", p + ".HEADER", p + ".TEXT"])

    if is_multipart(structure):
        children = [c for c in structure if isinstance(c, list)]
        for n, child in sampled(children):
            leafs_and_parts(child, [n])
        out.append(str(len(children) + 1))
    else:
        leafs_and_parts(structure, [1])
        out.extend(["2", "1.2"])
    if len(deepest) > MAX_PATH_DEPTH:
        p = ".".join(map(str, deepest))
        out.extend([p, p + ".MIME"])
    seen, unique = set(), []
    for s in out:
        if s not in seen:
            seen.add(s)
            unique.append(s)
    return unique


def record(imap, item):
    typ, data = imap.fetch("1", "(" + item + ")")
    entry = {"request": item}
    if typ != "OK":
        entry["error"] = typ + " " + b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        return entry, None
    raw = raw_response(data)
    try:
        entry["response"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        entry["response_base64"] = base64.b64encode(raw).decode()
    return entry, raw


def main():
    names = sys.argv[1:] or sorted(n for n in os.listdir(FIXTURES) if n.endswith(".eml"))
    version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="mime-oracle.")
    os.chmod(tmp, 0o755)
    port = free_port()
    proc = start_dovecot(tmp, port, names)
    try:
        imap = imaplib.IMAP4("127.0.0.1", port, timeout=30)
        imap.login(USER, PASSWORD)
        for name in names:
            typ, _ = imap.select(mailbox_name(name), readonly=True)
            if typ != "OK":
                sys.exit(f"cannot select {name}")
            responses = []
            for item in ("RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE"):
                entry, raw = record(imap, item)
                responses.append(entry)
                if item == "BODYSTRUCTURE":
                    structure = fetch_value(raw)
            for section in sections_for(structure):
                entry, _ = record(imap, "BODY.PEEK[" + section + "]")
                responses.append(entry)
            out = os.path.join(FIXTURES, mailbox_name(name) + ".dovecot.json")
            with open(out, "w") as f:
                json.dump({"fixture": name, "dovecot": version, "responses": responses}, f, indent=2,
                          ensure_ascii=False)
                f.write("\n")
            print(f"{out}: {len(responses)} answers")
        imap.logout()
    finally:
        stop(proc)
        errors = [line for line in open(os.path.join(tmp, "dovecot.log"), errors="replace")
                  if "rror" in line or "atal" in line or "anic" in line]
        if errors:
            print("dovecot log:", *errors[:10], sep="\n  ", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
