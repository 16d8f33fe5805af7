import assert from "node:assert/strict";
import { buildDsn } from "./dsn.ts";

const original = new TextEncoder().encode(
  "From: alice@example.com\r\nTo: bob@remote.example\r\nSubject: Hi\r\n\r\nsecret body\r\n",
);

Deno.test("buildDsn() makes an RFC 3464 report with the original headers only", () => {
  const text = new TextDecoder().decode(buildDsn({
    hostname: "mx.example.com",
    sender: "alice@example.com",
    failed: [{
      recipient: "bob@remote.example",
      status: "5.1.1",
      diagnostic: "mx.remote.example said: 550 5.1.1 No such user",
      remoteMta: "mx.remote.example",
    }],
    arrivalDate: new Date("2026-11-29T10:00:00Z"),
    original,
    date: new Date("2026-11-29T10:05:00Z"),
  }));
  const boundary = /boundary="([^"]+)"/.exec(text)![1];
  assert.match(text, /^From: Mail Delivery System <MAILER-DAEMON@mx\.example\.com>\r\n/);
  assert.match(text, /\r\nTo: <alice@example\.com>\r\n/);
  assert.match(text, /\r\nAuto-Submitted: auto-replied\r\n/);
  assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status;/);
  const parts = text.split(`--${boundary}`);
  assert.equal(parts.length, 5, "preamble, three parts, epilogue");
  assert.match(
    parts[1],
    /bob@remote\.example>: mx\.remote\.example said: 550 5\.1\.1 No such user/,
  );
  assert.match(parts[2], /Content-Type: message\/delivery-status\r\n/);
  assert.match(parts[2], /Reporting-MTA: dns; mx\.example\.com\r\n/);
  assert.match(parts[2], /Arrival-Date: Sun, 29 Nov 2026 10:00:00 \+0000\r\n/);
  assert.match(
    parts[2],
    /\r\n\r\nFinal-Recipient: rfc822; bob@remote\.example\r\nAction: failed\r\nStatus: 5\.1\.1\r\nRemote-MTA: dns; mx\.remote\.example\r\nDiagnostic-Code: smtp; /,
  );
  assert.match(
    parts[3],
    /Content-Type: text\/rfc822-headers\r\n[^\r]*\r\n\r\nFrom: alice@example\.com\r\nTo: bob@remote\.example\r\nSubject: Hi\r\n\r\n/,
  );
  assert.ok(!text.includes("secret body"), "the body is not returned");
  assert.equal(parts[4], "--\r\n");
});

Deno.test("buildDsn() keeps the report ASCII whatever the remote said", () => {
  const text = new TextDecoder().decode(buildDsn({
    hostname: "mx.example.com",
    sender: "alice@example.com",
    failed: [{
      recipient: "bob@remote.example",
      status: "4.4.7",
      diagnostic: "Zeitüberschreitung\r\nX: y",
    }],
    arrivalDate: new Date(),
    original,
  }));
  assert.match(text, /Diagnostic-Code: smtp; Zeit\?berschreitung\?\?X: y\r\n/);
  assert.match(text, /Status: 4\.4\.7\r\n/);
  assert.match(text, /given up/);
});
