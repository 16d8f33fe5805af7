import assert from "node:assert/strict";
import { type Duplex, duplexPair } from "node:stream";
import { Connection, ConnectionShutdown } from "../net/connection.ts";
import { ImapParseError } from "./command.ts";
import { parseCommand } from "./parse.ts";
import { type RawCommand, readCommand, type ReadCommandOptions } from "./reader.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A connection on one end of an in-memory pair, and a scripted client on the other. */
interface Pair {
  conn: Connection;
  peer: Duplex;
  /** What the server wrote to the client. */
  received: () => string;
  /** How many continuations the reader asked for. */
  continuations: () => number;
  /** Reads one command with the given options over defaults. */
  read: (options?: Partial<ReadCommandOptions>) => Promise<RawCommand | null>;
  /** Queues data the client sends when it sees a continuation ("+ ..."). */
  onPlus: (...chunks: (string | Uint8Array)[]) => void;
}

const DEFAULTS = { maxLine: 1000, maxLiteral: 10_000, literalPlus: true };

async function withPair(fn: (pair: Pair) => Promise<void>): Promise<void> {
  const [server, peer] = duplexPair();
  const conn = new Connection(server, {
    id: "test",
    remoteAddress: "192.0.2.1",
    remotePort: 40000,
    localAddress: "192.0.2.2",
    localPort: 143,
    idleTimeoutMs: 5_000,
  });
  let received = "";
  let continuations = 0;
  const queued: (string | Uint8Array)[][] = [];
  peer.on("data", (chunk: Uint8Array) => {
    const text = decoder.decode(chunk);
    received += text;
    // A client sends the literal only after the continuation it waits for.
    for (const _ of text.matchAll(/^\+ /gm)) for (const c of queued.shift() ?? []) peer.write(c);
  });
  const read = (options: Partial<ReadCommandOptions> = {}) =>
    readCommand(conn, {
      ...DEFAULTS,
      onContinuation: async () => {
        continuations++;
        await conn.write("+ Ready for literal data\r\n");
      },
      ...options,
    });
  try {
    await fn({
      conn,
      peer,
      received: () => received,
      continuations: () => continuations,
      read,
      onPlus: (...chunks) => queued.push(chunks),
    });
  } finally {
    conn.destroy();
    peer.destroy();
  }
}

/** Lets pending I/O callbacks run. */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

async function send(peer: Duplex, data: string | Uint8Array): Promise<void> {
  peer.write(data);
  await tick();
}

const bytes = (s: string) => encoder.encode(s);

Deno.test("readCommand() reads lines without literals", async () => {
  await withPair(async ({ peer, read, continuations }) => {
    await send(peer, 'a1 NOOP\r\nA2 LOGIN alice "pässword"\r\nb3 CAPABILITY\nc4 IDLE\r\n');
    assert.deepEqual(await read(), { parts: ["a1 NOOP"] });
    assert.deepEqual(await read(), { parts: ['A2 LOGIN alice "pässword"'] });
    // A bare LF is accepted.
    assert.deepEqual(await read(), { parts: ["b3 CAPABILITY"] });
    assert.deepEqual(await read(), { parts: ["c4 IDLE"] });
    assert.equal(continuations(), 0);
  });
});

Deno.test("readCommand() returns null at end of input", async () => {
  await withPair(async ({ peer, read }) => {
    peer.end("a NOOP\r\nb NOO");
    await tick();
    assert.deepEqual(await read(), { parts: ["a NOOP"] });
    assert.equal(await read(), null);
    assert.equal(await read(), null);
  });
});

Deno.test("readCommand() sends one continuation per synchronising literal", async () => {
  await withPair(async ({ peer, read, onPlus, continuations, received }) => {
    onPlus("alice {6}\r\n");
    onPlus("secret\r\n");
    await send(peer, "a LOGIN {5}\r\n");
    assert.deepEqual(await read(), {
      parts: ["a LOGIN {5}", bytes("alice"), " {6}", bytes("secret"), ""],
    });
    assert.equal(continuations(), 2);
    assert.equal(received(), "+ Ready for literal data\r\n".repeat(2));
  });
});

Deno.test("readCommand() sends a continuation for an empty synchronising literal", async () => {
  await withPair(async ({ peer, read, onPlus, continuations }) => {
    onPlus(" x\r\n");
    await send(peer, "a LOGIN {0}\r\n");
    assert.deepEqual(await read(), { parts: ["a LOGIN {0}", new Uint8Array(), " x"] });
    assert.equal(continuations(), 1);
  });
});

