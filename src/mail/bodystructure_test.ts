import assert from "node:assert/strict";
import { imapParams, renderBodyStructure } from "./bodystructure.ts";
import { MAX_NESTING, parseMime } from "./mime.ts";
import {
  answer,
  dovecotAnswers,
  fixture,
  fixtureNames,
  FIXTURES,
  parseOne,
  plain,
  type Sexp,
  toCrlf,
} from "../../tests/support/mime_sexp.ts";
import { expectedCaseEnvelope, ITEM_DEVIATIONS } from "../../tests/support/mime_deviations.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

function render(message: string | Uint8Array, extensible = true): string {
  const m = typeof message === "string" ? bytes(message) : message;
  return renderBodyStructure(parseMime(m), m, extensible);
}

Deno.test("renderBodyStructure() follows RFC 9051 §9 field order", () => {
  const table: [string, string, string, string][] = [
    // [name, message, BODYSTRUCTURE, BODY]
    [
      "a message without Content-Type is text/plain; charset=us-ascii",
      "Subject: x\r\n\r\nHello\r\n",
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1 NIL NIL NIL NIL)',
      '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 7 1)',
    ],
    [
      "body-type-basic with every extension field",
      'Content-Type: Application/PDF; Name="a.pdf"\r\nContent-ID: <i@x>\r\n' +
      "Content-Description: Gr\u00fc\u00dfe\r\nContent-Transfer-Encoding: Base64\r\n" +
      "Content-MD5: bWQ1\r\nContent-Disposition: attachment; filename*0*=utf-8''%E2%82%AC;" +
      " filename*1=.pdf\r\nContent-Language: de-CH\r\nContent-Location: http://x/a.pdf\r\n\r\nJVBE",
      '("application" "pdf" ("name" "a.pdf") "<i@x>" {7}\r\nGr\u00fc\u00dfe "base64" 4 "bWQ1" ' +
      `("attachment" ("filename*" "utf-8''%E2%82%AC.pdf")) ("de-CH") "http://x/a.pdf")`,
      '("application" "pdf" ("name" "a.pdf") "<i@x>" {7}\r\nGr\u00fc\u00dfe "base64" 4)',
    ],
    [
      "body-type-text keeps its own charset and gets lines",
      "Content-Type: text/html; charset=utf-8\r\nContent-Disposition: inline\r\n\r\n<p>\r\n</p>",
      '("text" "html" ("charset" "utf-8") NIL NIL "7bit" 9 1 NIL ("inline" NIL) NIL NIL)',
      '("text" "html" ("charset" "utf-8") NIL NIL "7bit" 9 1)',
    ],
    [
      "body-type-msg has envelope, body and lines",
      "Content-Type: message/rfc822\r\n\r\nSubject: hi\r\nFrom: a@x\r\n\r\nbody\r\n",
      '("message" "rfc822" NIL NIL NIL "7bit" 32 (NIL "hi" ((NIL NIL "a" "x")) ((NIL NIL "a" "x"))' +
      ' ((NIL NIL "a" "x")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL ' +
      '"7bit" 6 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)',
      '("message" "rfc822" NIL NIL NIL "7bit" 32 (NIL "hi" ((NIL NIL "a" "x")) ((NIL NIL "a" "x"))' +
      ' ((NIL NIL "a" "x")) NIL NIL NIL NIL NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL ' +
      '"7bit" 6 1) 4)',
    ],
    [
      "body-type-mpart with body-ext-mpart",
      "Content-Type: multipart/alternative; boundary=b\r\nContent-Language: en\r\n\r\n" +
      "--b\r\n\r\nplain\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b--\r\n",
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0 NIL NIL NIL NIL)' +
      '("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL) "alternative" ' +
      '("boundary" "b") NIL ("en") NIL)',
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 5 0)' +
      '("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 11 0) "alternative")',
    ],
    [
      "a multipart without parts shows one empty text/plain part",
      "Content-Type: multipart/mixed\r\n\r\nno boundary\r\n",
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL) "mixed" ' +
      "NIL NIL NIL NIL)",
      '(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")',
    ],
  ];
  for (const [name, message, structure, body] of table) {
    assert.equal(render(message, true), structure, name);
    assert.equal(render(message, false), body, name);
    parseOne(structure);
  }
});

Deno.test("renderBodyStructure() shows a part left closed by the nesting cap as application/octet-stream", () => {
  // Boundaries of equal length: none may be a prefix of another (they match as prefixes).
  const b = (i: number) => `n${String(i).padStart(3, "0")}`;
  let message = "";
  for (let i = 0; i < MAX_NESTING; i++) {
    message += `Content-Type: multipart/mixed; boundary="${b(i)}"\r\n\r\n--${b(i)}\r\n`;
  }
  const rendered = render(message + "\r\nx\r\n", false);
  const innermost = new RegExp(
    `^\\({${MAX_NESTING - 1}}\\("application" "octet-stream" \\("boundary" "${
      b(MAX_NESTING - 1)
    }"\\) NIL NIL "7bit" \\d+\\)`,
  );
  assert.match(rendered, innermost);
});

