import assert from "node:assert/strict";
import { domainToASCII } from "node:url";
import {
  ComposeError,
  type ComposeInput,
  composeMessage,
  type Mailbox,
  MAX_ATTACHMENTS,
  MAX_SUBJECT_LENGTH,
  parseMailbox,
} from "./compose.ts";
import { decodeEncodedWords } from "./encoded_words.ts";
import { headerSection } from "./headers.ts";
import { type MimePart, parseContentDisposition, parseMime, splitHeader } from "./mime.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A message with everything but what a case sets. */
function input(patch: Partial<ComposeInput> = {}): ComposeInput {
  return {
    from: { name: "Alice", address: "alice@example.com" },
    to: [{ address: "bob@example.org" }],
    subject: "Hello",
    text: "Hi Bob\n",
    date: new Date(Date.UTC(2026, 10, 29, 3, 33, 29)),
    messageId: "abc.123@mail.example.com",
    ...patch,
  };
}

/** Bytes that look like nothing in particular, every value included. */
function binary(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = i < 256 ? i : x >>> 24;
  }
  return out;
}

// The oracle: Python's email package, which nobody here wrote, reads what we write.

const READER = `
import base64, email, email.policy, json, sys
data = open(sys.argv[1], "rb").read()
msg = email.message_from_bytes(data, policy=email.policy.default)
legacy = email.message_from_bytes(data)  # compat32, the package's default

def mailboxes(name):
    h = msg[name]
    if h is None:
        return None
    return [{"name": a.display_name, "address": a.addr_spec} for a in h.addresses]

header_defects, parts = [], []
for part in msg.walk():
    for k, v in part.items():
        header_defects += [f"{k}: {d!r}" for d in v.defects]
    entry = {"type": part.get_content_type(), "defects": [repr(d) for d in part.defects]}
    if not part.is_multipart():
        entry["filename"] = part.get_filename()
        if part.get_content_disposition() == "attachment":
            entry["content"] = base64.b64encode(part.get_payload(decode=True)).decode()
        else:
            entry["text"] = part.get_content()
    parts.append(entry)
print(json.dumps({
    "fields": list(msg.keys()),
    "values": {k: str(v) for k, v in msg.items()},
    "from": mailboxes("from"),
    "to": mailboxes("to"),
    "cc": mailboxes("cc"),
    "subject": msg["subject"],
    "parts": parts,
    "headerDefects": header_defects,
    "legacyFilenames": [p.get_filename() for p in legacy.walk() if not p.is_multipart()],
}))
`;

/** What {@link READER} prints. */
interface Reading {
  fields: string[];
  values: Record<string, string>;
  from: Mailbox[];
  to: Mailbox[];
  cc: Mailbox[] | null;
  subject: string;
  parts: {
    type: string;
    defects: string[];
    filename?: string | null;
    text?: string;
    content?: string;
  }[];
  headerDefects: string[];
  legacyFilenames: (string | null)[];
}