Deno.test("readCommand() reads LITERAL+ literals without a continuation", async () => {
  await withPair(async ({ peer, read, continuations, received }) => {
    await send(peer, "a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\nb NOOP\r\n");
    assert.deepEqual(await read(), {
      parts: ["a LOGIN {5+}", bytes("alice"), " {6+}", bytes("secret"), ""],
    });
    assert.deepEqual(await read(), { parts: ["b NOOP"] });
    assert.equal(continuations(), 0);
    assert.equal(received(), "");
  });
});

Deno.test("readCommand() mixes synchronising and non-synchronising literals", async () => {
  await withPair(async ({ peer, read, onPlus, continuations }) => {
    onPlus("two {3+}\r\nabc)\r\n");
    await send(peer, "a ID ({4+}\r\nname {3}\r\n");
    assert.deepEqual(await read(), {
      parts: ["a ID ({4+}", bytes("name"), " {3}", bytes("two"), " {3+}", bytes("abc"), ")"],
    });
    assert.equal(continuations(), 1);
  });
});

Deno.test("readCommand() keeps CRLF, NUL and markers inside a literal as data", async () => {
  const message = bytes("From: a@b\r\nSubject: {5}\r\n\r\nb NOOP\r\nx {3+}\r\n\0\xff end\r\n");
  await withPair(async ({ peer, read, onPlus }) => {
    onPlus(message, "\r\n");
    await send(peer, `a APPEND INBOX (\\Seen) {${message.length}}\r\n`);
    assert.deepEqual(await read(), {
      parts: [`a APPEND INBOX (\\Seen) {${message.length}}`, message, ""],
    });
    const binary = new Uint8Array([0, 13, 10, 255, 0]);
    await send(peer, "b APPEND INBOX ~{5+}\r\n");
    await send(peer, binary);
    await send(peer, "\r\n");
    assert.deepEqual(await read(), { parts: ["b APPEND INBOX ~{5+}", binary, ""] });
    await send(peer, "c APPEND INBOX ~{5}\r\n");
    onPlus(binary, "\r\n");
    assert.deepEqual(await read(), { parts: ["c APPEND INBOX ~{5}", binary, ""] });
  });
});

Deno.test("readCommand() assembles a literal and a line split across many chunks", async () => {
  await withPair(async ({ peer, read, continuations }) => {
    const literal = new Uint8Array(5000).map((_, i) => i % 3 === 0 ? 13 : i % 3 === 1 ? 10 : 65);
    const reading = read();
    for (const ch of "a APPEND INBOX {5000+}\r") {
      peer.write(ch);
      await tick();
    }
    peer.write("\n");
    for (let i = 0; i < literal.length; i += 97) {
      peer.write(literal.subarray(i, i + 97));
      await tick();
    }
    peer.write("\r");
    await tick();
    peer.write("\n");
    assert.deepEqual(await reading, { parts: ["a APPEND INBOX {5000+}", literal, ""] });
    assert.equal(continuations(), 0);
  });
});

Deno.test("readCommand() refuses an oversized synchronising literal before it is sent", async () => {
  await withPair(async ({ peer, read, continuations, received }) => {
    await send(peer, "a APPEND INBOX {10001}\r\n");
    assert.deepEqual(await read(), { literalTooLarge: true, tag: "a", size: 10001 });
    assert.equal(continuations(), 0);
    // The client, told NO, goes on with its next command.
    await send(peer, "b NOOP\r\n");
    assert.deepEqual(await read(), { parts: ["b NOOP"] });
    assert.equal(received(), "");
    // The marker counts even when its number is absurd.
    await send(peer, "c LOGIN {99999999999999999999}\r\n");
    assert.deepEqual(await read(), { literalTooLarge: true, tag: "c", size: 1e20 });
    // Exactly the cap is fine.
    await send(peer, "d APPEND INBOX {10000+}\r\n" + "x".repeat(10000) + "\r\n");
    assert.deepEqual(await read(), {
      parts: ["d APPEND INBOX {10000+}", bytes("x".repeat(10000)), ""],
    });
  });
});

Deno.test("readCommand() discards an oversized non-synchronising literal as it streams", async () => {
  await withPair(async ({ conn, peer, read, continuations }) => {
    // Lines inside the literal must never be taken for commands.
    const chunk = "x DELETE INBOX\r\n".repeat(4096); // 64 KiB
    const reading = read({ maxLiteral: 100_000 });
    await send(peer, "a APPEND INBOX {1048576+}\r\n");
    let most = 0;
    for (let i = 0; i < 16; i++) {
      peer.write(chunk);
      await tick();
      most = Math.max(most, conn.buffered);
    }
    await send(peer, "\r\nb NOOP\r\n");
    assert.deepEqual(await reading, { literalTooLarge: true, tag: "a", size: 1048576 });
    assert.ok(most <= 70_000, `held ${most} bytes of a literal being discarded`);
    assert.deepEqual(await read(), { parts: ["b NOOP"] });
    assert.equal(continuations(), 0);
  });
});

