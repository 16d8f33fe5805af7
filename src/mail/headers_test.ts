import assert from "node:assert/strict";
import { hasHeader, headerSection, headerValue } from "./headers.ts";

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