async function python(message: Uint8Array): Promise<Reading> {
  const path = await Deno.makeTempFile({ suffix: ".eml" });
  try {
    await Deno.writeFile(path, message);
    const { code, stdout, stderr } = await new Deno.Command("python3", {
      args: ["-c", READER, path],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, `python3 could not read the message: ${text(stderr)}`);
    return JSON.parse(text(stdout));
  } finally {
    await Deno.remove(path);
  }
}

/** The syntax promises, checked on the bytes: ASCII, CRLF, line lengths, encoded-word lengths. */
function checkSyntax(message: Uint8Array): void {
  assert.ok(message.every((b) => b < 0x80), "7-bit ASCII");
  const all = text(message);
  assert.ok(all.endsWith("\r\n"), "ends with CRLF");
  assert.doesNotMatch(all, /\r(?!\n)|(?<!\r)\n/, "no bare CR or LF");
  const header = text(headerSection(message));
  assert.doesNotMatch(header, /^bcc[ \t]*:/im, "no Bcc");
  header.split("\r\n").forEach(checkHeaderLine);
  for (const word of header.match(/=\?[^?\s]*\?[BbQq]\?[^?\s]*\?=/g) ?? []) {
    assert.ok(word.length <= 75, `encoded-word within 75: ${word}`);
  }
  for (const line of all.slice(header.length).split("\r\n")) {
    // Part headers as header lines; 7bit, quoted-printable and base64 lines within 76.
    if (/^[A-Za-z-]+:|^[ \t]/.test(line)) checkHeaderLine(line);
    else assert.ok(line.length <= 76, `body line within 76: ${line.slice(0, 40)}...`);
  }
}

/** At most 998, and over 78 only when folding cannot help: one word after the name or the fold. */
function checkHeaderLine(line: string): void {
  assert.ok(line.length <= 998, `header line within 998: ${line.slice(0, 40)}...`);
  if (line.length <= 78) return;
  const rest = /^[ \t]/.test(line) ? line.trimStart() : line.slice(line.indexOf(":") + 1).trim();
  assert.doesNotMatch(rest, /[ \t]/, `a foldable header line over 78: ${line}`);
}

const crlfToLf = (s: string) => s.replace(/\r\n?/g, "\n");
/** The text a body part carries: line ends as LF, ending with one. */
const bodyText = (s: string) => {
  const lf = crlfToLf(s);
  return lf.endsWith("\n") ? lf : `${lf}\n`;
};
const inHeader = (box: Mailbox) => {
  const at = box.address.lastIndexOf("@");
  const domain = box.address.slice(at + 1);
  return `${box.address.slice(0, at + 1)}${
    /^[ -~]*$/.test(domain) ? domain : domainToASCII(domain)
  }`;
};
const expectBoxes = (boxes: Mailbox[]) =>
  boxes.map((b) => ({ name: b.name?.trim() ?? "", address: inHeader(b) }));

/** The content types Python's walk() should meet, depth first. */
function expectedTypes(i: ComposeInput): string[] {
  const body = [i.text ? "text/plain" : "", i.html ? "text/html" : ""].filter((t) => t !== "");
  const tree = body.length === 2 ? ["multipart/alternative", ...body] : body;
  const attachments = (i.attachments ?? []).map((a) => a.contentType.toLowerCase());
  if (attachments.length === 0) return tree.length > 0 ? tree : ["text/plain"];
  return ["multipart/mixed", ...tree, ...attachments];
}

/** Text of many scripts, odd spacing and every kind of line end, the same on every run. */
function jumble(length: number, seed: number): string {
  const pieces = [
    "From ",
    "=",
    " ",
    "\t",
    "\r\n",
    "\n",
    "\r",
    ".",
    "a",
    "word ",
    "é",
    "日本",
    "🎉",
    "=_",
    "x".repeat(90),
  ];
  let x = seed;
  let out = "";
  while (out.length < length) {
    x = (x * 1103515245 + 12345) >>> 0;
    out += pieces[(x >>> 16) % pieces.length];
  }
  return out;
}

const LONG_REFERENCES = Array.from(
  { length: 12 },
  (_, i) => `<thread.${i}.x7f3a9@mail.example.net>`,
)
  .join(" ");

const ORACLE: [string, ComposeInput][] = [
  ["an ASCII text message", input()],
  [
    "a Japanese subject, names and text",
    input({
      from: { name: "山田 太郎", address: "taro@example.jp" },
      to: [{ name: "佐藤 花子", address: "hanako@example.jp" }, { address: "ops@example.jp" }],
      subject: "来週の会議について（確認のお願い）",
      text: "佐藤さん\n\n来週の会議は火曜日の午後三時からです。\nよろしくお願いします。\n",
    }),
  ],
  [
    "emoji, flags and a family in the subject and a name",
    input({
      from: { name: "Party 🎉 Bot 👨‍👩‍👧‍👦", address: "bot@example.com" },
      subject: "🎉🇯🇵🇫🇷 Release 2.0 👨‍👩‍👧‍👦 is out — café naïve Ωμέγα 🏳️‍🌈",
    }),
  ],
  [
    "a long ASCII subject and a 300-character word",
    input({
      subject: "Quarterly report for the operations team, covering incidents, capacity planning " +
        "and the migration schedule for next year " + "x".repeat(300) + " and the end",
    }),
  ],
  ["a subject of 998 characters without a space", input({ subject: "y".repeat(998) })],
  [
    "a subject mixing encoded, plain and encoded-looking words with odd spacing",
    input({
      subject: "Re: 日本  and\t中国 =?utf-8?B?Zm9v?= test 日本 中国 done",
    }),
  ],
  [
    "long lines, trailing white space, From, =_ and mixed line ends",
    input({
      text: "a".repeat(1000) + "\r\nFrom the start\rtrailing space \ntrailing tab\t\n" +
        ".\n..dots\nboundary-like --=_abc\n" + "é".repeat(100) + "\nno final line break",
    }),
  ],
  [
    "a jumble of scripts, spacing and line ends in text and HTML",
    input({
      text: jumble(5000, 7),
      html: jumble(5000, 8),
    }),
  ],
  ["control characters and NUL in the text", input({ text: "bell\x07 nul\x00 esc\x1b del\x7f\n" })],
  [
    "an HTML body only",
    input({
      text: undefined,
      html: '<!doctype html><html><body><p style="color: red">Grüße aus Köln, ' +
        "this paragraph is long enough to need soft line breaks in quoted-printable</p></body></html>",
    }),
  ],
  [
    "text and HTML as alternatives",
    input({
      text: "Plain version\n",
      html: "<p>HTML <b>version</b> — ünïcödé</p>\n",
    }),
  ],
  [
    "attachments with binary content and non-ASCII names",
    input({
      text: "See attached.\n",
      html: "<p>See attached.</p>",
      attachments: [
        { filename: "photo.png", contentType: "image/png", content: binary(5000, 1) },
        {
          filename:
            "Grüße 日本語の報告書はとても長いファイル名になっていますのでご注意ください.pdf",
          contentType: "application/pdf",
          content: binary(1234, 2),
        },
        { filename: 'my "quoted" file.txt', contentType: "text/plain", content: binary(10, 3) },
        {
          filename: "A rather long ASCII file name with spaces that will not fit on one line.docx",
          contentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
          content: binary(300, 5),
        },
        {
          filename: "empty.bin",
          contentType: "Application/Octet-Stream",
          content: new Uint8Array(),
        },
        {
          filename: "😀.csv",
          contentType: "text/csv",
          content: new TextEncoder().encode("a,b\n1,2\n"),
        },
      ],
    }),
  ],
  [
    "attachments without a body",
    input({
      text: undefined,
      attachments: [{
        filename: "данные.zip",
        contentType: "application/zip",
        content: binary(77, 4),
      }],
    }),
  ],
  [
    "extra headers, quoted names, an IDN, Cc and many recipients",
    input({
      from: { name: "Smith, Alice", address: "alice@bücher.example" },
      to: Array.from(
        { length: 20 },
        (_, i) => ({ name: `User ${i}`, address: `user${i}@example.com` }),
      ),
      cc: [
        { name: 'He said "hi" \\ back', address: "q@example.com" },
        { name: "O'Brien (Jr.)", address: "ob@example.com" },
        {
          name: "A long display name, with a comma, that has to fold inside its quotes",
          address: "l@example.com",
        },
        { name: "=?utf-8?B?Zm9v?=", address: "literal@example.com" },
        {
          // ASCII words stay plain, so no encoded-word ends inside one (gh-128110).
          name:
            "Ünïcödé Ñame With Many Words That Goes On And On Beyond Seventy Five Characters Ünïcödé",
          address: "long@example.com",
        },
      ],
      headers: {
        "Reply-To": 'Jörg Müller <joerg@example.com>, "Support, Team" <support@example.com>',
        "In-Reply-To": "<thread.11.x7f3a9@mail.example.net>",
        "References": LONG_REFERENCES,
        "List-Unsubscribe": "<mailto:unsub@example.com?subject=unsubscribe>",
        "X-Mailer": "Postino test — ünïcödé édition with enough words to fold the line somewhere",
        "X-Long": "word ".repeat(40).trim(),
      },
    }),
  ],
  ["nothing but headers, to undisclosed recipients", input({ to: [], text: undefined })],
];

for (const [name, i] of ORACLE) {
  Deno.test(`composeMessage() writes what Python's email reads back: ${name}`, async () => {
    const message = composeMessage(i);
    checkSyntax(message);
    const r = await python(message);
    const extra = Object.keys(i.headers ?? {});
    const cc = i.cc?.length ? ["Cc"] : [];
    const cte = expectedTypes(i)[0].startsWith("multipart/") ? [] : ["Content-Transfer-Encoding"];
    assert.deepEqual(r.fields, [
      ...["Date", "From", "To", ...cc, "Subject", "Message-ID", ...extra, "MIME-Version"],
      ...["Content-Type", ...cte],
    ]);
    assert.equal(r.subject, i.subject);
    assert.deepEqual(r.from, expectBoxes([i.from]));
    assert.deepEqual(r.to, expectBoxes(i.to));
    assert.deepEqual(r.cc, i.cc?.length ? expectBoxes(i.cc) : null);
    for (const [name, value] of Object.entries(i.headers ?? {})) {
      if (name.startsWith("X-") || name === "References") assert.equal(r.values[name], value);
    }
    assert.deepEqual(r.parts.map((p) => p.type), expectedTypes(i));
    assert.deepEqual(r.parts.flatMap((p) => p.defects), [], "no defects in any part");
    assert.deepEqual(r.headerDefects, [], "no defects in any header field");
    const leaves = r.parts.filter((p) => !p.type.startsWith("multipart/"));
    const texts = leaves.filter((p) => p.text !== undefined).map((p) => crlfToLf(p.text!));
    const bodies = [i.text, i.html].filter((t) => t).map((t) => bodyText(t!));
    assert.deepEqual(texts, bodies.length > 0 || i.attachments?.length ? bodies : [""]);
    const attached = leaves.filter((p) => p.content !== undefined);
    const want = i.attachments ?? [];
    assert.deepEqual(attached.map((p) => p.filename), want.map((a) => a.filename));
    assert.deepEqual(
      attached.map((p) => p.content),
      want.map((a) => btoa(String.fromCharCode(...a.content))),
    );
    assert.deepEqual(
      r.legacyFilenames.filter((f) => f !== null),
      want.map((a) => a.filename),
      "compat32 names the files too",
    );
  });
}

/** The leaves of a parsed message, depth first. */
function leavesOf(part: MimePart): MimePart[] {
  return part.parts ? part.parts.flatMap(leavesOf) : [part];
}

Deno.test("composeMessage() output reads back with our own parseMime()", () => {
  for (const [name, i] of ORACLE) {
    const message = composeMessage(i);
    const leaves = leavesOf(parseMime(message));
    const names = leaves.flatMap((leaf) => {
      const field = splitHeader(message, leaf.header).find((f) =>
        /^content-disposition$/i.test(f.name)
      );
      const filename = field && parseContentDisposition(field.value)?.params.get("filename");
      return filename ? [filename] : [];
    });
    assert.deepEqual(names, (i.attachments ?? []).map((a) => a.filename), name);
  }
});

// Exact output where it is deterministic

Deno.test("composeMessage() writes an ASCII text message as expected", () => {
  const message = composeMessage(input({
    to: [{ address: "bob@example.org" }, { name: "Carol Jones", address: "carol@example.net" }],
    headers: { "X-Tag": "one" },
  }));
  assert.equal(
    text(message),
    "Date: Sun, 29 Nov 2026 03:33:29 +0000\r\n" +
      "From: Alice <alice@example.com>\r\n" +
      "To: bob@example.org, Carol Jones <carol@example.net>\r\n" +
      "Subject: Hello\r\n" +
      "Message-ID: <abc.123@mail.example.com>\r\n" +
      "X-Tag: one\r\n" +
      "MIME-Version: 1.0\r\n" +
      "Content-Type: text/plain; charset=utf-8\r\n" +
      "Content-Transfer-Encoding: 7bit\r\n" +
      "\r\n" +
      "Hi Bob\r\n",
  );
});

const ENCODINGS: [string, Partial<ComposeInput>, RegExp][] = [
  [
    "folds a long subject",
    { subject: "word ".repeat(30).trim() },
    /^Subject: word(?: word)*\r\n word/m,
  ],
  [
    "encodes a non-ASCII subject word",
    { subject: "Grüße" },
    /^Subject: =\?utf-8\?[BQ]\?[^?]+\?=\r\n/m,
  ],
  [
    "keeps ASCII words of a subject readable",
    { subject: "Re: Grüße" },
    /^Subject: Re: =\?utf-8\?/m,
  ],
  ["quotes a display name with specials", {
    from: { name: "Smith, Alice", address: "a@example.com" },
  }, /^From: "Smith, Alice" <a@example.com>\r\n/m],
  ["escapes quotes and backslashes in a display name", {
    from: { name: 'a "b" \\c', address: "a@example.com" },
  }, /^From: "a \\"b\\" \\\\c" <a@example.com>\r\n/m],
  ["writes an IDN domain as A-labels", {
    from: { address: "x@bücher.example" },
  }, /^From: x@xn--bcher-kva\.example\r\n/m],
  ["leaves Cc out when empty", { cc: [] }, /^To: bob@example\.org\r\nSubject/m],
  ["says who when only Bcc receives", { to: [] }, /^To: undisclosed-recipients:;\r\n/m],
  [
    "writes 7bit for short ASCII lines",
    { text: "short\n" },
    /Transfer-Encoding: 7bit\r\n\r\nshort\r\n$/,
  ],
  ["adds the missing final line break", { text: "no end" }, /\r\n\r\nno end\r\n$/],
  ["escapes From at a line start", { text: "x\nFrom me\n" }, /\r\n\r\nx\r\n=46rom me\r\n$/],
  ["escapes From after a soft break", {
    text: `${"a".repeat(75)}From x`,
  }, /\r\n\r\na{75}=\r\n=46rom x\r\n$/],
  ["keeps a UTF-8 sequence on one line", {
    text: `${"a".repeat(70)}日`,
  }, /\r\n\r\na{70}=\r\n=E6=97=A5\r\n$/],
  ["keeps =XX on one line", {
    text: `${"a".repeat(74)}=b${"c".repeat(10)}`,
  }, /\r\n\r\na{74}=\r\n=3Dbc{10}\r\n$/],
  ["encodes trailing white space", { text: "end \n" }, /\r\n\r\nend=20\r\n$/],
  [
    "encodes a text holding the boundary prefix",
    { text: "a=_b\n" },
    /quoted-printable\r\n\r\na=3D_b\r\n$/,
  ],
  ["soft-breaks a long line", { text: "z".repeat(100) }, /\r\n\r\nz{75}=\r\nz{25}\r\n$/],
  [
    "writes an empty body with neither text nor HTML",
    { text: "" },
    /text\/plain; charset=utf-8\r\n.*\r\n\r\n$/,
  ],
  ["writes an ASCII filename plainly", {
    attachments: [{
      filename: "report 2026.pdf",
      contentType: "application/pdf",
      content: binary(3, 0),
    }],
  }, /name="report 2026\.pdf"\r\nContent-Disposition: attachment; filename="report 2026\.pdf"\r\n/],
  [
    "writes a non-ASCII filename with RFC 2231 and an ASCII stand-in",
    {
      attachments: [{ filename: "Grüße.txt", contentType: "text/plain", content: binary(3, 0) }],
    },
    /name="Gru_e\.txt"\r\nContent-Disposition: attachment; filename\*=utf-8''Gr%C3%BC%C3%9Fe\.txt\r\n/,
  ],
  ["cuts the ASCII stand-in of a long filename to fit a line", {
    attachments: [{
      filename: `${"ä".repeat(100)}.txt`,
      contentType: "text/plain",
      content: binary(3, 0),
    }],
  }, /;\r\n name="a{66}\.txt"\r\n/],
  ["names a file of only non-Latin letters attachment", {
    attachments: [{
      filename: "日本語.pdf",
      contentType: "application/pdf",
      content: binary(3, 0),
    }],
  }, /; name="attachment\.pdf"\r\n/],
  ["trims white space around a filename", {
    attachments: [{ filename: "  a.txt ", contentType: "text/plain", content: binary(3, 0) }],
  }, /filename="a\.txt"\r\n/],
];

for (const [name, patch, want] of ENCODINGS) {
  Deno.test(`composeMessage() ${name}`, () => {
    const message = composeMessage(input(patch));
    checkSyntax(message);
    assert.match(text(message), want);
  });
}

Deno.test("composeMessage() keeps each encoded-word within 75 and whole code points", () => {
  for (const subject of ["日".repeat(200), "é".repeat(300), "👨‍👩‍👧‍👦".repeat(40), "a日".repeat(150)]) {
    const header = text(headerSection(composeMessage(input({ subject }))));
    const field = header.match(/^Subject:.*(?:\r\n[ \t].*)*/m)![0];
    assert.equal(decodeEncodedWords(field.replace(/\r\n/g, "").slice("Subject: ".length)), subject);
    for (const word of field.match(/=\?[^?]*\?B\?([^?]*)\?=/g) ?? []) {
      assert.ok(word.length <= 75, word);
      const payload = word.split("?")[3];
      const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
      assert.doesNotThrow(() => new TextDecoder("utf-8", { fatal: true }).decode(bytes), word);
    }
  }
});

Deno.test("composeMessage() picks a new boundary each time, starting with =_", () => {
  const i = input({ html: "<p>x</p>" });
  const boundaries = [composeMessage(i), composeMessage(i)].map((m) =>
    /boundary="([^"]+)"/.exec(text(m))![1]
  );
  assert.notEqual(boundaries[0], boundaries[1]);
  for (const b of boundaries) assert.match(b, /^=_[0-9a-f]{32}$/);
});

