#!/usr/bin/env python3
"""Drives Python's poplib (and smtplib, to fill mailboxes) for the POP3 tests.

Reads one JSON job on stdin and prints one JSON result on stdout. Every
network operation has a timeout, so a stuck server fails the job instead of
hanging the test. Certificates are not verified (the tests use the
self-signed development certificate).

Job: {"host": "127.0.0.1", "steps": [STEP, ...]}. Each step names the
session it acts on with "s" (default "a"), so one job can hold several
connections at once (the maildrop lock tests). Steps run in order; a step
that fails records its error and the job goes on.

Steps ("op" and its fields):
  connect   port, tls ("plain" or "ssl")        -> resp: the greeting
  capa                                          -> capa: {name: [args]}
  stls                                          -> resp
  user/pass arg                                 -> resp
  auth      user, password, authzid, initial (bool), cancel (bool)
            AUTH PLAIN with the initial response on the command line, or
            after the server's "+ " continuation     -> resps: [..]
  short     arg: a raw command with a one-line reply  -> resp
  long      arg: a raw command with a multi-line reply -> resp, lines
  stat                                          -> count, size
  list/uidl arg (optional)                      -> resp, lines
  retr      arg, save (optional file)           -> resp, octets, data (b64) or saved
  top       arg, lines                          -> resp, octets, data (b64)
  dele/noop/rset/quit arg as needed             -> resp
  drop      close the socket without QUIT
  sleep     ms
  smtp      port, sender, recipients, message_file or message_b64,
            options (MAIL FROM parameters), empty (bool: DATA with no
            content at all, sent by hand)       -> resp

Results: one per step, {"op", "ok": true, ...} or {"op", "ok": false,
"error": text, "type": exception class}. retr/top data is the message as
poplib read it (dot-unstuffed), lines joined with CRLF and a final CRLF.
"""

import base64
import json
import poplib
import smtplib
import ssl
import sys
import time

TIMEOUT = 20


def context():
    return ssl._create_unverified_context()


def text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def joined(lines):
    return b"".join(line + b"\r\n" for line in lines)


def plain(step):
    raw = "%s\0%s\0%s" % (step.get("authzid", ""), step["user"], step["password"])
    return base64.b64encode(raw.encode("utf-8")).decode("ascii")


def smtp(job, step):
    with smtplib.SMTP(job["host"], step["port"], local_hostname="client.test",
                      timeout=TIMEOUT) as s:
        s.ehlo()
        if step.get("empty"):
            code, msg = s.mail(step["sender"], step.get("options", []))
            assert code == 250, (code, msg)
            for rcpt in step["recipients"]:
                code, msg = s.rcpt(rcpt)
                assert code == 250, (code, msg)
            s.putcmd("data")
            code, msg = s.getreply()
            assert code == 354, (code, msg)
            s.send(b".\r\n")
            code, msg = s.getreply()
            assert code == 250, (code, msg)
            return {"resp": "%d %s" % (code, text(msg))}
        if "message_file" in step:
            with open(step["message_file"], "rb") as f:
                data = f.read()
        else:
            data = base64.b64decode(step["message_b64"])
        refused = s.sendmail(step["sender"], step["recipients"], data,
                             mail_options=step.get("options", []))
        assert not refused, refused
        return {"resp": "250"}


def run(job, sessions, step):
    op = step["op"]
    if op == "sleep":
        time.sleep(step["ms"] / 1000)
        return {}
    if op == "smtp":
        return smtp(job, step)
    name = step.get("s", "a")
    if op == "connect":
        if step.get("tls") == "ssl":
            p = poplib.POP3_SSL(job["host"], step["port"], timeout=TIMEOUT, context=context())
        else:
            p = poplib.POP3(job["host"], step["port"], timeout=TIMEOUT)
        sessions[name] = p
        return {"resp": text(p.getwelcome())}
    p = sessions[name]
    arg = step.get("arg")
    if op == "capa":
        return {"capa": p.capa()}
    if op == "stls":
        return {"resp": text(p.stls(context=context()))}
    if op == "user":
        return {"resp": text(p.user(arg))}
    if op == "pass":
        return {"resp": text(p.pass_(arg))}
    if op == "auth":
        resps = []
        if step.get("initial"):
            resps.append(text(p._shortcmd("AUTH PLAIN " + plain(step))))
        else:
            resps.append(text(p._shortcmd("AUTH PLAIN")))
            resps.append(text(p._shortcmd("*" if step.get("cancel") else plain(step))))
        return {"resps": resps}
    if op == "short":
        return {"resp": text(p._shortcmd(arg))}
    if op == "long":
        resp, lines, _ = p._longcmd(arg)
        return {"resp": text(resp), "lines": [text(x) for x in lines]}
    if op == "stat":
        count, size = p.stat()
        return {"count": count, "size": size}
    if op in ("list", "uidl"):
        r = getattr(p, op)(arg) if arg is not None else getattr(p, op)()
        if isinstance(r, bytes):
            return {"resp": text(r)}
        resp, lines, _ = r
        return {"resp": text(resp), "lines": [text(x) for x in lines]}
    if op in ("retr", "top"):
        resp, lines, octets = p.retr(arg) if op == "retr" else p.top(arg, step["lines"])
        data = joined(lines)
        out = {"resp": text(resp), "octets": octets, "length": len(data)}
        if step.get("save"):
            with open(step["save"], "wb") as f:
                f.write(data)
            out["saved"] = step["save"]
        else:
            out["data"] = base64.b64encode(data).decode("ascii")
        return out
    if op == "dele":
        return {"resp": text(p.dele(arg))}
    if op == "noop":
        return {"resp": text(p.noop())}
    if op == "rset":
        return {"resp": text(p.rset())}
    if op == "quit":
        resp = p.quit()
        del sessions[name]
        return {"resp": text(resp)}
    if op == "drop":
        p.close()
        del sessions[name]
        return {}
    raise ValueError("unknown op %r" % op)


def main():
    job = json.load(sys.stdin)
    job.setdefault("host", "127.0.0.1")
    sessions = {}
    results = []
    for step in job["steps"]:
        try:
            r = run(job, sessions, step)
            results.append({"op": step["op"], "ok": True, **r})
        except Exception as e:  # noqa: BLE001 - every failure is a result
            msg = e.args[0] if isinstance(e, poplib.error_proto) and e.args else e
            results.append({"op": step["op"], "ok": False, "error": text(msg),
                            "type": type(e).__name__})
    for p in sessions.values():
        try:
            p.close()
        except Exception:  # noqa: BLE001
            pass
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
