import assert from "node:assert/strict";
import { decodeMutf7, encodeMutf7 } from "./mutf7.ts";

/** [decoded, encoded]: both directions must agree. */
const pairs: [string, string][] = [
  ["", ""],
  ["INBOX", "INBOX"],
  ["Sent Items", "Sent Items"],
  ["a/b.c~d", "a/b.c~d"],
  ["&", "&-"],
  ["Tom & Jerry", "Tom &- Jerry"],
  ["&&", "&-&-"],
  // RFC 3501 §5.1.3 example.
  ["~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"],
  ["Entwürfe", "Entw&APw-rfe"],
  ["Gelöschte Elemente", "Gel&APY-schte Elemente"],
  ["Черновики", "&BCcENQRABD0EPgQyBDgEOgQ4-"],
  ["äöü", "&AOQA9gD8-"],
  ["ä&ö", "&AOQ-&-&APY-"],
  ["😀", "&2D3eAA-"],
  ["x😀y", "x&2D3eAA-y"],
  ["tab\there", "tab&AAk-here"],
  ["€", "&IKw-"],
  ["\u007f", "&AH8-"],
];

Deno.test("encodeMutf7() encodes names as RFC 3501 §5.1.3 says", () => {
  for (const [decoded, encoded] of pairs) {
    assert.equal(encodeMutf7(decoded), encoded, JSON.stringify(decoded));
  }
});

Deno.test("decodeMutf7() decodes what encodeMutf7() produces", () => {
  for (const [decoded, encoded] of pairs) {
    assert.equal(decodeMutf7(encoded), decoded, encoded);
  }
});

Deno.test("decodeMutf7() rejects malformed and non-canonical input", () => {
  const table: [string, RegExp][] = [
    ["&", /unterminated "&"/],
    ["abc&AOQ", /unterminated "&"/],
    ["&A-", /truncated base64/],
    ["&AOQA9-", /truncated base64/],
    ["&AOQA-", /odd number of bytes/],
    ["&AOR-", /non-zero padding bits/],
    ["&AA-", /odd number of bytes/],
    ["&AOQ=-", /bad base64 character/],
    ["&AO/Q-", /bad base64 character/],
    ["&AOQ -", /bad base64 character/],
    // Printable ASCII must stand for itself: "&AEE-" would be "A".
    ["&AEE-", /printable ASCII/],
    ["&ACY-", /printable ASCII/],
    // Two runs in a row must be one.
    ["&AOQ-&APY-", /adjacent encoded runs/],
    // Lone surrogates.
    ["&2D0-", /lone surrogate/],
    ["&3gA-", /lone surrogate/],
    ["&2D3YPQ-", /lone surrogate/],
    // Raw non-ASCII and control characters are not modified UTF-7.
    ["Entwürfe", /character 0xfc/],
    ["a\tb", /character 0x9/],
    ["\u007f", /character 0x7f/],
  ];
  for (const [input, want] of table) {
    assert.throws(() => decodeMutf7(input), want, JSON.stringify(input));
  }
});

Deno.test("encodeMutf7() rejects a lone surrogate", () => {
  assert.throws(() => encodeMutf7("a\ud800b"), /lone surrogate/);
  assert.throws(() => encodeMutf7("\udc00"), /lone surrogate/);
});

Deno.test("decodeMutf7() round-trips every BMP character outside printable ASCII", () => {
  let all = "";
  for (let code = 0x80; code < 0x10000; code++) {
    if (code < 0xd800 || code > 0xdfff) all += String.fromCharCode(code);
  }
  assert.equal(decodeMutf7(encodeMutf7(all)), all);
});
