#!/usr/bin/env python3
"""Drives Python's imaplib (and smtplib, to fill mailboxes) for the IMAP tests.

Reads one JSON job on stdin and prints one JSON result on stdout. Every
network operation has a timeout, so a stuck server fails the job instead of
hanging the test. Certificates are not verified (the tests use the
self-signed development certificate).

Job: {"host": "127.0.0.1", "steps": [STEP, ...]}. Each step names the
session it acts on with "s" (default "a"), so one job can hold several
connections at once. Steps run in order; a step that fails records its error
and the job goes on.

Every result carries "wire": what the server sent during the step, as read
(lines with their CRLF, literals as they came), so a test can check the
exact responses behind imaplib's parsed answer.

Steps ("op" and its fields):
  connect    port, tls ("plain", "ssl" or "starttls")
             -> welcome, capabilities (imaplib's, after STARTTLS when asked)
  starttls   imaplib's starttls() with an unverified context -> typ, capabilities
  login      user, password                  -> typ, data
  authenticate  user, password, authzid: imaplib's AUTHENTICATE PLAIN (the
             response after the "+" continuation) -> typ, data
  call       method, args: any imaplib method (select, fetch, store, uid,
             append, ...); an argument {"b64": ...} is passed as bytes
             -> typ, data
  raw        line: one command without its tag, sent as is; literal_b64 with
             plus (bool): the line is followed by a literal, {n+} or {n}
             (after the server's "+"); answers: lines sent for further "+"
             continuations -> typ, text (of the tagged reply)
  idle_start send IDLE, read the "+" continuation -> text
  idle_wait  pattern (regex), timeout_ms: read what the server pushes until
             a line matches -> matched (bool), elapsed_ms
  idle_done  send DONE, read to the tagged reply -> typ, text
  logout                                     -> typ, data
  drop       close the socket without LOGOUT
  sleep      ms
  smtp       port, sender, recipients, message_b64 -> delivered over SMTP

Results: one per step, {"op", "ok": true, "wire", ...} or {"op", "ok":
false, "error": text, "type": exception class, "wire"}. imaplib's data is
given as JSON: bytes as text (UTF-8, undecodable octets replaced), literal
tuples as lists, None as null.
"""

import base64
import imaplib
import json
import re
import smtplib
import socket
import ssl
import sys
import time

TIMEOUT = 20


def context():
    return ssl._create_unverified_context()


def text(b):
    if isinstance(b, (bytes, bytearray)):
        return bytes(b).decode("utf-8", "replace")
    return b if b is None or isinstance(b, (str, int)) else str(b)


def jsonable(data):
    if isinstance(data, (list, tuple)):
        return [jsonable(x) for x in data]
    return text(data)


class Recording:
    """Keeps every octet the server sends, so each step can report its wire."""

    def _record_init(self):
        self.wire = bytearray()

    def readline(self):
        line = super().readline()
        self.wire += line
        return line

    def read(self, size):
        data = super().read(size)
        self.wire += data
        return data

    def take_wire(self):
        out = text(self.wire)
        self.wire = bytearray()
        return out


class Imap(Recording, imaplib.IMAP4):
    def __init__(self, host, port):
        self._record_init()
        super().__init__(host, port, timeout=TIMEOUT)


class ImapSsl(Recording, imaplib.IMAP4_SSL):
    def __init__(self, host, port):
        self._record_init()
        super().__init__(host, port, ssl_context=context(), timeout=TIMEOUT)


def arg(value):
    if isinstance(value, dict) and "b64" in value:
        return base64.b64decode(value["b64"])
    return value


