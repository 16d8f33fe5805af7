import assert from "node:assert/strict";
import {
  buildMessageMeta,
  headerFields,
  type MessageMeta,
  type SectionPath,
  sectionRange,
} from "./message_meta.ts";
import {
  dovecotAnswers,
  fixture,
  fixtureNames,
  FIXTURES,
  parseOne,
  sectionOf,
  toCrlf,
} from "../../tests/support/mime_sexp.ts";
import { ITEM_DEVIATIONS } from "../../tests/support/mime_deviations.ts";

/** A section with the field names HEADER.FIELDS takes, as the IMAP parser gives it. */
type Section = SectionPath & { fields?: string[] };

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** What FETCH BODY[section] sends for `section`: a slice, filtered for HEADER.FIELDS. */
function fetchSection(message: Uint8Array, meta: MessageMeta, section: Section): Uint8Array {
  const range = sectionRange(meta, section);
  if (!range) return new Uint8Array();
  const slice = message.subarray(range.start, range.end);
  if (section.text === "HEADER.FIELDS" || section.text === "HEADER.FIELDS.NOT") {
    return headerFields(slice, section.fields ?? [], section.text === "HEADER.FIELDS.NOT");
  }
  return slice;
}

const NESTED_HEADER =
  "From: a@x.test\r\nSubject: nested\r\nContent-Type: multipart/mixed; boundary=o\r\n\r\n";
const NESTED = NESTED_HEADER + "preamble\r\n--o\r\nContent-Type: text/plain\r\n\r\none\r\n" +
  "--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n" +
  "Content-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\nalt one\r\n" +
  "--i\r\nContent-Type: text/html\r\n\r\n<p>alt two</p>\r\n--i--\r\n" +
  "--o\r\nContent-Type: message/rfc822\r\n\r\nSubject: single\r\n\r\nsingle body\r\n" +
  "--o--\r\n";

Deno.test("sectionRange() follows the section rules of RFC 9051 §6.4.5", () => {
  const message = bytes(NESTED);
  const meta = buildMessageMeta(message);
  const header = NESTED_HEADER;
  const table: [Section, string | undefined][] = [
    [{ part: [] }, NESTED],
    [{ part: [], text: "HEADER" }, header],
    [{ part: [], text: "TEXT" }, NESTED.slice(header.length)],
    [{ part: [], text: "MIME" }, undefined],
    [{ part: [1] }, "one"],
    [{ part: [1], text: "MIME" }, "Content-Type: text/plain\r\n\r\n"],
    [{ part: [1, 1] }, "one"],
    [{ part: [1, 2] }, undefined],
    [{ part: [1], text: "HEADER" }, undefined],
    [{ part: [1], text: "TEXT" }, undefined],
    [{ part: [2], text: "MIME" }, "Content-Type: message/rfc822\r\n\r\n"],
    [
      { part: [2], text: "HEADER" },
      "Subject: inner\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n",
    ],
    // The close delimiter keeps its line break when no epilogue follows (as in Dovecot).
    [
      { part: [2], text: "TEXT" },
      "--i\r\n\r\nalt one\r\n--i\r\nContent-Type: text/html\r\n\r\n<p>alt two</p>\r\n--i--\r\n",
    ],
    [{ part: [2, 1] }, "alt one"],
    [{ part: [2, 2] }, "<p>alt two</p>"],
    [{ part: [2, 2], text: "MIME" }, "Content-Type: text/html\r\n\r\n"],
    [{ part: [2, 3] }, undefined],
    [{ part: [3] }, "Subject: single\r\n\r\nsingle body"],
    [{ part: [3, 1] }, "single body"],
    [{ part: [3, 1], text: "MIME" }, "Subject: single\r\n\r\n"],
    [{ part: [3, 1, 1] }, undefined],
    [{ part: [3, 2] }, undefined],
    [{ part: [4] }, undefined],
    [{ part: [0] }, undefined],
    [{ part: [1.5] }, undefined],
  ];
  for (const [section, want] of table) {
    const range = sectionRange(meta, section);
    const got = range && text(message.subarray(range.start, range.end));
    assert.equal(got, want, JSON.stringify(section));
  }
});

Deno.test("sectionRange() numbers a single-part message's body as part 1", () => {
  const message = bytes("Subject: x\r\n\r\nbody\r\n");
  const meta = buildMessageMeta(message);
  const slice = (s: Section) => {
    const r = sectionRange(meta, s);
    return r && text(message.subarray(r.start, r.end));
  };
  assert.equal(slice({ part: [1] }), "body\r\n");
  assert.equal(slice({ part: [1], text: "MIME" }), "Subject: x\r\n\r\n");
  assert.equal(slice({ part: [1, 1] }), undefined);
  assert.equal(slice({ part: [2] }), undefined);
});

