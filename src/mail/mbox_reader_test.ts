import assert from "node:assert/strict";
import { mboxrdEntry } from "./mbox.ts";
import { type MboxMessage, parseFromLine, parseRfc5322Date, readMbox } from "./mbox_reader.ts";

/** Bytes from a string of code points 0-255, one byte each. */
function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => {
    const code = c.charCodeAt(0);
    assert.ok(code < 256, `one byte: ${JSON.stringify(c)}`);
    return code;
  });
}

function latin1(b: Uint8Array): string {
  return Array.from(b, (byte) => String.fromCharCode(byte)).join("");
}

/** `data` as a stream of chunks of `size` bytes (1: every byte on its own). */
async function* chunked(data: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.slice(i, i + size);
}

async function read(
  data: Uint8Array,
  options: { chunk?: number; max?: number } = {},
): Promise<MboxMessage[]> {
  const out: MboxMessage[] = [];
  const stream = chunked(data, options.chunk ?? 65536);
  for await (const m of readMbox(stream, { maxMessageSize: options.max ?? 1 << 20 })) out.push(m);
  return out;
}

/** What a test expects of one message. */
interface Want {
  body?: string;
  sender?: string;
  date?: string;
  offset?: number;
  tooLarge?: boolean;
  truncated?: boolean;
  broken?: boolean;
}

const FROM_A = "From alice@example.com Thu Dec  3 09:05:57 2026";
const FROM_B = "From bob@example.org Sat Dec 12 23:59:59 2026";

const CASES: { name: string; input: string; want: Want[]; max?: number }[] = [
  { name: "an empty file has no messages", input: "", want: [] },
  {
    name: "one message with LF line ends comes out with CRLF",
    input: `${FROM_A}\nSubject: a\n\nhello\n\n`,
    want: [{ body: "Subject: a\r\n\r\nhello\r\n", sender: "alice@example.com", offset: 0 }],
  },
  {
    name: "two messages; the empty line before the next From line is the separator",
    input: `${FROM_A}\nSubject: a\n\none\n\n${FROM_B}\nSubject: b\n\ntwo\n\n`,
    want: [
      { body: "Subject: a\r\n\r\none\r\n", date: "2026-12-03T09:05:57.000Z" },
      { body: "Subject: b\r\n\r\ntwo\r\n", sender: "bob@example.org", offset: 48 + 17 },
    ],
  },
  {
    name: "CRLF line ends stay CRLF and the CRLF separator goes",
    input: `${FROM_A}\r\nSubject: a\r\n\r\none\r\n\r\n${FROM_B}\r\nSubject: b\r\n\r\ntwo\r\n`,
    want: [
      { body: "Subject: a\r\n\r\none\r\n" },
      { body: "Subject: b\r\n\r\ntwo\r\n", offset: 49 + 21 },
    ],
  },
  {
    name: "mboxrd: one > is taken from >From and >>From lines",
    input: `${FROM_A}\nSubject: q\n\n>From the start\n>>From quoted\n>>>From deeper\n\n`,
    want: [{ body: "Subject: q\r\n\r\nFrom the start\r\n>From quoted\r\n>>From deeper\r\n" }],
  },
  {
    name: "mboxo: >From comes back as From (mboxo cannot tell which it was)",
    input: `${FROM_A}\nSubject: q\n\n>From me\n\n`,
    want: [{ body: "Subject: q\r\n\r\nFrom me\r\n" }],
  },
  {
    name: "> lines that are not quoted From lines stay",
    input: `${FROM_A}\nSubject: q\n\n> From x\n>Fromage\n>\n\n`,
    want: [{ body: "Subject: q\r\n\r\n> From x\r\n>Fromage\r\n>\r\n" }],
  },
  {
    name: "an unquoted From line in a body starts a message (as Python and mutt read it)",
    input: `${FROM_A}\nSubject: a\n\ntext\nFrom here on\nmore\n`,
    want: [{ body: "Subject: a\r\n\r\ntext\r\n" }, { body: "more\r\n", sender: "here" }],
  },
  {
    name: "an empty message between two others",
    input: `${FROM_A}\nSubject: a\n\none\n\n${FROM_B}\n\n${FROM_A}\nSubject: c\n\nthree\n\n`,
    want: [{ body: "Subject: a\r\n\r\none\r\n" }, { body: "" }, {
      body: "Subject: c\r\n\r\nthree\r\n",
    }],
  },
  {
    name: "a message of one empty line (Python writes an empty message so)",
    input: `${FROM_A}\n\n\n`,
    want: [{ body: "\r\n" }],
  },
  {
    name: "empty lines inside and at the end of a body are kept, but for the separator",
    input: `${FROM_A}\nSubject: a\n\none\n\n\ntwo\n\n\n\n`,
    want: [{ body: "Subject: a\r\n\r\none\r\n\r\n\r\ntwo\r\n\r\n\r\n" }],
  },
  {
    name: "no separator line before the next From line",
    input: `${FROM_A}\nSubject: a\n\none\n${FROM_B}\nSubject: b\n\ntwo\n`,
    want: [{ body: "Subject: a\r\n\r\none\r\n" }, { body: "Subject: b\r\n\r\ntwo\r\n" }],
  },
  {
    name: "a truncated last message (no final line end) gets its CRLF and is marked",
    input: `${FROM_A}\nSubject: a\n\none\n\n${FROM_B}\nSubject: b\n\ntwo, cut sh`,
    want: [
      { body: "Subject: a\r\n\r\none\r\n", truncated: false },
      { body: "Subject: b\r\n\r\ntwo, cut sh\r\n", truncated: true },
    ],
  },
  {
    name: "a file cut after a From line gives an empty message",
    input: `${FROM_A}\nSubject: a\n\none\n\n${FROM_B}`,
    want: [{ body: "Subject: a\r\n\r\none\r\n" }, { body: "" }],
  },
  {
    name: "8-bit bytes and a lone CR pass unchanged",
    input: `${FROM_A}\nSubject: \xe9t\xe9\n\ncaf\xc3\xa9 \xff\rx\n\n`,
    want: [{ body: "Subject: \xe9t\xe9\r\n\r\ncaf\xc3\xa9 \xff\rx\r\n" }],
  },
  {
    name: "text before the first From line is reported as message 0; the rest is read",
    input: `garbage\nmore\n${FROM_A}\nSubject: a\n\none\n`,
    want: [{ broken: true, offset: 0 }, { body: "Subject: a\r\n\r\none\r\n", offset: 13 }],
  },
  {
    name: "empty lines before the first From line are not reported",
    input: `\n\n${FROM_A}\nSubject: a\n\none\n`,
    want: [{ body: "Subject: a\r\n\r\none\r\n", offset: 2 }],
  },
  {
    name: "a message over the limit is counted but not kept; the next one is read",
    input: `${FROM_A}\nSubject: big\n\n${"x".repeat(100)}\n\n${FROM_B}\nSubject: b\n\nsmall\n`,
    max: 64,
    want: [{ tooLarge: true, body: "" }, { body: "Subject: b\r\n\r\nsmall\r\n" }],
  },
  {
    name: "a From line without a date has the sender only",
    input: `From someone\nSubject: a\n\none\n`,
    want: [{ body: "Subject: a\r\n\r\none\r\n", sender: "someone", date: undefined }],
  },
];