// parseMailbox()

const MAILBOXES: [string, Mailbox][] = [
  ["alice@example.com", { address: "alice@example.com" }],
  ["  alice@example.com  ", { address: "alice@example.com" }],
  ["<alice@example.com>", { address: "alice@example.com" }],
  ["Alice Smith <alice@example.com>", { name: "Alice Smith", address: "alice@example.com" }],
  ['"Smith, Alice" <alice@example.com>', { name: "Smith, Alice", address: "alice@example.com" }],
  ['"a \\"b\\" c" <x@example.com>', { name: 'a "b" c', address: "x@example.com" }],
  ["John Q. Public <jqp@example.com>", { name: "John Q. Public", address: "jqp@example.com" }],
  ["Alice   Smith   < alice@example.com >", { name: "Alice Smith", address: "alice@example.com" }],
  ["山田 太郎 <taro@例え.jp>", { name: "山田 太郎", address: "taro@例え.jp" }],
  ['"" <a@example.com>', { address: "a@example.com" }],
  ["first.last+tag@Sub.Example.COM", { address: "first.last+tag@Sub.Example.COM" }],
  ["user@localhost", { address: "user@localhost" }],
];

for (const [given, want] of MAILBOXES) {
  Deno.test(`parseMailbox() reads ${JSON.stringify(given)}`, () => {
    assert.deepEqual(parseMailbox(given, "from"), want);
  });
}

