import assert from "node:assert/strict";
import {
  type ByteRange,
  decodeParams,
  MAX_NESTING,
  MAX_PARTS,
  type MimePart,
  parseContentDisposition,
  parseContentType,
  parseMime,
  splitHeader,
} from "./mime.ts";
import { fixture, fixtureNames } from "../../tests/support/mime_sexp.ts";
import { random } from "../../tests/support/random.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A part as plain data: type, header and body text, children. */
interface Tree {
  type: string;
  header: string;
  body: string;
  parts?: Tree[];
  message?: Tree;
  truncated?: true;
}

function tree(message: Uint8Array, part: MimePart): Tree {
  const out: Tree = {
    type: `${part.contentType.type}/${part.contentType.subtype}`,
    header: text(message.subarray(part.header.start, part.header.end)),
    body: text(message.subarray(part.body.start, part.body.end)),
  };
  if (part.parts) out.parts = part.parts.map((p) => tree(message, p));
  if (part.message) out.message = tree(message, part.message);
  if (part.truncated) out.truncated = true;
  return out;
}

const parse = (message: string) => tree(bytes(message), parseMime(bytes(message)));

/** The promises of mime.ts about ranges, checked over a whole tree. */
function checkInvariants(message: Uint8Array, part: MimePart, within: ByteRange, path = "root") {
  const inRange = (r: ByteRange, what: string) => {
    assert.ok(
      Number.isInteger(r.start) && Number.isInteger(r.end) && r.start <= r.end,
      `${path} ${what} is a range`,
    );
    assert.ok(r.start >= within.start && r.end <= within.end, `${path} ${what} is inside`);
  };
  inRange(part.header, "header");
  inRange(part.body, "body");
  assert.equal(part.body.start, part.header.end, `${path} body follows the header`);
  assert.equal(part.octets, part.body.end - part.body.start, `${path} octets`);
  const lfs = message.subarray(part.body.start, part.body.end).filter((b) => b === 0x0a).length;
  assert.equal(part.lines, lfs, `${path} lines`);
  let previous = part.body.start;
  part.parts?.forEach((child, i) => {
    assert.ok(child.header.start >= previous, `${path}.${i + 1} follows its sibling`);
    checkInvariants(message, child, part.body, `${path}.${i + 1}`);
    previous = child.body.end;
  });
  if (part.message) {
    assert.equal(part.message.header.start, part.body.start, `${path} message starts the body`);
    // It ends with the body, or (a header cut short by a boundary) leaves it the line break.
    assert.ok(part.body.end - part.message.body.end <= 2, `${path} message ends with the body`);
    checkInvariants(message, part.message, part.body, `${path}.message`);
  }
}

