#!/usr/bin/env python3
"""Drives Python's smtplib for the black-box SMTP tests.

Reads one JSON job on stdin and prints one JSON result on stdout. Every
network operation has a timeout, so a stuck server fails the job instead of
hanging the test. The server's certificate is not verified (the tests use the
self-signed development certificate).

Job fields:
  host, port              where to connect
  security                "plain", "starttls" or "ssl" (implicit TLS)
  helo                    the EHLO name (default "client.test")
  user, password          log in after TLS (or before, to test refusal)
  mechanism               "PLAIN" or "LOGIN" (default: smtplib's choice)
  sender, recipients      the envelope
  message_b64             the message, base64 (sent as bytes, unchanged)
  mail_options            e.g. ["SMTPUTF8", "BODY=8BITMIME"]
  count, concurrency      flood mode: send `count` messages over as many
                          simultaneous connections, all connected before
                          any sends (a barrier)

Result: {"ok": bool, "refused": {rcpt: [code, text]}, "error": {...},
"ehlo": [extensions], "tls": [version, cipher]} or, in flood mode,
{"sent": n, "errors": [...]}.
"""

import base64
import json
import smtplib
import ssl
import sys
import threading

TIMEOUT = 20


def context():
    return ssl._create_unverified_context()


def connect(job):
    helo = job.get("helo", "client.test")
    if job.get("security") == "ssl":
        s = smtplib.SMTP_SSL(job["host"], job["port"], local_hostname=helo,
                             timeout=TIMEOUT, context=context())
    else:
        s = smtplib.SMTP(job["host"], job["port"], local_hostname=helo, timeout=TIMEOUT)
    s.ehlo()
    if job.get("security") == "starttls":
        s.starttls(context=context())
        s.ehlo()
    return s


def error_of(e):
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return {"type": "RecipientsRefused",
                "recipients": {k: [v[0], v[1].decode("utf-8", "replace")]
                               for k, v in e.recipients.items()}}
    if isinstance(e, smtplib.SMTPResponseException):
        return {"type": type(e).__name__, "code": e.smtp_code,
                "message": e.smtp_error.decode("utf-8", "replace")
                if isinstance(e.smtp_error, bytes) else str(e.smtp_error)}
    return {"type": type(e).__name__, "message": str(e)}


def send(job):
    result = {"ok": False}
    s = None
    try:
        s = connect(job)
        result["ehlo"] = sorted(s.esmtp_features.keys())
        if hasattr(s.sock, "version"):
            result["tls"] = [s.sock.version(), s.sock.cipher()[0]]
        if "user" in job:
            mech = job.get("mechanism")
            if mech:
                s.user, s.password = job["user"], job["password"]
                s.auth(mech, getattr(s, "auth_" + mech.lower()))
            else:
                s.login(job["user"], job["password"])
        if "sender" in job:
            message = base64.b64decode(job.get("message_b64", ""))
            refused = s.sendmail(job["sender"], job["recipients"], message,
                                 job.get("mail_options", []))
            result["refused"] = {k: [v[0], v[1].decode("utf-8", "replace")]
                                 for k, v in refused.items()}
        result["ok"] = True
        s.quit()
    except Exception as e:  # reported to the test, which decides
        result["error"] = error_of(e)
        if s is not None:
            try:
                s.close()
            except Exception:
                pass
    return result


def flood(job):
    count = job["count"]
    barrier = threading.Barrier(count, timeout=TIMEOUT)
    errors = []
    sent = []
    lock = threading.Lock()
    message = base64.b64decode(job["message_b64"])

    def one(i):
        s = None
        try:
            s = connect(job)
            barrier.wait()
            body = message.replace(b"{i}", str(i).encode())
            s.sendmail(job["sender"], job["recipients"], body)
            s.quit()
            with lock:
                sent.append(i)
        except Exception as e:
            with lock:
                errors.append([i, error_of(e)])
            try:
                barrier.abort()
            except Exception:
                pass
            if s is not None:
                try:
                    s.close()
                except Exception:
                    pass

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT * 3)
    return {"sent": len(sent), "errors": errors[:10], "error_count": len(errors)}


def main():
    job = json.load(sys.stdin)
    out = flood(job) if "count" in job else send(job)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