const BAD_MAILBOXES: [string, string][] = [
  ["", "empty"],
  ["alice", "no @"],
  ["@example.com", "no local part"],
  ["alice@", "no domain"],
  ["a@b.com, c@d.com", "two addresses"],
  ["Smith, Alice <alice@example.com>", "an unquoted comma"],
  ["Alice <a@example.com> <b@example.com>", "two angle-addrs"],
  ['"Alice <alice@example.com>', "an unterminated quote"],
  ["Alice alice@example.com>", "a > without <"],
  ["jörg@example.com", "a non-ASCII local part"],
  ['"john doe"@example.com', "a quoted local part"],
  ["a@[192.0.2.1]", "a domain literal"],
  ["a..b@example.com", "two dots"],
  ["a@example.com.", "a trailing dot"],
  ["a@exa mple.com", "a space in the domain"],
  ["a@under_score.com", "an underscore in the domain"],
  ["alice@example.com (Alice)", "a comment"],
  ["Alice\r\nBcc: x@example.com <alice@example.com>", "a line break"],
  ["Alice\0 <alice@example.com>", "NUL"],
  [`${"l".repeat(65)}@example.com`, "a local part of 65"],
  [`Bad \ud800 <a@example.com>`, "a lone surrogate"],
  [`${"n".repeat(300)} <a@example.com>`, "a name of 300"],
];

