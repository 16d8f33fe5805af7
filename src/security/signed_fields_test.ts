import assert from "node:assert/strict";
import { headerSection } from "../mail/headers.ts";
import { bodyNeeded } from "./signed_fields.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("bodyNeeded() is true only with a DKIM-Signature or ARC field in the header section", () => {
  const table: [string, boolean][] = [
    ["From: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n", false],
    ["DKIM-Signature: v=1; d=b.test\r\nFrom: a@b.test\r\n\r\nbody\r\n", true],
    ["From: a@b.test\r\ndkim-signature : v=1;\r\n\r\n", true],
    ["From: a@b.test\r\nARC-Seal: i=1; cv=none\r\n\r\n", true],
    ["From: a@b.test\r\nARC-Message-Signature: i=1\r\n\r\n", true],
    ["From: a@b.test\r\nARC-Authentication-Results: i=1; x\r\n\r\n", true],
    // Not a field of its own: folded into Subject, or only in the body.
    ["Subject: hello\r\n DKIM-Signature: v=1\r\n\r\n", false],
    ["From: a@b.test\r\n\r\nDKIM-Signature: v=1\r\n", false],
    ["X-DKIM-Signature: v=1\r\n\r\n", false],
    ["From: a@b.test\n\nARC-Seal: bare LF message\n", false],
    ["From: a@b.test\nARC-Seal: i=1\n\nbody\n", true],
    ["", false],
  ];
  for (const [message, want] of table) {
    assert.equal(bodyNeeded(headerSection(enc(message))), want, JSON.stringify(message));
  }
});