def raw(m, line, literal=None, plus=False, answers=()):
    """Sends `tag line` (and a literal), reads to the tagged reply; gives (typ, text).

    Each "+" continuation is answered with the synchronising literal, then
    with the `answers` in turn (AUTHENTICATE exchanges).
    """
    tag = m._new_tag()
    m.tagged_commands[tag] = None
    pending = [a.encode("utf-8") for a in answers]
    head = tag + b" " + line.encode("utf-8")
    if literal is None:
        m.send(head + b"\r\n")
    elif plus:
        m.send(head + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
    else:
        m.send(head + b" {%d}\r\n" % len(literal))
        pending.insert(0, literal)
    while m.tagged_commands[tag] is None:
        if m._get_response() is None:  # a "+" continuation
            if not pending:
                raise imaplib.IMAP4.error("unexpected continuation: %r" % m.continuation_response)
            m.send(pending.pop(0) + b"\r\n")
    typ, data = m._get_tagged_response(tag)
    # What this command's untagged responses were is in the wire; they must not show up in
    # the data of a later imaplib call.
    m.untagged_responses = {}
    word = line.split(" ", 1)[0].upper()
    if typ == "OK":
        if word in ("LOGIN", "AUTHENTICATE"):
            m.state = "AUTH"
        elif word in ("SELECT", "EXAMINE"):
            m.state = "SELECTED"
        elif word in ("CLOSE", "UNSELECT"):
            m.state = "AUTH"
    return typ, text(data[-1]) if data else ""


def idle_wait(m, pattern, timeout_ms):
    """Reads pushed lines until one matches `pattern` or the time is up."""
    start = time.monotonic()
    regex = re.compile(pattern)
    deadline = start + timeout_ms / 1000
    sock = m.sock
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return {"matched": False, "elapsed_ms": int((time.monotonic() - start) * 1000)}
            sock.settimeout(left)
            try:
                line = m.readline()
            except (socket.timeout, TimeoutError):
                # A timed-out socket file cannot be read again: the session is done.
                return {"matched": False, "elapsed_ms": int((time.monotonic() - start) * 1000)}
            if not line:
                raise imaplib.IMAP4.abort("connection closed during IDLE")
            if regex.search(text(line)):
                return {"matched": True, "elapsed_ms": int((time.monotonic() - start) * 1000)}
    finally:
        sock.settimeout(TIMEOUT)


def smtp(job, step):
    with smtplib.SMTP(job["host"], step["port"], local_hostname="client.test",
                      timeout=TIMEOUT) as s:
        s.ehlo()
        refused = s.sendmail(step.get("sender", "sender@remote.example"), step["recipients"],
                             base64.b64decode(step["message_b64"]))
        assert not refused, refused
    return {}


def run(job, sessions, step):
    op = step["op"]
    if op == "sleep":
        time.sleep(step["ms"] / 1000)
        return {}
    if op == "smtp":
        return smtp(job, step)
    name = step.get("s", "a")
    if op == "connect":
        mode = step.get("tls", "plain")
        m = ImapSsl(job["host"], step["port"]) if mode == "ssl" else Imap(job["host"], step["port"])
        sessions[name] = m
        if mode == "starttls":
            m.starttls(ssl_context=context())
        return {"welcome": text(m.welcome), "capabilities": list(m.capabilities)}
    m = sessions[name]
    if op == "starttls":
        typ, data = m.starttls(ssl_context=context())
        return {"typ": typ, "data": jsonable(data), "capabilities": list(m.capabilities)}
    if op == "login":
        typ, data = m.login(step["user"], step["password"])
        return {"typ": typ, "data": jsonable(data)}
    if op == "authenticate":
        response = "%s\0%s\0%s" % (step.get("authzid", ""), step["user"], step["password"])
        typ, data = m.authenticate("PLAIN", lambda _challenge: response.encode("utf-8"))
        return {"typ": typ, "data": jsonable(data)}
    if op == "call":
        typ, data = getattr(m, step["method"])(*[arg(a) for a in step.get("args", [])])
        return {"typ": typ, "data": jsonable(data)}
    if op == "raw":
        literal = base64.b64decode(step["literal_b64"]) if "literal_b64" in step else None
        typ, reply = raw(m, step["line"], literal, step.get("plus", False),
                         step.get("answers", []))
        return {"typ": typ, "text": reply}
    if op == "idle_start":
        tag = m._new_tag()
        m.tagged_commands[tag] = None
        m._idle_tag = tag
        m.send(tag + b" IDLE\r\n")
        line = m.readline()
        if not line.startswith(b"+"):
            raise imaplib.IMAP4.error("no continuation for IDLE: %r" % line)
        return {"text": text(line).strip()}
    if op == "idle_wait":
        return idle_wait(m, step["pattern"], step.get("timeout_ms", 5000))
    if op == "idle_done":
        m.send(b"DONE\r\n")
        typ, data = m._get_tagged_response(m._idle_tag)
        return {"typ": typ, "text": text(data[-1]) if data else ""}
    if op == "logout":
        typ, data = m.logout()
        del sessions[name]
        return {"typ": typ, "data": jsonable(data)}
    if op == "drop":
        m.shutdown()
        del sessions[name]
        return {}
    raise ValueError("unknown op %r" % op)


def main():
    job = json.load(sys.stdin)
    job.setdefault("host", "127.0.0.1")
    sessions = {}
    results = []
    for step in job["steps"]:
        m = sessions.get(step.get("s", "a"))
        try:
            r = run(job, sessions, step)
            m = m or sessions.get(step.get("s", "a"))
            results.append({"op": step["op"], "ok": True, **r,
                            "wire": m.take_wire() if m else ""})
        except Exception as e:  # noqa: BLE001 - every failure is a result
            m = m or sessions.get(step.get("s", "a"))
            results.append({"op": step["op"], "ok": False, "error": text(str(e)),
                            "type": type(e).__name__, "wire": m.take_wire() if m else ""})
    for m in sessions.values():
        try:
            m.shutdown()
        except Exception:  # noqa: BLE001
            pass
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