Deno.test("readMbox() reads mboxrd and mboxo, LF and CRLF, message by message", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, async () => {
      // Every chunking must give the same: whole, odd-sized, byte by byte.
      for (const chunk of [65536, 7, 1]) {
        const got = await read(bytes(c.input), { chunk, max: c.max });
        assert.equal(got.length, c.want.length, `messages (chunks of ${chunk})`);
        got.forEach((m, i) => {
          const w = c.want[i];
          const what = `message ${i + 1} (chunks of ${chunk})`;
          if (w.body !== undefined) assert.equal(latin1(m.body), w.body, what);
          if (w.sender !== undefined) assert.equal(m.sender, w.sender, what);
          if ("date" in w) assert.equal(m.date?.toISOString(), w.date, what);
          if (w.offset !== undefined) assert.equal(m.offset, w.offset, what);
          assert.equal(m.tooLarge, w.tooLarge ?? false, what);
          if (w.truncated !== undefined) assert.equal(m.truncated, w.truncated, what);
          assert.equal(m.broken !== undefined, w.broken ?? false, what);
          if (!m.tooLarge && !m.broken) assert.equal(m.size, m.body.length, what);
        });
      }
    });
  }
});

Deno.test("readMbox() numbers messages from 1 and gives each From line's byte offset", async () => {
  const input = `${FROM_A}\nA: 1\n\n${FROM_B}\r\nA: 2\r\n\r\n${FROM_A}\nA: 3\n`;
  const got = await read(bytes(input), { chunk: 5 });
  assert.deepEqual(got.map((m) => m.number), [1, 2, 3]);
  for (const m of got) assert.equal(latin1(bytes(input).subarray(m.offset, m.offset + 5)), "From ");
});