for (const [given, what] of BAD_MAILBOXES) {
  Deno.test(`parseMailbox() refuses ${what}`, () => {
    assert.throws(
      () => parseMailbox(given, "to[3]"),
      (err) => err instanceof ComposeError && err.field === "to[3]" && err.message !== "",
    );
  });
}

// composeMessage() refusals

const file = (patch: object) => ({
  attachments: [{ filename: "a.txt", contentType: "text/plain", content: binary(3, 0), ...patch }],
});

const REFUSALS: [string, Partial<ComposeInput>, string][] = [
  ["an invalid From address", { from: { address: "nobody" } }, "from"],
  ["a To address with a line break", {
    to: [{ address: "a@example.com" }, { address: "b@example.com\r\nBcc: c@example.com" }],
  }, "to[1]"],
  ["a Cc display name with a line break", {
    cc: [{ name: "x\nBcc: y", address: "c@example.com" }],
  }, "cc[0]"],
  ["a subject with a line break", { subject: "hi\r\nBcc: x@example.com" }, "subject"],
  ["a subject over the limit", { subject: "s".repeat(MAX_SUBJECT_LENGTH + 1) }, "subject"],
  ["an invalid date", { date: new Date(NaN) }, "date"],
  ["a Message-ID with brackets", { messageId: "<a@b>" }, "messageId"],
  ["a Message-ID without @", { messageId: "abc" }, "messageId"],
  ["a text with a lone surrogate", { text: "a\udc00b" }, "text"],
  ["an empty filename", file({ filename: "  " }), "attachments[0].filename"],
  ["a filename with a slash", file({ filename: "../etc/passwd" }), "attachments[0].filename"],
  ["a filename with a backslash", file({ filename: "C:\\x.exe" }), "attachments[0].filename"],
  ["a filename with a control", file({ filename: "a\tb.txt" }), "attachments[0].filename"],
  ["a filename with a line break", file({ filename: "a\r\nb.txt" }), "attachments[0].filename"],
  ["a filename with a C1 control", file({ filename: "a\u0085b.txt" }), "attachments[0].filename"],
  [
    "a filename with a bidi override",
    file({ filename: "invoice\u202efdp.exe" }),
    "attachments[0].filename",
  ],
  ["a filename of ..", file({ filename: ".." }), "attachments[0].filename"],
  [
    "a filename over 255 octets",
    file({ filename: `${"é".repeat(128)}.txt` }),
    "attachments[0].filename",
  ],
  ["content that is not bytes", file({ content: "aGk=" }), "attachments[0].content"],
  ["too many attachments", {
    attachments: Array.from({ length: MAX_ATTACHMENTS + 1 }, () => file({}).attachments[0]),
  }, "attachments"],
];

