#!/usr/bin/env python3
"""Python's side of the import/export tests: its `mailbox` module writes and
reads mbox files and Maildir trees, and imaplib fills and reads a server's
mailboxes, byte for byte (bodies travel as base64).

Reads one JSON job on stdin, prints one JSON result on stdout.

Jobs ("op" and its fields):
  imap_fill   port, user, password, mailboxes: [{name, messages: [{b64,
              flags: [...], date: epoch seconds}]}]: CREATE (when not INBOX)
              and APPEND each message with its flags and internal date
  imap_dump   port, user, password -> {mailboxes: {name: [{b64, flags,
              date}]}}: every mailbox LIST shows, UID FETCH 1:* of BODY.PEEK[],
              FLAGS and INTERNALDATE (epoch seconds)
  write_mbox  path, messages: [{b64, sender, date, flags}] with mailbox.mbox:
              mboxMessage(bytes), set_from(sender, gmtime(date)), set_flags
              (mbox letters: R O D F A) when given; {raw: true, b64} adds
              the bytes as they are (Python writes its own From line)
  write_maildir  path, folders: {"" (the root) or a folder name: [{b64,
              flags (Maildir letters), date, subdir}]} with mailbox.Maildir
              (add_folder for each folder; "A.B" is Maildir++ A/B)
  read_mbox   path -> {messages: [{from_line, flags, b64}]}: get_bytes (the
              message as in the file, without its From line)
  read_maildir  path -> {folders: {"" or name: [{flags, date, subdir, b64}]}}
"""

import base64
import imaplib
import json
import mailbox
import re
import sys
import time

TIMEOUT = 60


def b64(data):
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text)


def quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def imap(job):
    conn = imaplib.IMAP4("127.0.0.1", job["port"], timeout=TIMEOUT)
    conn.login(job["user"], job["password"])
    return conn


def imap_fill(job):
    conn = imap(job)
    for box in job["mailboxes"]:
        name = box["name"]
        if name.upper() != "INBOX":
            typ, data = conn.create(quote(name))
            if typ != "OK" and b"exists" not in b" ".join(d or b"" for d in data).lower():
                raise RuntimeError(f"CREATE {name}: {typ} {data}")
        for m in box["messages"]:
            flags = "(" + " ".join(m.get("flags", [])) + ")"
            date = imaplib.Time2Internaldate(m["date"])
            typ, data = conn.append(quote(name), flags, date, unb64(m["b64"]))
            if typ != "OK":
                raise RuntimeError(f"APPEND to {name}: {typ} {data}")
    conn.logout()
    return {}


LIST_LINE = re.compile(rb'^\((?P<attrs>[^)]*)\) (?:NIL|"(?:[^"\\]|\\.)*") (?P<name>.*)$')


def unquote(raw):
    raw = raw.decode()
    if raw.startswith('"'):
        return re.sub(r"\\(.)", r"\1", raw[1:-1])
    return raw


def imap_dump(job):
    conn = imap(job)
    typ, lines = conn.list()
    names = []
    for line in lines:
        m = LIST_LINE.match(line)
        if m and b"\\Noselect" not in m.group("attrs"):
            names.append(unquote(m.group("name")))
    out = {}
    for name in names:
        typ, data = conn.select(quote(name), readonly=True)
        if typ != "OK":
            raise RuntimeError(f"SELECT {name}: {data}")
        messages = []
        if int(data[0]) > 0:
            typ, data = conn.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
            for item in data:
                if not isinstance(item, tuple):
                    continue
                head, body = item
                flags = [f.decode() for f in imaplib.ParseFlags(head)]
                date = time.mktime(imaplib.Internaldate2tuple(head))
                uid = int(re.search(rb"UID (\d+)", head).group(1))
                messages.append({"uid": uid, "flags": sorted(flags), "date": int(date), "b64": b64(body)})
            messages.sort(key=lambda m: m["uid"])
        out[name] = messages
    conn.logout()
    return {"mailboxes": out}


def write_mbox(job):
    mb = mailbox.mbox(job["path"])
    mb.lock()
    for m in job["messages"]:
        data = unb64(m["b64"])
        if m.get("raw"):
            mb.add(data)
            continue
        msg = mailbox.mboxMessage(data)
        msg.set_from(m.get("sender", "MAILER-DAEMON"), time.gmtime(m["date"]))
        if m.get("flags"):
            msg.set_flags(m["flags"])
        mb.add(msg)
    mb.flush()
    mb.unlock()
    mb.close()
    return {}


def write_maildir(job):
    root = mailbox.Maildir(job["path"], create=True)
    for folder, messages in job["folders"].items():
        target = root if folder == "" else root.add_folder(folder)
        for m in messages:
            msg = mailbox.MaildirMessage(unb64(m["b64"]))
            msg.set_subdir(m.get("subdir", "cur"))
            if m.get("flags"):
                msg.set_flags(m["flags"])
            msg.set_date(m["date"])
            target.add(msg)
    return {}


def read_mbox(job):
    mb = mailbox.mbox(job["path"], create=False)
    messages = []
    for key in mb.iterkeys():
        msg = mb.get_message(key)
        messages.append({
            "from_line": msg.get_from(),
            "flags": msg.get_flags(),
            "b64": b64(mb.get_bytes(key)),
        })
    mb.close()
    return {"messages": messages}


def maildir_messages(md):
    out = []
    for key in md.iterkeys():
        msg = md.get_message(key)
        out.append({
            "flags": msg.get_flags(),
            "date": msg.get_date(),
            "subdir": msg.get_subdir(),
            "b64": b64(md.get_bytes(key)),
        })
    return out


def read_maildir(job):
    root = mailbox.Maildir(job["path"], create=False)
    folders = {"": maildir_messages(root)}
    for name in root.list_folders():
        folders[name] = maildir_messages(root.get_folder(name))
    return {"folders": folders}


OPS = {
    "imap_fill": imap_fill,
    "imap_dump": imap_dump,
    "write_mbox": write_mbox,
    "write_maildir": write_maildir,
    "read_mbox": read_mbox,
    "read_maildir": read_maildir,
}


def main():
    job = json.load(sys.stdin)
    json.dump(OPS[job["op"]](job), sys.stdout)


if __name__ == "__main__":
    main()
