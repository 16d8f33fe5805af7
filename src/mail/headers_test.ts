import assert from "node:assert/strict";
import { hasHeader, headerSection, headerValue, removeFields } from "./headers.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

const SECTIONS: [string, string, string][] = [
  ["CRLF", "A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n\r\n"],
  ["bare LF", "A: 1\n\nbody\n", "A: 1\n\n"],
  ["no body", "A: 1\r\nB: 2\r\n", "A: 1\r\nB: 2\r\n"],
  ["empty header section", "\r\nbody\r\n", "\r\n"],
  ["empty message", "", ""],
];

for (const [name, message, want] of SECTIONS) {
  Deno.test(`headerSection() ends after the blank line: ${name}`, () => {
    assert.equal(text(headerSection(bytes(message))), want);
  });
}

Deno.test("hasHeader() matches names case-insensitively at line starts only", () => {
  const m = bytes(
    "Subject: x\r\nmessage-id: <a@b>\r\nX-Note: Date: not a field\r\n\r\nDate: in body\r\n",
  );
  assert.equal(hasHeader(m, "Message-ID"), true);
  assert.equal(hasHeader(m, "subject"), true);
  assert.equal(hasHeader(m, "Date"), false, "neither inside another field nor in the body");
  assert.equal(hasHeader(bytes("Date : Mon\r\n\r\n"), "Date"), true, "space before the colon");
});

Deno.test("headerValue() unfolds the first field's value", () => {
  const m = bytes("From: Alice\r\n <alice@example.com>\r\nFrom: second@example.com\r\n\r\n");
  assert.equal(headerValue(m, "from"), "Alice <alice@example.com>");
  assert.equal(headerValue(m, "To"), undefined);
});

Deno.test("removeFields() drops matching fields with their folded lines and keeps the rest", () => {
  const m = bytes(
    "Authentication-Results: mx.example.com;\r\n spf=pass smtp.mailfrom=evil.example\r\n" +
      "From: a@b\r\n" +
      "authentication-results: other.example; dkim=pass\r\n" +
      "Subject: hi\r\n\r\nAuthentication-Results: mx.example.com; in the body stays\r\n",
  );
  const ours = (v: string) => v.split(";")[0].trim().toLowerCase() === "mx.example.com";
  assert.equal(
    text(removeFields(m, "Authentication-Results", ours)),
    "From: a@b\r\nauthentication-results: other.example; dkim=pass\r\nSubject: hi\r\n\r\n" +
      "Authentication-Results: mx.example.com; in the body stays\r\n",
  );
  const untouched = bytes("From: a@b\r\n\r\nbody\r\n");
  assert.equal(removeFields(untouched, "Authentication-Results", ours), untouched, "no copy");
});

Deno.test("removeFields() with several names decides per field, told the name it matched", () => {
  const m = bytes(
    "X-Postino-Spam: no; score=0.001\r\nFrom: a@b\r\n" +
      "x-postino-spam: yes\r\nAuthentication-Results: other.example; spf=pass\r\n\r\nbody\r\n",
  );
  const seen: string[] = [];
  const out = removeFields(m, ["Authentication-Results", "X-Postino-Spam"], (value, name) => {
    seen.push(`${name}=${value}`);
    return name === "X-Postino-Spam";
  });
  assert.equal(
    text(out),
    "From: a@b\r\nAuthentication-Results: other.example; spf=pass\r\n\r\nbody\r\n",
  );
  assert.deepEqual(seen, [
    "X-Postino-Spam=no; score=0.001",
    "X-Postino-Spam=yes",
    "Authentication-Results=other.example; spf=pass",
  ]);
});