for (
  const type of [
    "",
    "text",
    "text/",
    "/plain",
    "text/plain; charset=utf-8",
    "text /plain",
    "text/pl ain",
    "image/png\r\nX-Evil: 1",
    "a/b/c",
    "täxt/plain",
    "multipart/mixed",
    "message/rfc822",
    `application/${"x".repeat(128)}`,
  ]
) {
  REFUSALS.push([
    `the content type ${JSON.stringify(type)}`,
    file({ contentType: type }),
    "attachments[0].contentType",
  ]);
}

for (const [name, patch, field] of REFUSALS) {
  Deno.test(`composeMessage() refuses ${name}`, () => {
    assert.throws(
      () => composeMessage(input(patch)),
      (err) => err instanceof ComposeError && err.field === field && err.message !== "",
    );
  });
}

const OWNED = [
  "From",
  "to",
  "CC",
  "Bcc",
  "Subject",
  "Date",
  "Message-ID",
  "message-id",
  "MIME-Version",
  "Content-Type",
  "Content-Transfer-Encoding",
  "content-disposition",
  "Content-Language",
  "Return-Path",
  "Received",
  "DKIM-Signature",
  "Authentication-Results",
  "ARC-Seal",
  "ARC-Message-Signature",
  "arc-authentication-results",
];