const STRUCTURES: [string, string, Tree][] = [
  ["a plain CRLF message", "Subject: x\r\n\r\nHello\r\n", {
    type: "text/plain",
    header: "Subject: x\r\n\r\n",
    body: "Hello\r\n",
  }],
  ["bare LF line ends", "Subject: x\n\nHello\n", {
    type: "text/plain",
    header: "Subject: x\n\n",
    body: "Hello\n",
  }],
  ["a header without blank line", "Subject: x\r\nFrom: a@b\r\n", {
    type: "text/plain",
    header: "Subject: x\r\nFrom: a@b\r\n",
    body: "",
  }],
  ["an empty message", "", { type: "text/plain", header: "", body: "" }],
  ["an empty header", "\r\nbody", { type: "text/plain", header: "\r\n", body: "body" }],
  [
    "a multipart: preamble and epilogue ignored, the CRLF before a boundary belongs to it",
    "Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\n\r\none\r\n" +
    "--b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n\r\n--b--\r\nepilogue\r\n",
    {
      type: "multipart/mixed",
      header: "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
      body:
        "preamble\r\n--b\r\n\r\none\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>two</p>\r\n\r\n" +
        "--b--\r\nepilogue\r\n",
      parts: [
        { type: "text/plain", header: "\r\n", body: "one" },
        { type: "text/html", header: "Content-Type: text/html\r\n\r\n", body: "<p>two</p>\r\n" },
      ],
    },
  ],
  [
    "a missing close delimiter: the last part runs to the end",
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n",
    {
      type: "multipart/mixed",
      header: "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
      body: "--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n",
      parts: [
        { type: "text/plain", header: "\r\n", body: "one" },
        { type: "text/plain", header: "\r\n", body: "two\r\n" },
      ],
    },
  ],
  [
    "a boundary never found: no parts",
    "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--b\r\n\r\none\r\n",
    {
      type: "multipart/mixed",
      header: "Content-Type: multipart/mixed; boundary=zz\r\n\r\n",
      body: "--b\r\n\r\none\r\n",
      parts: [],
    },
  ],
  [
    "no boundary parameter: no parts",
    "Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\none\r\n",
    {
      type: "multipart/mixed",
      header: "Content-Type: multipart/mixed\r\n\r\n",
      body: "--b\r\n\r\none\r\n",
      parts: [],
    },
  ],
  [
    "a boundary matches as a line prefix (Dovecot), padding and trailing text allowed",
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b  \r\n\r\none\r\n--bX\r\n\r\ntwo\r\n" +
    "--b--junk\r\n",
    {
      type: "multipart/mixed",
      header: "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
      body: "--b  \r\n\r\none\r\n--bX\r\n\r\ntwo\r\n--b--junk\r\n",
      parts: [
        { type: "text/plain", header: "\r\n", body: "one" },
        { type: "text/plain", header: "\r\n", body: "two" },
      ],
    },
  ],
  [
    "the longest matching boundary wins, an outer one closes the inner multipart",
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
    "Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n\r\ninner\r\n--b\r\n\r\nouter\r\n--b--\r\n",
    {
      type: "multipart/mixed",
      header: "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
      body: "--b\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n\r\ninner\r\n" +
        "--b\r\n\r\nouter\r\n--b--\r\n",
      parts: [
        {
          type: "multipart/alternative",
          header: "Content-Type: multipart/alternative; boundary=b2\r\n\r\n",
          body: "--b2\r\n\r\ninner",
          parts: [{ type: "text/plain", header: "\r\n", body: "inner" }],
        },
        { type: "text/plain", header: "\r\n", body: "outer" },
      ],
    },
  ],
  [
    "the same boundary reused inside: the innermost owns it until its close delimiter",
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n" +
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n--b--\r\n",
    {
      type: "multipart/mixed",
      header: "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
      body:
        "--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n--b--\r\n",
      parts: [{
        type: "multipart/mixed",
        header: "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
        // The close delimiter keeps its line break when no epilogue follows (Dovecot).
        body: "--b\r\n\r\nx\r\n--b--\r\n",
        parts: [{ type: "text/plain", header: "\r\n", body: "x" }],
      }],
    },
  ],
  [
    "a MIME header cut short by a boundary keeps no line break",
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n--b--\r\n",
    {
      type: "multipart/mixed",
      header: "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
      body: "--b\r\nContent-Type: text/html\r\n--b--\r\n",
      parts: [{ type: "text/html", header: "Content-Type: text/html", body: "" }],
    },
  ],
  [
    "a boundary right after the blank line takes that line (Dovecot)",
    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n--b--\r\n",
    {
      type: "multipart/mixed",
      header: "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
      body: "--b\r\nContent-Type: text/html\r\n\r\n--b--\r\n",
      parts: [{ type: "text/html", header: "Content-Type: text/html\r\n", body: "" }],
    },
  ],
  [
    "multipart/digest: parts without Content-Type are messages",
    "Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n" +
    "--d\r\nContent-Type: text/plain\r\n\r\nnote\r\n--d--\r\n",
    {
      type: "multipart/digest",
      header: "Content-Type: multipart/digest; boundary=d\r\n\r\n",
      body:
        "--d\r\n\r\nSubject: one\r\n\r\nbody one\r\n--d\r\nContent-Type: text/plain\r\n\r\nnote\r\n" +
        "--d--\r\n",
      parts: [
        {
          type: "message/rfc822",
          header: "\r\n",
          body: "Subject: one\r\n\r\nbody one",
          message: { type: "text/plain", header: "Subject: one\r\n\r\n", body: "body one" },
        },
        { type: "text/plain", header: "Content-Type: text/plain\r\n\r\n", body: "note" },
      ],
    },
  ],
  [
    "message/rfc822 and message/global enclose a message",
    "Content-Type: message/global\r\n\r\nSubject: inner\r\nContent-Type: text/html\r\n\r\n<p>x</p>",
    {
      type: "message/global",
      header: "Content-Type: message/global\r\n\r\n",
      body: "Subject: inner\r\nContent-Type: text/html\r\n\r\n<p>x</p>",
      message: {
        type: "text/html",
        header: "Subject: inner\r\nContent-Type: text/html\r\n\r\n",
        body: "<p>x</p>",
      },
    },
  ],
  [
    "an unparseable Content-Type means text/plain (RFC 2045 §5.2)",
    "Content-Type: text\r\n\r\nx",
    { type: "text/plain", header: "Content-Type: text\r\n\r\n", body: "x" },
  ],
];

