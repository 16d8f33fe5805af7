import assert from "node:assert/strict";
import {
  bodySize,
  brokenReason,
  duplicateKey as key,
  hasDotLines,
  headerDate,
  toCrlf,
} from "./import_message.ts";
import { buildMessageMeta } from "./message_meta.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const b = (s: string) => encoder.encode(s);

Deno.test("brokenReason() passes messages and finds what is none", async (t) => {
  const good = [
    "",
    "\r\n",
    "\r\nbody after an empty header\r\n",
    "Subject: a\r\n\r\nbody\r\n",
    "Subject: headers only\r\n",
    "Subject: folded\r\n  on two lines\r\nX-A: b\r\n\r\n",
    "Subject : obsolete space before the colon\r\n\r\n",
    ">From old@mbox Thu Dec  3 09:05:57 2026\r\nSubject: a\r\n\r\n",
    "Subject: a\n\nLF only\n",
    "Subject: a\r\n\r\nNUL in the body \u0000 is kept\r\n",
    "Subject: cut off in the hea",
  ];
  for (const m of good) {
    await t.step(`a message: ${JSON.stringify(m.slice(0, 40))}`, () => {
      assert.equal(brokenReason(b(m)), undefined);
    });
  }
  const bad: [string, RegExp][] = [
    ["just some text\r\nwithout a header\r\n", /line 1 is neither/],
    ["Subject: a\r\nthen text without the empty line\r\n\r\n", /line 2 is neither/],
    ["\u0000".repeat(4096), /NUL/],
    ["Subject: a\u0000b\r\n\r\n", /NUL byte in header line 1/],
    [" starts folded\r\n\r\n", /white space/],
    ["From a@b Thu Dec  3 09:05:57 2026\r\nSubject: a\r\n\r\n", /line 1 is neither/],
    [": no name\r\n\r\n", /line 1 is neither/],
  ];
  for (const [m, reason] of bad) {
    await t.step(`not a message: ${JSON.stringify(m.slice(0, 40))}`, () => {
      assert.match(brokenReason(b(m)) ?? "(passed)", reason);
    });
  }
});

Deno.test("toCrlf() makes bare LFs CRLF and leaves CRLF and lone CR", () => {
  const cases: [string, string][] = [
    ["", ""],
    ["a\nb\n", "a\r\nb\r\n"],
    ["a\r\nb\r\n", "a\r\nb\r\n"],
    ["\n\n", "\r\n\r\n"],
    ["mixed\r\nlf\nlone\rcr", "mixed\r\nlf\r\nlone\rcr"],
    ["no end", "no end"],
  ];
  for (const [input, want] of cases) assert.equal(decoder.decode(toCrlf(b(input))), want);
  const same = b("a\r\n");
  assert.equal(toCrlf(same), same);
});

Deno.test("hasDotLines() finds a line that starts with a dot", () => {
  assert.equal(hasDotLines(b(".x\r\n")), true);
  assert.equal(hasDotLines(b("a\r\n.\r\n")), true);
  assert.equal(hasDotLines(b("a.b\r\n c.\r\n")), false);
  assert.equal(hasDotLines(b("")), false);
});

Deno.test("duplicateKey(): Message-ID and body; bookkeeping in the header does not matter", async () => {
  const duplicateKey = async (m: Uint8Array) => btoa(String.fromCharCode(...await key(m)));
  const a = b("Message-ID: <1@x>\r\nSubject: a\r\n\r\nbody\r\n");
  const withStatus = b("Message-ID: <1@x>\r\nSubject: a\r\nX-UID: 5\r\n\r\nbody\r\n");
  const otherBody = b("Message-ID: <1@x>\r\nSubject: a\r\n\r\nanother body\r\n");
  const otherId = b("Message-ID: <2@x>\r\nSubject: a\r\n\r\nbody\r\n");
  assert.equal(await duplicateKey(a), await duplicateKey(withStatus));
  assert.notEqual(await duplicateKey(a), await duplicateKey(otherBody));
  assert.notEqual(await duplicateKey(a), await duplicateKey(otherId));
  // Without Message-ID the whole message counts.
  const plain = b("Subject: a\r\n\r\nbody\r\n");
  assert.equal(await duplicateKey(plain), await duplicateKey(b("Subject: a\r\n\r\nbody\r\n")));
  assert.notEqual(await duplicateKey(plain), await duplicateKey(b("Subject: b\r\n\r\nbody\r\n")));
});

Deno.test("bodySize() agrees with the body range of the stored FETCH metadata", () => {
  for (
    const m of [
      "",
      "\r\n",
      "\r\nbody\r\n",
      "A: b\r\n",
      "A: b",
      "A: b\r\n\r\n",
      "A: b\r\n\r\nx\r\n",
      "A: b\n\nx\n",
      "A: b\r\n \r\n\r\nx",
      "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\nx\r\n--z--\r\n",
    ]
  ) {
    const bytes = b(m);
    const { b: [start, end] } = buildMessageMeta(bytes).parts;
    assert.equal(bodySize(bytes), end - start, JSON.stringify(m));
  }
});

Deno.test("headerDate() reads the Date field", () => {
  assert.equal(
    headerDate(b("Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\n"))?.toISOString(),
    "2026-03-02T09:00:00.000Z",
  );
  assert.equal(headerDate(b("Subject: none\r\n\r\n")), undefined);
});
