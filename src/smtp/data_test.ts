import assert from "node:assert/strict";
import { duplexPair } from "node:stream";
import { Connection } from "../net/connection.ts";
import {
  type ContentViolation,
  DataDecoder,
  type MessageContent,
  readDataContent,
} from "./data.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Shows bytes with CR and LF visible, for assertion messages. */
function show(b: Uint8Array | string): string {
  const text = typeof b === "string" ? b : decoder.decode(b);
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}...` : text);
}

interface Decoded {
  content: MessageContent;
  done: boolean;
  /** Input left after the end of data (the next command), or not taken after a hang-up. */
  rest: string;
}

/**
 * Feeds `chunks` to a DATA decoder the way readDataContent does: unread
 * bytes stay in front of the next chunk; feeding stops at the end of data
 * or at a violation that ends the session.
 */
function decodeChunks(chunks: Uint8Array[], maxSize = 1 << 20): Decoded {
  const dec = new DataDecoder(maxSize, { dotStuffed: true });
  let pending: Uint8Array = new Uint8Array();
  let i = 0;
  for (;;) {
    pending = pending.slice(dec.feed(pending));
    if (dec.done || dec.violation === "dot-bare-lf" || i === chunks.length) break;
    const next = new Uint8Array(pending.length + chunks[i].length);
    next.set(pending);
    next.set(chunks[i++], pending.length);
    pending = next;
  }
  const rest = [pending, ...chunks.slice(i)].map((c) => decoder.decode(c)).join("");
  return { content: dec.result(), done: dec.done, rest };
}

function decodeText(text: string, maxSize?: number): Decoded {
  return decodeChunks([bytes(text)], maxSize);
}

/** All ways of cutting `input` in two, plus one byte at a time. */
function splits(input: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 0; i <= input.length; i++) out.push([input.slice(0, i), input.slice(i)]);
  out.push(Array.from(input, (b) => new Uint8Array([b])));
  return out;
}

interface Case {
  name: string;
  input: string;
  /** Expected content, or undefined to skip the comparison. */
  content?: string;
  violation?: ContentViolation;
  /** The end of data was found. @default true */
  done?: boolean;
  /** @default "" */
  rest?: string;
}

const CASES: Case[] = [
  {
    name: "a simple message",
    input: "Subject: hi\r\n\r\nHello\r\n.\r\n",
    content: "Subject: hi\r\n\r\nHello\r\n",
  },
  { name: "an empty message", input: ".\r\n", content: "" },
  { name: "a message of one empty line", input: "\r\n.\r\n", content: "\r\n" },
  { name: "a leading dot is removed", input: "..leading\r\n.\r\n", content: ".leading\r\n" },
  { name: "only the first dot is removed", input: "...\r\n.\r\n", content: "..\r\n" },
  { name: "a dot before a space is removed", input: ". x\r\n.\r\n", content: " x\r\n" },
  { name: "a lone dot after unstuffing", input: "a\r\n..\r\n.\r\n", content: "a\r\n.\r\n" },
  { name: "dots inside a line stay", input: "a.b.\r\n.x\r\n.\r\n", content: "a.b.\r\nx\r\n" },
  { name: "a dot line with trailing text is content", input: ".a\r\n.\r\n", content: "a\r\n" },
  {
    name: "input after the end is left for the next command",
    input: "x\r\n.\r\nMAIL FROM:<a@b.example>\r\n",
    content: "x\r\n",
    rest: "MAIL FROM:<a@b.example>\r\n",
  },
  {
    name: "a second end of data is left unread",
    input: "x\r\n.\r\n.\r\n",
    content: "x\r\n",
    rest: ".\r\n",
  },
  {
    name: "bare LF line ends are stored as CRLF",
    input: "a\nb\n\r\nc\r\n.\r\n",
    content: "a\r\nb\r\n\r\nc\r\n",
  },
  { name: "a bare LF first line", input: "\nx\r\n.\r\n", content: "\r\nx\r\n" },
  { name: "8-bit and UTF-8 content passes", input: "Ünïcødé ✉\xff\r\n.\r\n" },
  // SMTP smuggling (2023): a "." line ending in a bare LF ends the session.
  {
    name: "<LF>.<LF> (smuggling) stops at the dot",
    input: "Subject: a\r\n\r\nbody\n.\nMAIL FROM:<evil@x.example>\r\n.\r\n",
    violation: "dot-bare-lf",
    done: false,
    rest: "MAIL FROM:<evil@x.example>\r\n.\r\n",
  },
  {
    name: "<CRLF>.<LF> (smuggling) stops at the dot",
    input: "body\r\n.\nMAIL FROM:<evil@x.example>\r\n.\r\n",
    violation: "dot-bare-lf",
    done: false,
    rest: "MAIL FROM:<evil@x.example>\r\n.\r\n",
  },
  {
    name: "<LF>.<LF> as the very first line",
    input: ".\nQUIT\r\n",
    violation: "dot-bare-lf",
    done: false,
    rest: "QUIT\r\n",
  },
  // A "." line after a bare LF, or any bare CR: read on to the real end, then refuse.
  {
    name: "<LF>.<CRLF> (smuggling) is content up to the real end",
    input: "body\n.\r\nMAIL FROM:<evil@x.example>\r\n.\r\nNOOP\r\n",
    violation: "lf-before-dot",
    rest: "NOOP\r\n",
  },
  {
    name: "<CR>.<CR> (smuggling) is content up to the real end",
    input: "body\r.\rMAIL FROM:<evil@x.example>\r\n.\r\nNOOP\r\n",
    violation: "bare-cr",
    rest: "NOOP\r\n",
  },
  {
    name: "<CR>.<CRLF> (smuggling) is content up to the real end",
    input: "body\r.\r\nMAIL FROM:<evil@x.example>\r\n.\r\nNOOP\r\n",
    violation: "bare-cr",
    rest: "NOOP\r\n",
  },
  {
    name: "<CRLF>.<CR><CRLF> is content up to the real end",
    input: "body\r\n.\r\r\nmore\r\n.\r\n",
    violation: "bare-cr",
  },
  { name: "a bare CR mid-line", input: "a\rb\r\n.\r\n", violation: "bare-cr" },
  { name: "a bare CR at the start of a line", input: "\rb\r\n.\r\n", violation: "bare-cr" },
  { name: "a CR before a CRLF", input: "ab\r\r\n.\r\n", violation: "bare-cr" },
  {
    name: "a bare CR and later a dot-bare-LF: the hang-up wins",
    input: "a\rb\r\n.\nrest",
    violation: "dot-bare-lf",
    done: false,
    rest: "rest",
  },
];

for (const c of CASES) {
  Deno.test(`DataDecoder decodes ${c.name}, whatever the chunking`, () => {
    const input = bytes(c.input);
    const done = c.done ?? true;
    for (const chunks of splits(input)) {
      const where = `chunks ${chunks.map((x) => x.length).join("+")}`;
      const got = decodeChunks(chunks);
      assert.equal(got.done, done, `done, ${where}`);
      assert.equal(got.content.violation, c.violation, `violation, ${where}`);
      assert.equal(got.content.tooBig, false, where);
      assert.equal(got.rest, c.rest ?? "", `rest, ${where}`);
      if (c.violation === undefined) {
        const expected = c.content ?? c.input.slice(0, c.input.lastIndexOf(".\r\n"));
        assert.equal(show(got.content.bytes), show(expected), where);
        assert.equal(got.content.size, bytes(expected).length, where);
      }
    }
  });
}

Deno.test("DataDecoder keeps 8-bit bytes exactly", () => {
  const all = new Uint8Array(256 - 2).map((_, i) => i < 10 ? i : i < 12 ? i + 1 : i + 2);
  // Every octet but CR and LF, then CRLF, then the end.
  const input = new Uint8Array([...all, 0x0d, 0x0a, 0x2e, 0x0d, 0x0a]);
  const got = decodeChunks([input]);
  assert.equal(got.done, true);
  assert.equal(got.content.violation, undefined);
  assert.deepEqual(got.content.bytes, new Uint8Array([...all, 0x0d, 0x0a]));
});

Deno.test("DataDecoder drops content past the size cap but still finds the end", () => {
  const body = "0123456789".repeat(10) + "\r\n"; // 102 octets
  for (const chunks of splits(bytes(`${body}${body}.\r\nQUIT\r\n`))) {
    const got = decodeChunks(chunks, 150);
    assert.equal(got.done, true);
    assert.equal(got.content.tooBig, true);
    assert.equal(got.content.size, 204);
    assert.equal(got.content.bytes.length, 0);
    assert.equal(got.rest, "QUIT\r\n");
  }
});

Deno.test("DataDecoder accepts content of exactly the size cap", () => {
  const got = decodeText("12345678\r\n.\r\n", 10);
  assert.equal(got.content.tooBig, false);
  assert.equal(decoder.decode(got.content.bytes), "12345678\r\n");
  const over = decodeText("123456789\r\n.\r\n", 10);
  assert.equal(over.content.tooBig, true);
  assert.equal(over.content.size, 11);
});

Deno.test("DataDecoder counts the size after unstuffing and CRLF normalisation", () => {
  // "..x\n" is 4 octets on the wire and ".x\r\n" (4 octets) once decoded.
  const got = decodeText("..x\n\r\n.\r\n", 6);
  assert.equal(got.content.tooBig, false);
  assert.equal(got.content.size, 6);
  assert.equal(decoder.decode(got.content.bytes), ".x\r\n\r\n");
});

Deno.test("DataDecoder stops keeping data over the cap in a very long line", () => {
  const line = "a".repeat(300_000);
  const got = decodeChunks(chunked(bytes(`${line}\r\n.\r\n`), 16_384), 100_000);
  assert.equal(got.done, true);
  assert.equal(got.content.tooBig, true);
  assert.equal(got.content.size, 300_002);
  assert.equal(got.content.bytes.length, 0);
});

function chunked(input: Uint8Array, size: number): Uint8Array[] {
  const out = [];
  for (let i = 0; i < input.length; i += size) out.push(input.slice(i, i + size));
  return out;
}

Deno.test("DataDecoder takes a very long line without LF in pieces", () => {
  const dec = new DataDecoder(1 << 20, { dotStuffed: true });
  const long = bytes("x".repeat(50_000));
  // Without a line end the decoder does not wait for the whole line.
  assert.equal(dec.feed(long), long.length);
  assert.equal(dec.feed(bytes("y\r\n.\r\n")), 6);
  assert.equal(dec.done, true);
  assert.equal(decoder.decode(dec.result().bytes), `${"x".repeat(50_000)}y\r\n`);
});

Deno.test("DataDecoder waits for the rest of a short line", () => {
  const dec = new DataDecoder(1 << 20, { dotStuffed: true });
  assert.equal(dec.feed(bytes("short")), 0);
  assert.equal(dec.feed(bytes("short\r")), 0);
  assert.equal(dec.feed(bytes("short\r\n.")), 7);
  assert.equal(dec.done, false);
});

for (const size of [4095, 4096, 4097, 8192, 10_000]) {
  Deno.test(`DataDecoder handles long lines of ${size} octets in any chunking`, () => {
    const samples = [
      // A long line starting with a stuffed dot: one dot is removed, once.
      { input: `..${"a".repeat(size)}\r\n.\r\n`, content: `.${"a".repeat(size)}\r\n` },
      // A dot where a piece may start in the middle of a line is content.
      {
        input: `${"x".repeat(size)}.${"y".repeat(100)}\r\n.\r\n`,
        content: `${"x".repeat(size)}.${"y".repeat(100)}\r\n`,
      },
      // A CR right at a piece boundary that belongs to the CRLF.
      { input: `${"x".repeat(size)}\r\n.\r\n`, content: `${"x".repeat(size)}\r\n` },
    ];
    for (const s of samples) {
      const input = bytes(s.input);
      for (const piece of [1000, 4095, 4096, 4097, size, size + 1, 7]) {
        const got = decodeChunks(chunked(input, piece));
        assert.equal(got.done, true, `piece ${piece}`);
        assert.equal(got.content.violation, undefined, `piece ${piece}`);
        assert.equal(decoder.decode(got.content.bytes), s.content, `piece ${piece}`);
      }
    }
  });
}

Deno.test("DataDecoder finds a bare CR at a piece boundary of a long line", () => {
  const input = bytes(`${"x".repeat(4095)}\ry\r\n.\r\n`);
  for (const piece of [4096, 4095, 1000, 4097]) {
    const got = decodeChunks(chunked(input, piece));
    assert.equal(got.done, true, `piece ${piece}`);
    assert.equal(got.content.violation, "bare-cr", `piece ${piece}`);
  }
});

Deno.test("DataDecoder without dot-stuffing (BDAT) keeps dots and never ends", () => {
  const dec = new DataDecoder(1 << 20, { dotStuffed: false });
  const input = bytes("..a\r\n.\r\nb\nc");
  assert.equal(dec.feed(input, true), input.length);
  assert.equal(dec.done, false);
  const r = dec.result();
  assert.equal(r.violation, undefined);
  // Bare LF becomes CRLF; a final line without an end stays as it is.
  assert.equal(decoder.decode(r.bytes), "..a\r\n.\r\nb\r\nc");
});

Deno.test("DataDecoder without dot-stuffing refuses bare CR, also in a final fragment", () => {
  for (const text of ["a\rb\r\n", "ab\r"]) {
    const dec = new DataDecoder(1 << 20, { dotStuffed: false });
    dec.feed(bytes(text), true);
    assert.equal(dec.result().violation, "bare-cr", show(text));
  }
  const dec = new DataDecoder(1 << 20, { dotStuffed: false });
  dec.feed(bytes(".\n"), true);
  assert.equal(dec.result().violation, undefined, "a dot line is not special in BDAT");
});

Deno.test("DataDecoder without dot-stuffing joins chunks split inside a CRLF", () => {
  const dec = new DataDecoder(1 << 20, { dotStuffed: false });
  const first = bytes("abc\r");
  const used = dec.feed(first, false);
  assert.equal(used, 0);
  const rest = new Uint8Array([...first.slice(used), ...bytes("\ndef\r\n")]);
  assert.equal(dec.feed(rest, true), rest.length);
  assert.equal(decoder.decode(dec.result().bytes), "abc\r\ndef\r\n");
  assert.equal(dec.result().violation, undefined);
});

/** A Connection over an in-memory pair, with the client end. */
function connectionPair(idleTimeoutMs = 5_000) {
  const [server, client] = duplexPair();
  const conn = new Connection(server, {
    id: "test",
    remoteAddress: "192.0.2.1",
    remotePort: 1234,
    localAddress: "192.0.2.2",
    localPort: 25,
    idleTimeoutMs,
  });
  client.on("data", () => {});
  client.on("end", () => client.end());
  return { conn, client };
}

/** Runs `fn` in a later macrotask, once the reader waits for input. */
function later(fn: () => void): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(() => {
      fn();
      resolve();
    }, 5)
  );
}

Deno.test("readDataContent() reads up to the end and leaves the next command", async () => {
  const { conn, client } = connectionPair();
  try {
    const pending = readDataContent(conn, 1 << 20);
    await later(() => client.write("Subject: x\r\n\r\n..dot\r\n"));
    await later(() => client.write(".\r\nQUIT\r\n"));
    const content = await pending;
    assert.ok(content);
    assert.equal(decoder.decode(content.bytes), "Subject: x\r\n\r\n.dot\r\n");
    const next = await conn.readLine(512);
    assert.equal(decoder.decode(next!.bytes), "QUIT");
  } finally {
    client.end();
    await conn.close();
  }
});

Deno.test("readDataContent() returns null when the client goes away mid-message", async () => {
  const { conn, client } = connectionPair();
  try {
    const pending = readDataContent(conn, 1 << 20);
    await later(() => {
      client.write("Subject: x\r\n\r\nunfinished");
      client.end();
    });
    assert.equal(await pending, null);
  } finally {
    await conn.close();
  }
});

Deno.test("readDataContent() sees input and EOF that arrive while output is flushed", async () => {
  // Written before the read starts, so the bytes and the FIN are delivered while
  // Connection.fill() awaits its flush (a lost wake-up once made this time out).
  const { conn, client } = connectionPair(1_000);
  try {
    client.write("Subject: x\r\n\r\nunfinished");
    client.end();
    assert.equal(await readDataContent(conn, 1 << 20), null);
  } finally {
    await conn.close();
  }
});

Deno.test("readDataContent() stops at a dot with a bare LF without reading further", async () => {
  const { conn, client } = connectionPair();
  try {
    const pending = readDataContent(conn, 1 << 20);
    await later(() => client.write("body\n.\nMAIL FROM:<evil@x.example>\r\n"));
    const content = await pending;
    assert.equal(content?.violation, "dot-bare-lf");
    assert.equal(decoder.decode(conn.peek()), "MAIL FROM:<evil@x.example>\r\n");
  } finally {
    client.end();
    await conn.close();
  }
});

Deno.test("readDataContent() reads a large message that exceeds the cap to its end", async () => {
  const { conn, client } = connectionPair();
  try {
    const line = `${"z".repeat(998)}\r\n`;
    const pending = readDataContent(conn, 100_000);
    await later(() => {
      for (let i = 0; i < 1000; i++) client.write(line);
      client.write(".\r\nNOOP\r\n");
    });
    const content = await pending;
    assert.ok(content);
    assert.equal(content.tooBig, true);
    assert.equal(content.size, 1_000_000);
    const next = await conn.readLine(512);
    assert.equal(decoder.decode(next!.bytes), "NOOP");
  } finally {
    client.end();
    await conn.close();
  }
});

const DOT_LINE_CASES: [string, string, boolean, boolean][] = [
  ["no dots", "a\r\nb\r\n.\r\n", true, false],
  ["a dot inside a line", "a.b\r\n.\r\n", true, false],
  ["a stuffed dot line", "a\r\n..b\r\n.\r\n", true, true],
  ["a stuffed lone dot", "..\r\n.\r\n", true, true],
  ["BDAT: a line starting with a dot", "a\r\n.b\r\n", false, true],
  ["BDAT: no dots at line starts", "a.\r\nb.\r\n", false, false],
];

for (const [name, text, dotStuffed, want] of DOT_LINE_CASES) {
  Deno.test(`DataDecoder reports whether stored lines start with a dot: ${name}`, () => {
    const d = new DataDecoder(1 << 20, { dotStuffed });
    d.feed(bytes(text), !dotStuffed);
    assert.equal(d.result().dotLines, want);
  });
}