for (const [name, message, want] of STRUCTURES) {
  Deno.test(`parseMime() structure: ${name}`, () => {
    assert.deepEqual(parse(message), want);
    checkInvariants(bytes(message), parseMime(bytes(message)), { start: 0, end: message.length });
  });
}

Deno.test("parseMime() reads the Content-* fields, the first of each kind", () => {
  const part = parseMime(bytes(
    'MIME-Version: 1.0\r\nContent-Type: Image/PNG; Name="a b.png"\r\n' +
      "Content-Type: text/plain\r\nContent-Transfer-Encoding: BASE64 (why)\r\n" +
      "Content-ID:  <id@x>\r\nContent-Description: A  picture\r\nContent-MD5: abc=\r\n" +
      "Content-Disposition: Attachment; filename*=utf-8''%E2%82%AC.png\r\n" +
      "Content-Language: en-GB, (comment) de\r\nContent-Location: http://x/\r\n  y\r\n\r\niVBO\r\n",
  ));
  assert.equal(part.contentType.type, "image");
  assert.equal(part.contentType.subtype, "png");
  assert.deepEqual(part.contentType.rawParams, [{ name: "name", value: "a b.png" }]);
  assert.deepEqual([...part.contentType.params], [["name", "a b.png"]]);
  assert.equal(part.encoding, "base64");
  assert.equal(part.id, "<id@x>");
  assert.equal(part.description, "A  picture");
  assert.equal(part.md5, "abc=");
  assert.equal(part.disposition?.type, "attachment");
  assert.equal(part.disposition?.params.get("filename"), "\u20ac.png");
  assert.deepEqual(part.language, ["en-GB", "de"]);
  assert.equal(part.location, "http://x/  y");
  assert.equal(part.octets, 6);
  assert.equal(part.lines, 1);
});

Deno.test("parseMime() applies the defaults of RFC 2045", () => {
  const table: [string, string, string, string][] = [
    // [message, type, charset, encoding]
    ["Subject: x\r\n\r\nbody", "text/plain", "us-ascii", "7bit"],
    ["Content-Type: text/html\r\n\r\nbody", "text/html", "", "7bit"],
    ["Content-Type: /html; charset=utf-8\r\n\r\nbody", "text/plain", "us-ascii", "7bit"],
    [
      "Content-Transfer-Encoding: base64 junk\r\nMIME-Version: 1.0\r\n\r\n",
      "text/plain",
      "us-ascii",
      "7bit",
    ],
    // RFC 2045 §4: without MIME-Version (or Content-Type) the Content-* fields do not count.
    ["Content-Transfer-Encoding: 8bit\r\n\r\nbody", "text/plain", "us-ascii", "7bit"],
    [
      "MIME-Version: 1.0\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
      "text/plain",
      "us-ascii",
      "8bit",
    ],
  ];
  for (const [message, type, charset, encoding] of table) {
    const part = parseMime(bytes(message));
    const got = `${part.contentType.type}/${part.contentType.subtype}`;
    assert.equal(got, type, message);
    assert.equal(part.contentType.params.get("charset") ?? "", charset, message);
    assert.equal(part.encoding, encoding, message);
  }
});

