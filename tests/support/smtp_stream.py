#!/usr/bin/env python3
"""A steady SMTP load with smtplib that reports every message as it is accepted.

For the backup test and benchmark: each acknowledged message is printed at
once as a JSON line {"id": MESSAGE-ID, "t": MS-SINCE-EPOCH}, the time taken
right after the server's 250 (when the message is durable), so the reader
knows which messages were acknowledged before some moment. The last line is
{"done": true, "errors": [...]}.

Job (JSON on stdin): host, port, recipients, clients (connections, one
thread each, reused for every message), per_client (messages each),
size (body octets), pause_ms (between messages of one client), prefix
(of the Message-IDs: <PREFIX-CLIENT-N@load.test>).
"""

import json
import smtplib
import sys
import threading
import time

TIMEOUT = 30
lock = threading.Lock()


def say(obj):
    with lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def message(prefix, client, n, size):
    mid = "%s-%d-%d@load.test" % (prefix, client, n)
    line = ("load %s " % mid).encode()
    body = (line * (size // len(line) + 1))[:size]
    lines = [body[i:i + 76] for i in range(0, len(body), 76)]
    head = (
        "From: load@remote.example\r\n"
        "To: alice@localhost\r\n"
        "Subject: load %d/%d\r\n"
        "Message-ID: <%s>\r\n\r\n" % (client, n, mid)
    ).encode()
    return mid, head + b"\r\n".join(lines) + b"\r\n"


def client(job, c, errors):
    try:
        with smtplib.SMTP(job["host"], job["port"], local_hostname="load.test",
                          timeout=TIMEOUT) as s:
            s.ehlo()
            for n in range(job["per_client"]):
                mid, data = message(job["prefix"], c, n, job["size"])
                refused = s.sendmail("load@remote.example", job["recipients"], data)
                if refused:
                    errors.append({"id": mid, "refused": str(refused)})
                    continue
                say({"id": mid, "t": time.time() * 1000})
                if job.get("pause_ms"):
                    time.sleep(job["pause_ms"] / 1000)
    except Exception as e:  # reported, the others go on
        errors.append({"client": c, "error": "%s: %s" % (type(e).__name__, e)})


def main():
    job = json.load(sys.stdin)
    job.setdefault("host", "127.0.0.1")
    errors = []
    threads = [threading.Thread(target=client, args=(job, c, errors))
               for c in range(job["clients"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    say({"done": True, "errors": errors})


if __name__ == "__main__":
    main()