Deno.test("headerFields() keeps matching fields in order and the blank line", () => {
  const header = "Subject: hi\r\nReceived: one\r\n two\r\nFROM: a@x\r\nreceived: three\r\n" +
    "X-Spam : no\r\nno colon\r\n\r\n";
  const table: [string, string[], boolean, string][] = [
    [header, ["FROM", "SUBJECT"], false, "Subject: hi\r\nFROM: a@x\r\n\r\n"],
    [header, ["RECEIVED"], false, "Received: one\r\n two\r\nreceived: three\r\n\r\n"],
    [header, ["RECEIVED", "X-SPAM"], true, "Subject: hi\r\nFROM: a@x\r\nno colon\r\n\r\n"],
    [header, ["X-SPAM"], false, "X-Spam : no\r\n\r\n"],
    [header, ["NOT-THERE"], false, "\r\n"],
    ["A: 1\nB: 2\n\n", ["B"], false, "B: 2\n\n"],
    ["A: 1\r\nB: 2", ["B", "A"], false, "A: 1\r\nB: 2\r\n\r\n"],
    ["", ["A"], true, "\r\n"],
  ];
  for (const [input, fields, not, want] of table) {
    assert.equal(text(headerFields(bytes(input), fields, not)), want, `${fields} not=${not}`);
  }
});

Deno.test("headerFields() with every field is the header itself", () => {
  const header = bytes("A: 1\r\nB: 2\r\n folded\r\n\r\n");
  assert.deepEqual(headerFields(header, [], true), header);
});

Deno.test("buildMessageMeta() is plain JSON", () => {
  const meta = buildMessageMeta(bytes(NESTED));
  assert.deepEqual(JSON.parse(JSON.stringify(meta)), meta);
  assert.deepEqual(Object.keys(meta), ["v", "envelope", "bodystructure", "body", "parts"]);
  assert.equal(meta.v, 1);
  assert.deepEqual(meta.parts.h, [0, NESTED_HEADER.length]);
  assert.deepEqual(meta.parts.b, [NESTED_HEADER.length, NESTED.length]);
  assert.equal(meta.parts.c?.length, 3);
  assert.ok(meta.parts.c?.[1].m?.c, "message/rfc822 part: the message inside, its parts");
  for (const rendered of [meta.envelope, meta.bodystructure, meta.body]) parseOne(rendered);
});

/** Dovecot's bytes, or our documented answer. */
function expectedSection(
  name: string,
  request: string,
  answers: ReturnType<typeof dovecotAnswers>,
): Uint8Array {
  const deviation = ITEM_DEVIATIONS[name]?.[request];
  const find = (r: string) => answers.find((a) => a.request === r)?.value;
  let value = find(request);
  if (deviation?.sameAs) value = find(deviation.sameAs);
  if (deviation?.empty) value = new Uint8Array();
  if (deviation?.text !== undefined) value = bytes(deviation.text);
  if (value === null) return new Uint8Array();
  if (!(value instanceof Uint8Array)) throw new Error(`${request}: not a string`);
  return value;
}

for (const name of fixtureNames()) {
  Deno.test(`sectionRange() slices what Dovecot sends for every section: fixture ${name}`, () => {
    const message = fixture(name);
    const meta = buildMessageMeta(message);
    const answers = dovecotAnswers(FIXTURES, name);
    let compared = 0;
    for (const a of answers) {
      if (!a.request.startsWith("BODY.PEEK[")) continue;
      let ours = fetchSection(message, meta, sectionOf(a.request));
      // Dovecot sends bare LF as CRLF and NUL as 0x80 (see mime_deviations.ts).
      if (name === "bare_lf") ours = toCrlf(ours);
      ours = ours.map((b) => (b === 0 ? 0x80 : b));
      assert.deepEqual(ours, expectedSection(name, a.request, answers), a.request);
      compared++;
    }
    assert.ok(compared >= 10, `only ${compared} sections compared`);
  });
}

Deno.test("buildMessageMeta() gives valid renderings and in-bounds ranges for mangled fixtures", () => {
  let seed = 11;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const sources = fixtureNames().map(fixture);
  for (let round = 0; round < 300; round++) {
    const source = sources[Math.floor(rnd() * sources.length)];
    const message = source.slice(0, Math.floor(rnd() * (source.length + 1)));
    for (let n = Math.floor(rnd() * 6); n > 0; n--) {
      message[Math.floor(rnd() * message.length)] = '-\r\n:;"(<'[Math.floor(rnd() * 8)]
        .charCodeAt(0);
    }
    const meta = buildMessageMeta(message);
    for (const rendered of [meta.envelope, meta.bodystructure, meta.body]) parseOne(rendered);
    for (let k = 0; k < 20; k++) {
      const part = Array.from({ length: Math.floor(rnd() * 4) }, () => 1 + Math.floor(rnd() * 3));
      const texts = [undefined, "MIME", "HEADER", "TEXT"] as const;
      const range = sectionRange(meta, { part, text: texts[Math.floor(rnd() * 4)] });
      if (range) {
        assert.ok(0 <= range.start && range.start <= range.end && range.end <= message.length);
      }
    }
  }
});