Deno.test("parseContentType() reads type, subtype and parameters", () => {
  const table: [string, [string, string, [string, string][]] | undefined][] = [
    ["text/plain", ["text", "plain", []]],
    ["TEXT/Plain; CHARSET=UTF-8", ["text", "plain", [["charset", "UTF-8"]]]],
    ['text/plain (c) ; charset = "utf-8" (c2); format=flowed', [
      "text",
      "plain",
      [["charset", "utf-8"], ["format", "flowed"]],
    ]],
    ['multipart/mixed; boundary="a;b \\"c\\""', ["multipart", "mixed", [[
      "boundary",
      'a;b "c"',
    ]]]],
    ["text/plain;", ["text", "plain", []]],
    ["text/plain; ; x=1; junk; y=2", ["text", "plain", [["x", "1"], ["y", "2"]]]],
    ['text/plain; empty=""; bare=', ["text", "plain", [["empty", ""]]]],
    ["text/plain; name=Gr\u00fc\u00dfe.txt", ["text", "plain", [["name", "Gr\u00fc\u00dfe.txt"]]]],
    ["text/plain; a=1; a=2", ["text", "plain", [["a", "1"], ["a", "2"]]]],
    ["text", undefined],
    ["/plain", undefined],
    ["text/", undefined],
    ["te xt/plain", undefined],
    ["multipart/\u00e9", undefined],
    ["", undefined],
  ];
  for (const [value, want] of table) {
    const got = parseContentType(value);
    assert.deepEqual(
      got && [got.type, got.subtype, got.rawParams.map((p) => [p.name, p.value])],
      want,
      value,
    );
  }
});

Deno.test("decodeParams() joins RFC 2231 continuations and decodes charsets", () => {
  const table: [[string, string][], [string, string][]][] = [
    // RFC 2231 §3
    [[["url*0", "ftp://"], ["url*1", "cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar"]], [[
      "url",
      "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar",
    ]]],
    // RFC 2231 §4
    [[["title*", "us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A"]], [[
      "title",
      "This is ***fun***",
    ]]],
    // RFC 2231 §5
    [[
      ["title*0*", "us-ascii'en'This%20is%20even%20more%20"],
      ["title*1*", "%2A%2A%2Afun%2A%2A%2A%20"],
      ["title*2", "isn't it!"],
    ], [["title", "This is even more ***fun*** isn't it!"]]],
    [[["filename*", "iso-8859-1''caf%E9.txt"]], [["filename", "caf\u00e9.txt"]]],
    [[["filename*", "UTF-8''%E2%82%AC"]], [["filename", "\u20ac"]]],
    [[["name*1", "b"], ["name*0", "a"]], [["name", "ab"]]],
    [[["f", "plain.txt"], ["f*", "utf-8''better.txt"]], [["f", "better.txt"]]],
    [[["a", "1"], ["a", "2"]], [["a", "1"]]],
    [[["x*", "no-such-charset''%41%zz"]], [["x", "A%zz"]]],
    [[["x*", "%41"]], [["x", "A"]]],
  ];
  for (const [raw, want] of table) {
    const got = decodeParams(raw.map(([name, value]) => ({ name, value })));
    assert.deepEqual([...got], want, JSON.stringify(raw));
  }
});

Deno.test("parseContentDisposition() reads the type and its parameters", () => {
  const table: [string, [string, [string, string][]] | undefined][] = [
    ["attachment", ["attachment", []]],
    ['Inline; filename="a.txt"', ["inline", [["filename", "a.txt"]]]],
    ["; filename=x.txt", ["", [["filename", "x.txt"]]]],
    ["   ", undefined],
  ];
  for (const [value, want] of table) {
    const got = parseContentDisposition(value);
    assert.deepEqual(got && [got.type, [...got.params]], want, value);
  }
});

Deno.test("splitHeader() unfolds values and keeps each field's bytes", () => {
  const header = bytes(
    "Subject: one\r\n two\r\n\tthree\r\nX-Empty:\r\nX-Spaces:   \r\nno colon here\r\n" +
      "Name :  value  \nTo:\r\n a@b\r\nX-Fold:  \r\n x\r\n\r\nBody: not a field\r\n",
  );
  const fields = splitHeader(header, { start: 0, end: header.length });
  assert.deepEqual(fields.map((f) => [f.name, f.value, f.colon]), [
    ["Subject", "one two\tthree", true],
    ["X-Empty", "", true],
    ["X-Spaces", "  ", true],
    ["no colon here", "", false],
    ["Name", "value  ", true],
    ["To", " a@b", true],
    ["X-Fold", "  x", true],
  ]);
  assert.equal(
    text(header.subarray(fields[0].start, fields[0].end)),
    "Subject: one\r\n two\r\n\tthree\r\n",
  );
  assert.equal(text(header.subarray(fields[4].start, fields[4].end)), "Name :  value  \n");
});