for (const name of OWNED) {
  Deno.test(`composeMessage() refuses the extra header ${name}`, () => {
    assert.throws(
      () => composeMessage(input({ headers: { [name]: "x" } })),
      (err) => err instanceof ComposeError && err.field === `headers.${name}`,
    );
  });
}

const BAD_HEADERS: [string, Record<string, string>, string][] = [
  ["a name with a colon", { "X-A:B": "x" }, "headers.X-A:B"],
  ["a name with a space", { "X A": "x" }, "headers.X A"],
  ["a non-ASCII name", { "X-Grüße": "x" }, "headers.X-Grüße"],
  ["an empty name", { "": "x" }, "headers."],
  ["a value with CR LF", { "X-A": "x\r\nBcc: y@example.com" }, "headers.X-A"],
  ["a value with a bare LF", { "X-A": "x\ny" }, "headers.X-A"],
  ["a value with NUL", { "X-A": "x\0" }, "headers.X-A"],
  ["an empty value", { "X-A": "  " }, "headers.X-A"],
  ["a name given twice", { "X-A": "1", "x-a": "2" }, "headers.x-a"],
  ["an ASCII word too long for a line", { "X-A": "w".repeat(1000) }, "headers.X-A"],
  ["a Reply-To that is no address", { "Reply-To": "not an address" }, "headers.Reply-To"],
  ["a Sender of two mailboxes", { "Sender": "a@example.com, b@example.com" }, "headers.Sender"],
];

for (const [name, headers, field] of BAD_HEADERS) {
  Deno.test(`composeMessage() refuses an extra header with ${name}`, () => {
    assert.throws(
      () => composeMessage(input({ headers })),
      (err) => err instanceof ComposeError && err.field === field,
    );
  });
}