Deno.test("readMbox() gives back what mboxrdEntry() wrote, byte for byte", async () => {
  const messages = [
    "Subject: one\r\n\r\nFrom the start\r\n>From quoted\r\n\r\n",
    "",
    "Subject: headers only\r\n",
    "Subject: three\r\n\r\n\r\n\r\n>>>From x\r\nlast\r\n",
  ].map(bytes);
  const date = new Date("2026-03-02T10:00:00Z");
  const parts = messages.map((m) => mboxrdEntry(m, "a@example.com", date));
  const file = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    file.set(p, at);
    at += p.length;
  }
  const got = await read(file, { chunk: 3 });
  assert.deepEqual(got.map((m) => latin1(m.body)), messages.map(latin1));
  for (const m of got) assert.equal(m.date?.getTime(), date.getTime());
});

Deno.test("readMbox() reads a line longer than its piece size, and a large message", async () => {
  const long = "y".repeat(3 * 1024 * 1024 + 5);
  const ascii = new TextDecoder();
  const input = new TextEncoder().encode(
    `${FROM_A}\r\nSubject: long\r\n\r\n${long}\r\n>From q\r\n\r\n${FROM_B}\nA: b\n`,
  );
  for (const chunk of [65536, 1 << 20, 999_999]) {
    const got = await read(input, { chunk, max: 8 << 20 });
    assert.equal(got.length, 2);
    assert.equal(ascii.decode(got[0].body), `Subject: long\r\n\r\n${long}\r\nFrom q\r\n`);
    assert.equal(latin1(got[1].body), "A: b\r\n");
  }
  const capped = await read(input, { max: 1 << 20 });
  assert.equal(capped[0].tooLarge, true);
  assert.equal(capped[0].size, `Subject: long\r\n\r\n${long}\r\nFrom q\r\n`.length);
  assert.equal(latin1(capped[1].body), "A: b\r\n");
});

Deno.test("parseFromLine() reads the sender and the date in its common forms", () => {
  const cases: [string, string, string | undefined][] = [
    ["From a@b.c Thu Dec  3 09:05:57 2026", "a@b.c", "2026-12-03T09:05:57.000Z"],
    ["From a@b.c Thu Dec 3 09:05:57 2026", "a@b.c", "2026-12-03T09:05:57.000Z"],
    ["From MAILER-DAEMON Fri Jan  1 00:00:00 2027", "MAILER-DAEMON", "2027-01-01T00:00:00.000Z"],
    ["From a@b.c Sat Jan  3 01:05:34 1996 +0100", "a@b.c", "1996-01-03T00:05:34.000Z"],
    ["From a@b.c Sat Jan  3 01:05:34 PST 1996", "a@b.c", "1996-01-03T09:05:34.000Z"],
    ["From a@b.c Sat Jan  3 01:05 1996", "a@b.c", "1996-01-03T01:05:00.000Z"],
    ["From a@b.c  Thu Dec  3 09:05:57 2026 remote from uucp", "a@b.c", "2026-12-03T09:05:57.000Z"],
    ["From a@b.c", "a@b.c", undefined],
    ["From a@b.c yesterday", "a@b.c", undefined],
    ["From a@b.c Thu Foo  3 09:05:57 2026", "a@b.c", undefined],
  ];
  for (const [line, sender, date] of cases) {
    const got = parseFromLine(line);
    assert.equal(got.sender, sender, line);
    assert.equal(got.date?.toISOString(), date, line);
  }
});

Deno.test("parseRfc5322Date() reads Date fields, obsolete forms included", () => {
  const cases: [string, string | undefined][] = [
    ["Mon, 02 Mar 2026 10:00:00 +0000", "2026-03-02T10:00:00.000Z"],
    ["2 Mar 2026 10:00 -0130", "2026-03-02T11:30:00.000Z"],
    ["Mon, 2 Mar 26 10:00:00 GMT", "2026-03-02T10:00:00.000Z"],
    ["Tue, 1 Jul 97 10:00:00 EDT (comment)", "1997-07-01T14:00:00.000Z"],
    ["Wed, 15 Nov 2023 01:13:20 +0000 (UTC)", "2023-11-15T01:13:20.000Z"],
    ["not a date", undefined],
    ["Mon, 32 Mar 2026 10:00:00 +0000", undefined],
  ];
  for (const [value, want] of cases) {
    assert.equal(parseRfc5322Date(value)?.toISOString(), want, value);
  }
});