Deno.test("readCommand() discards the rest of a command after an oversized literal", async () => {
  await withPair(async ({ peer, read, continuations }) => {
    // The rest of the line announces another non-synchronising literal: discard it too.
    await send(peer, "a LOGIN {20+}\r\n" + "u".repeat(20) + " {3+}\r\nabc\r\nb NOOP\r\n");
    assert.deepEqual(await read({ maxLiteral: 10 }), { literalTooLarge: true, tag: "a", size: 20 });
    assert.deepEqual(await read({ maxLiteral: 10 }), { parts: ["b NOOP"] });
    // Here the rest of the line announces a synchronising literal: the client waits, so stop.
    await send(peer, "c LOGIN {20+}\r\n" + "u".repeat(20) + " {3}\r\nd NOOP\r\n");
    assert.deepEqual(await read({ maxLiteral: 10 }), { literalTooLarge: true, tag: "c", size: 20 });
    assert.deepEqual(await read({ maxLiteral: 10 }), { parts: ["d NOOP"] });
    // A second literal over the cap after a good one.
    await send(peer, "e LOGIN {2+}\r\nab {11+}\r\n" + "p".repeat(11) + "\r\nf NOOP\r\n");
    assert.deepEqual(await read({ maxLiteral: 10 }), { literalTooLarge: true, tag: "e", size: 11 });
    assert.deepEqual(await read({ maxLiteral: 10 }), { parts: ["f NOOP"] });
    assert.equal(continuations(), 0);
  });
});

Deno.test("readCommand() refuses LITERAL+ when it is off, discarding the data", async () => {
  await withPair(async ({ peer, read, continuations }) => {
    await send(peer, "a LOGIN {5+}\r\nalice {6+}\r\nsecret\r\nb NOOP\r\n");
    assert.deepEqual(await read({ literalPlus: false }), {
      literalPlusRefused: true,
      tag: "a",
      size: 5,
    });
    assert.deepEqual(await read({ literalPlus: false }), { parts: ["b NOOP"] });
    assert.equal(continuations(), 0);
  });
});

Deno.test("readCommand() bounds the whole command", async () => {
  await withPair(async ({ peer, read, onPlus, continuations }) => {
    const options = { maxLiteral: 100, maxCommand: 150 };
    // Each literal is within maxLiteral, together they are not.
    onPlus("y".repeat(80) + "\r\n");
    await send(peer, "a LOGIN {80+}\r\n" + "x".repeat(80) + " {80}\r\n");
    assert.deepEqual(await read(options), { literalTooLarge: true, tag: "a", size: 80 });
    assert.equal(continuations(), 0);
    // Lines count too.
    await send(peer, "b LOGIN {5+}\r\nalice " + '"' + "p".repeat(140) + '"\r\nc NOOP\r\n');
    assert.deepEqual(await read(options), { tooLong: true, tag: "b" });
    assert.deepEqual(await read(options), { parts: ["c NOOP"] });
  });
});

Deno.test("readCommand() answers an over-long line and reads on", async () => {
  await withPair(async ({ peer, read, continuations }) => {
    const long = "x".repeat(5000);
    await send(peer, `a1 SEARCH TEXT ${long}\r\nb NOOP\r\n`);
    assert.deepEqual(await read({ maxLine: 100 }), { tooLong: true, tag: "a1" });
    assert.deepEqual(await read({ maxLine: 100 }), { parts: ["b NOOP"] });
    // No tag: the start is not a valid tag, or the tag itself is cut.
    await send(peer, `+x ${long}\r\n${long}\r\nc NOOP\r\n`);
    assert.deepEqual(await read({ maxLine: 100 }), { tooLong: true, tag: undefined });
    assert.deepEqual(await read({ maxLine: 100 }), { tooLong: true, tag: undefined });
    assert.deepEqual(await read({ maxLine: 100 }), { parts: ["c NOOP"] });
    // Exactly maxLine is fine; one more is not.
    await send(peer, `${"d".repeat(100)}\r\n${"e".repeat(101)}\r\n`);
    assert.deepEqual(await read({ maxLine: 100 }), { parts: ["d".repeat(100)] });
    assert.deepEqual(await read({ maxLine: 100 }), { tooLong: true, tag: undefined });
    assert.equal(continuations(), 0);
  });
});