Deno.test("imapParams() joins RFC 2231 continuations as Dovecot does", () => {
  const table: [[string, string][], [string, string][]][] = [
    [[["charset", "utf-8"], ["format", "flowed"]], [["charset", "utf-8"], ["format", "flowed"]]],
    [[["name*", "utf-8''%E2%82%AC"]], [["name*", "utf-8''%E2%82%AC"]]],
    [[["title*0", "Hello "], ["title*1", "World"]], [["title", "Hello World"]]],
    // Plain parameters first, then the joined ones; unencoded segments escaped once extended.
    [[["f*1", "50%"], ["size", "1"], ["f*0*", "utf-8''%C3%A9"]], [
      ["size", "1"],
      ["f*", "utf-8''%C3%A950%25"],
    ]],
    [[["t*0", "a"], ["t*1*", "%21"]], [["t*", "''a%21"]]],
    // A gap in the numbering leaves the segments as they are.
    [[["n*0", "a"], ["n*2*", "c"]], [["n*0", "a"], ["n*2*", "c"]]],
    [[["odd*x", "v"]], [["odd*x", "v"]]],
  ];
  for (const [raw, want] of table) {
    assert.deepEqual(imapParams(raw.map(([name, value]) => ({ name, value }))), want);
  }
});

/** Lower-cases what is case-insensitive in a body structure: types, parameter names, encodings. */
function normalise(body: unknown, dropOctets = false): unknown {
  const lower = (v: unknown) => (typeof v === "string" ? v.toLowerCase() : v);
  const keys = (p: unknown) => Array.isArray(p) ? p.map((v, i) => (i % 2 === 0 ? lower(v) : v)) : p;
  const dsp = (d: unknown) => (Array.isArray(d) ? [lower(d[0]), keys(d[1])] : d);
  const b = body as unknown[];
  if (Array.isArray(b[0])) {
    const out: unknown[] = [];
    let i = 0;
    while (Array.isArray(b[i])) out.push(normalise(b[i++], dropOctets));
    out.push(lower(b[i++]));
    if (i < b.length) out.push(keys(b[i++]));
    if (i < b.length) out.push(dsp(b[i++]));
    return [...out, ...b.slice(i)];
  }
  const out = [...b];
  out[0] = lower(out[0]);
  out[1] = lower(out[1]);
  out[2] = keys(out[2]);
  out[5] = lower(out[5]);
  if (dropOctets) out[6] = "octets";
  let ext = 7;
  if (out[0] === "message" && Array.isArray(out[7]) && Array.isArray(out[8])) {
    out[8] = normalise(out[8], dropOctets);
    ext = 10;
  } else if (out[0] === "text") ext = 8;
  if (out.length > ext + 1) out[ext + 1] = dsp(out[ext + 1]);
  return out;
}

/** Dovecot's answer for `item`, or our documented answer where we differ on purpose. */
function expected(name: string, item: "BODYSTRUCTURE" | "BODY"): unknown {
  const deviation = ITEM_DEVIATIONS[name]?.[item];
  if (deviation?.expected !== undefined) return plain(parseOne(deviation.expected));
  const dovecot = answer(dovecotAnswers(FIXTURES, name), item) as Sexp[];
  const body = plain(dovecot) as unknown[];
  if (name === "envelope_cases") {
    // One message/rfc822 part per address case: our From where documented.
    dovecot.forEach((part, i) => {
      if (!Array.isArray(part)) return;
      const n = /^address case (\d+)$/.exec(plain(part[4]) as string)?.[1];
      if (n) (body[i] as unknown[])[7] = expectedCaseEnvelope(Number(n), part[7] as Sexp[]);
    });
  }
  return body;
}

for (const name of fixtureNames()) {
  for (const item of ["BODYSTRUCTURE", "BODY"] as const) {
    Deno.test(`renderBodyStructure() agrees with Dovecot's ${item}: fixture ${name}`, () => {
      // Dovecot serves a bare-LF message as CRLF and counts sizes so (see mime_deviations.ts).
      const message = name === "bare_lf" ? toCrlf(fixture(name)) : fixture(name);
      const ours = plain(parseOne(render(message, item === "BODYSTRUCTURE")));
      assert.deepEqual(normalise(ours), normalise(expected(name, item)));
    });
  }
}

Deno.test("renderBodyStructure() sees the same structure in a bare-LF message, with its own sizes", () => {
  const lf = fixture("bare_lf");
  const crlf = toCrlf(lf);
  assert.notEqual(lf.length, crlf.length);
  const ours = normalise(plain(parseOne(render(lf))), true);
  assert.deepEqual(ours, normalise(plain(parseOne(render(crlf))), true));
  assert.match(render(lf), /"7bit" 17 1 /, "text part: the 17 stored octets, not 18");
});