function nested(depth: number, kind: "multipart" | "message"): Uint8Array {
  let message = "Subject: deep\r\n";
  for (let i = 0; i < depth; i++) {
    message += kind === "multipart"
      ? `Content-Type: multipart/mixed; boundary="b${String(i).padStart(4, "0")}"\r\n\r\n` +
        `--b${String(i).padStart(4, "0")}\r\n`
      : "Content-Type: message/rfc822\r\n\r\nSubject: level\r\n";
  }
  return bytes(message + "\r\ninnermost\r\n");
}

function depthOf(part: MimePart): number {
  const child = part.parts?.[0] ?? part.message;
  return child ? 1 + depthOf(child) : 0;
}

function deepest(part: MimePart): MimePart {
  const child = part.parts?.[0] ?? part.message;
  return child ? deepest(child) : part;
}

Deno.test("parseMime() stops opening parts at MAX_NESTING levels", () => {
  for (const kind of ["multipart", "message"] as const) {
    const message = nested(MAX_NESTING + 50, kind);
    const root = parseMime(message);
    assert.equal(depthOf(root), MAX_NESTING - 1, kind);
    const last = deepest(root);
    assert.equal(last.truncated, true, kind);
    assert.equal(last.body.end, message.length, kind);
    checkInvariants(message, root, { start: 0, end: message.length });
  }
});

Deno.test("parseMime() creates at most MAX_PARTS parts", () => {
  const count = MAX_PARTS + 100;
  const message = bytes(
    "Content-Type: multipart/mixed; boundary=x\r\n\r\n" + "--x\r\n\r\np\r\n".repeat(count) +
      "--x--\r\n",
  );
  const root = parseMime(message);
  assert.equal(root.parts?.length, MAX_PARTS - 1);
  assert.equal(root.body.end, message.length);
  checkInvariants(message, root, { start: 0, end: message.length });
});

Deno.test("parseMime() counts octets and lines of the body", () => {
  const table: [string, number, number][] = [
    ["\r\nno newline at the end", 21, 0],
    ["\r\none\r\ntwo\r\n", 10, 2],
    ["\none\ntwo", 7, 1],
    ["Subject: x\r\n", 0, 0],
  ];
  for (const [message, octets, lines] of table) {
    const part = parseMime(bytes(message));
    assert.deepEqual([part.octets, part.lines], [octets, lines], JSON.stringify(message));
  }
});

for (const name of fixtureNames()) {
  Deno.test(`parseMime() keeps its range invariants: fixture ${name}`, () => {
    const message = fixture(name);
    checkInvariants(message, parseMime(message), { start: 0, end: message.length });
  });
}

Deno.test("parseMime() never throws and keeps its invariants on garbage", () => {
  const rnd = random(7);
  const alphabet = bytes('-\r\n:; ="()<>@boundary=Content-Type: multipart/mixed message/rfc822\t');
  const sources = fixtureNames().map(fixture);
  for (let round = 0; round < 1500; round++) {
    let message: Uint8Array;
    if (round % 3 === 0) {
      // Random bytes, biased towards the characters MIME cares about.
      message = new Uint8Array(Math.floor(rnd() * 400));
      for (let i = 0; i < message.length; i++) {
        message[i] = rnd() < 0.7
          ? alphabet[Math.floor(rnd() * alphabet.length)]
          : Math.floor(rnd() * 256);
      }
    } else {
      // A fixture with some bytes changed, cut short, or spliced.
      const source = sources[Math.floor(rnd() * sources.length)];
      message = source.slice(0, Math.floor(rnd() * (source.length + 1)));
      for (let n = Math.floor(rnd() * 8); n > 0; n--) {
        message[Math.floor(rnd() * message.length)] = alphabet[Math.floor(rnd() * alphabet.length)];
      }
    }
    const root = parseMime(message);
    try {
      checkInvariants(message, root, { start: 0, end: message.length });
    } catch (e) {
      throw new Error(`round ${round}: ${JSON.stringify(text(message))}`, { cause: e });
    }
  }
});
