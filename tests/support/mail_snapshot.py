#!/usr/bin/env python3
"""What a Postino serves to each user, as real clients read it: a JSON snapshot.

Used by the store fixture generator (tests/fixtures/make_store_fixtures.ts,
against old versions) and by the tests that compare a server's mail with
what was recorded (tests/store_upgrade_test.ts, tests/backup_test.ts).

Reads one JSON job on stdin:
  {"host": "127.0.0.1", "imap": PORT or null, "pop3": PORT or null,
   "users": [{"address": ..., "password": ...}], "bodies": false}
and prints {"users": {ADDRESS: {"imap": {...}, "pop3": [...]}}} on stdout:

  imap: {MAILBOX: {"uidvalidity", "uidnext", "messages": [{"uid", "flags",
         "internaldate", "size", "sha256"}]}}, every mailbox LIST shows, read
         with EXAMINE and UID FETCH (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[]),
         so reading changes nothing; flags sorted, \\Recent left out (it is
         per session); internaldate in seconds since the epoch.
  pop3: [{"uidl", "size", "sha256"}] in maildrop order (UIDL, LIST, RETR;
         QUIT without DELE). The message is poplib's lines joined with CRLF
         plus a final CRLF, i.e. the stored bytes when they end with CRLF.

With "bodies": true each message also carries "b64" (its bytes). Every
network operation has a timeout. Login failures are errors (exit status 1).
"""

import base64
import hashlib
import imaplib
import json
import poplib
import re
import sys
import time

TIMEOUT = 20


def sha(data):
    return hashlib.sha256(data).hexdigest()


def mailbox_names(m):
    typ, data = m.list()
    assert typ == "OK", data
    names = []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):  # a name sent as a literal
            names.append(item[1].decode("utf-8"))
            continue
        line = item.decode("utf-8")
        match = re.match(r'^\((?P<attrs>[^)]*)\) (?:"[^"]*"|NIL) (?P<name>.*)$', line)
        assert match, line
        if "\\Noselect" in match.group("attrs") or "\\NonExistent" in match.group("attrs"):
            continue
        name = match.group("name")
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        names.append(name)
    return sorted(names)


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def fetch_items(head, tail):
    """The UID, FLAGS, INTERNALDATE and RFC822.SIZE of one FETCH response."""
    text = head.decode("utf-8", "replace") + " " + tail.decode("utf-8", "replace")
    uid = int(re.search(r"\bUID (\d+)", text).group(1))
    flags = re.search(r"\bFLAGS \(([^)]*)\)", text).group(1).split()
    date = re.search(r'\bINTERNALDATE "([^"]*)"', text).group(1)
    size = int(re.search(r"\bRFC822\.SIZE (\d+)", text).group(1))
    when = int(time.mktime(imaplib.Internaldate2tuple(('INTERNALDATE "%s"' % date).encode())))
    return uid, sorted(f for f in flags if f != "\\Recent"), when, size


def imap_snapshot(host, port, user, bodies):
    m = imaplib.IMAP4(host, port, timeout=TIMEOUT)
    try:
        typ, _ = m.login(user["address"], user["password"])
        assert typ == "OK"
        boxes = {}
        for name in mailbox_names(m):
            typ, data = m.select(quote(name), readonly=True)
            assert typ == "OK", (name, data)
            exists = int(data[0])
            uidvalidity = int(m.response("UIDVALIDITY")[1][0])
            uidnext = int(m.response("UIDNEXT")[1][0])
            messages = []
            if exists > 0:
                typ, data = m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
                assert typ == "OK", data
                i = 0
                while i < len(data):
                    item = data[i]
                    if isinstance(item, tuple):
                        head, body = item
                        tail = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
                        uid, flags, when, size = fetch_items(head, tail)
                        entry = {
                            "uid": uid,
                            "flags": flags,
                            "internaldate": when,
                            "size": size,
                            "sha256": sha(body),
                        }
                        if bodies:
                            entry["b64"] = base64.b64encode(body).decode()
                        messages.append(entry)
                    i += 1
                messages.sort(key=lambda e: e["uid"])
            assert len(messages) == exists, (name, exists, len(messages))
            boxes[name] = {"uidvalidity": uidvalidity, "uidnext": uidnext, "messages": messages}
            m.close()  # after EXAMINE: expunges nothing
        return boxes
    finally:
        try:
            m.logout()
        except Exception:
            pass


def pop3_snapshot(host, port, user, bodies):
    p = poplib.POP3(host, port, timeout=TIMEOUT)
    try:
        p.user(user["address"])
        p.pass_(user["password"])
        _, uidls, _ = p.uidl()
        _, sizes, _ = p.list()
        size_of = {int(l.split()[0]): int(l.split()[1]) for l in sizes}
        out = []
        for line in uidls:
            n, uidl = line.decode().split()
            _, lines, _ = p.retr(int(n))
            data = b"\r\n".join(lines) + b"\r\n"
            entry = {"uidl": uidl, "size": size_of[int(n)], "sha256": sha(data)}
            if bodies:
                entry["b64"] = base64.b64encode(data).decode()
            out.append(entry)
        return out
    finally:
        p.quit()


def main():
    job = json.load(sys.stdin)
    host = job.get("host", "127.0.0.1")
    bodies = job.get("bodies", False)
    users = {}
    for user in job["users"]:
        snap = {}
        if job.get("imap"):
            snap["imap"] = imap_snapshot(host, job["imap"], user, bodies)
        if job.get("pop3"):
            snap["pop3"] = pop3_snapshot(host, job["pop3"], user, bodies)
        users[user["address"]] = snap
    json.dump({"users": users}, sys.stdout)


if __name__ == "__main__":
    main()