Deno.test("readCommand() discards the literal an over-long line announces", async () => {
  await withPair(async ({ peer, read, continuations }) => {
    const long = "x".repeat(5000);
    // Non-synchronising: the data follows at once and must not be read as commands.
    await send(peer, `a LOGIN ${long} {14+}\r\nz DELETE INBOX\r\nb NOOP\r\n`);
    assert.deepEqual(await read({ maxLine: 100 }), { tooLong: true, tag: "a" });
    assert.deepEqual(await read({ maxLine: 100 }), { parts: ["b NOOP"] });
    // Synchronising: no continuation, so the client sends nothing more.
    await send(peer, `c LOGIN ${long} {14}\r\nd NOOP\r\n`);
    assert.deepEqual(await read({ maxLine: 100 }), { tooLong: true, tag: "c" });
    assert.deepEqual(await read({ maxLine: 100 }), { parts: ["d NOOP"] });
    // A later line of the command too long.
    await send(peer, `e LOGIN {1+}\r\nu ${long}\r\nf NOOP\r\n`);
    assert.deepEqual(await read({ maxLine: 100 }), { tooLong: true, tag: "e" });
    assert.deepEqual(await read({ maxLine: 100 }), { parts: ["f NOOP"] });
    assert.equal(continuations(), 0);
  });
});

Deno.test("readCommand() leaves malformed literal markers to the parser", async () => {
  const table: [string, RegExp][] = [
    ["a LOGIN {abc}", /invalid literal at "\{abc\}"/],
    ["a LOGIN {5", /invalid literal at "\{5"/],
    ["a LOGIN {5 }", /invalid literal/],
    ["a LOGIN {-1}", /invalid literal/],
    ["a LOGIN {+}", /invalid literal/],
    ["a LOGIN {5++}", /invalid literal/],
    ["a LOGIN x{5}x", /expected a space/],
  ];
  await withPair(async ({ peer, read, continuations }) => {
    for (const [line, message] of table) {
      await send(peer, line + "\r\n");
      const raw = await read();
      assert.deepEqual(raw, { parts: [line] }, line);
      assert.throws(() => parseCommand(raw as { parts: string[] }), (err) => {
        assert.ok(err instanceof ImapParseError);
        assert.match(err.message, message, line);
        assert.equal(err.tag, "a");
        return true;
      });
    }
    assert.equal(continuations(), 0);
  });
});

Deno.test("readCommand() returns null when a literal is cut short by end of input", async () => {
  await withPair(async ({ peer, read }) => {
    peer.end("a LOGIN {10+}\r\nabc");
    await tick();
    assert.equal(await read(), null);
  });
  await withPair(async ({ peer, read, onPlus, continuations }) => {
    onPlus("abc");
    await send(peer, "a LOGIN {10}\r\n");
    const reading = read();
    await tick();
    peer.end();
    assert.equal(await reading, null);
    assert.equal(continuations(), 1);
  });
  // Also while discarding an oversized literal, and in the line after a literal.
  await withPair(async ({ peer, read }) => {
    peer.end("a LOGIN {100+}\r\nabc");
    await tick();
    assert.equal(await read({ maxLiteral: 10 }), null);
  });
  await withPair(async ({ peer, read }) => {
    peer.end("a LOGIN {3+}\r\nabc pass");
    await tick();
    assert.equal(await read(), null);
  });
});

Deno.test("readCommand() lets a shutdown end the wait for a command, not a command", async () => {
  await withPair(async ({ conn, peer, read, onPlus }) => {
    onPlus("alice x\r\n");
    await send(peer, "a LOGIN {5}\r\n");
    const reading = read();
    conn.shutdown();
    assert.deepEqual(await reading, { parts: ["a LOGIN {5}", bytes("alice"), " x"] });
    await assert.rejects(read(), ConnectionShutdown);
  });
});

Deno.test("readCommand() output parses: a whole APPEND over the wire", async () => {
  await withPair(async ({ peer, read, onPlus }) => {
    const message = bytes("Subject: hi\r\n\r\nbody\r\n");
    onPlus(message, "\r\n");
    await send(
      peer,
      `A3 APPEND Drafts (\\Draft) "05-Mar-2024 09:00:00 +0100" {${message.length}}\r\n`,
    );
    const raw = await read();
    assert.ok(raw && "parts" in raw);
    assert.deepEqual(parseCommand(raw), {
      tag: "A3",
      name: "APPEND",
      args: {
        mailbox: "Drafts",
        flags: ["\\Draft"],
        date: new Date("2024-03-05T08:00:00Z"),
        message,
      },
    });
  });
});
