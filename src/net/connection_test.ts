import assert from "node:assert/strict";
import { type Duplex, duplexPair } from "node:stream";
import tls from "node:tls";
import {
  Connection,
  ConnectionClosed,
  ConnectionShutdown,
  ConnectionTimeout,
  type Line,
  type TlsInfo,
} from "./connection.ts";
import { createSelfSigned } from "./dev_cert.ts";
import { secureContext } from "./tls.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A Connection on one end of an in-memory pair; `peer` is the client's end. */
interface Pair {
  conn: Connection;
  peer: Duplex;
}

/** Runs `fn` with a fresh in-memory pair and destroys both ends afterwards. */
async function withPair(
  fn: (pair: Pair) => Promise<void>,
  idleTimeoutMs = 10_000,
): Promise<void> {
  const [server, peer] = duplexPair();
  const conn = new Connection(server, {
    id: "test",
    remoteAddress: "192.0.2.1",
    remotePort: 40000,
    localAddress: "192.0.2.2",
    localPort: 25,
    idleTimeoutMs,
  });
  try {
    await fn({ conn, peer });
  } finally {
    conn.destroy();
    peer.destroy();
  }
}

/** Lets pending I/O callbacks and timers of 0 ms run. */
function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Writes to the pair and lets it deliver, so that the data is in the connection's buffer
 * before the next read starts (see the ignored test below for why that matters).
 */
async function send(peer: Duplex, data: string): Promise<void> {
  peer.write(data);
  await tick();
}

function text(line: Line | null): string | null {
  return line === null ? null : decoder.decode(line.bytes);
}

/** Tracks whether a promise has settled, without letting a rejection go unhandled. */
function track<T>(promise: Promise<T>) {
  const state = { settled: false, promise };
  promise.then(() => state.settled = true, () => state.settled = true);
  return state;
}

// ---------------------------------------------------------------------------
// readLine()

const lineCases: [name: string, input: string, want: [string, boolean][]][] = [
  ["a CRLF line", "NOOP\r\n", [["NOOP", true]]],
  ["a bare LF line", "NOOP\n", [["NOOP", false]]],
  ["an empty CRLF line", "\r\n", [["", true]]],
  ["an empty bare LF line", "\n", [["", false]]],
  ["a bare CR inside a line", "A\rB\r\n", [["A\rB", true]]],
  ["a CR before CRLF", "A\r\r\n", [["A\r", true]]],
  ["pipelined lines of both kinds", "EHLO x\r\nMAIL\nRCPT\r\n", [
    ["EHLO x", true],
    ["MAIL", false],
    ["RCPT", true],
  ]],
  ["UTF-8 text", "HELO bücher.example\r\n", [["HELO bücher.example", true]]],
];

for (const [name, input, want] of lineCases) {
  Deno.test(`Connection.readLine() reads ${name}`, async () => {
    await withPair(async ({ conn, peer }) => {
      await send(peer, input);
      for (const [line, crlf] of want) {
        const got = await conn.readLine(512);
        assert.ok(got);
        assert.deepEqual([text(got), got.crlf, got.tooLong], [line, crlf, false]);
      }
      assert.equal(conn.buffered, 0);
    });
  });
}

Deno.test("Connection.readLine() assembles a line split across many chunks", async () => {
  await withPair(async ({ conn, peer }) => {
    const wire = "MAIL FROM:<alice@example.com> SIZE=1000\r\nNEXT\r\n";
    const reading = conn.readLine(512);
    for (const ch of wire) {
      peer.write(ch);
      await tick();
    }
    const line = await reading;
    assert.deepEqual([text(line), line?.crlf, line?.tooLong], [
      "MAIL FROM:<alice@example.com> SIZE=1000",
      true,
      false,
    ]);
    assert.equal(text(await conn.readLine(512)), "NEXT");
  });
});

const lengthCases: [name: string, length: number, tooLong: boolean][] = [
  ["a line of exactly the limit", 10, false],
  ["a line one over the limit", 11, true],
  ["a line far over the limit", 1000, true],
];

for (const [name, length, tooLong] of lengthCases) {
  Deno.test(`Connection.readLine() flags ${name} and reads on after it`, async () => {
    await withPair(async ({ conn, peer }) => {
      await send(peer, "X".repeat(length) + "\r\nNEXT\r\n");
      const line = await conn.readLine(10);
      assert.ok(line);
      assert.equal(line.tooLong, tooLong);
      assert.equal(line.crlf, true);
      assert.equal(text(line), "X".repeat(Math.min(length, 10)));
      const next = await conn.readLine(10);
      assert.deepEqual([text(next), next?.tooLong], ["NEXT", false]);
    });
  });
}

Deno.test("Connection.readLine() drops an over-long line as it streams in", async () => {
  await withPair(async ({ conn, peer }) => {
    const reading = conn.readLine(100);
    let most = 0;
    for (let i = 0; i < 200; i++) {
      peer.write(String(i % 10).repeat(100));
      await tick();
      most = Math.max(most, conn.buffered);
    }
    // The CR ends one chunk and the LF starts the next: still a CRLF line.
    peer.write("\r");
    await tick();
    peer.write("\nNEXT\r\n");
    const line = await reading;
    assert.ok(line);
    assert.equal(line.tooLong, true);
    assert.equal(line.crlf, true);
    assert.equal(text(line), "0".repeat(100));
    assert.ok(most <= 202, `buffered up to ${most} bytes of a line being thrown away`);
    assert.equal(text(await conn.readLine(100)), "NEXT");
  });
});

// Input that arrives while fill() drains queued output (data written before the stream flowed,
// a pipelined command arriving while a large reply waits for "drain") must count as new input.
Deno.test({
  name: "Connection.readLine() reads input that arrives while it flushes output",
  fn: async () => {
    await withPair(async ({ conn, peer }) => {
      peer.write("NOOP\r\n");
      assert.equal(text(await conn.readLine(512)), "NOOP");
    }, 500);
    // A pipelining peer sends its next command while a 40 KB reply waits for "drain".
    await withPair(async ({ conn, peer }) => {
      let sent = false;
      peer.on("data", () => {
        if (!sent) peer.write("NEXT\r\n");
        sent = true;
      });
      await tick();
      await conn.write("x".repeat(40_000) + "\r\n");
      assert.equal(text(await conn.readLine(512)), "NEXT");
    }, 500);
  },
});

Deno.test("Connection.readLine() returns null at end of input and drops a fragment", async () => {
  await withPair(async ({ conn, peer }) => {
    peer.end("LAST\r\nPARTIAL");
    await tick();
    assert.equal(text(await conn.readLine(512)), "LAST");
    assert.equal(await conn.readLine(512), null);
    assert.equal(await conn.readLine(512), null);
  });
});

Deno.test("Connection.readLine() returns null when the peer ends while it waits", async () => {
  await withPair(async ({ conn, peer }) => {
    const reading = conn.readLine(512);
    await tick();
    peer.end();
    assert.equal(await reading, null);
  });
});

// ---------------------------------------------------------------------------
// readExact()

Deno.test("Connection.readExact() reads across chunks and leaves the rest", async () => {
  await withPair(async ({ conn, peer }) => {
    await send(peer, "abc");
    const reading = conn.readExact(5);
    await tick();
    peer.write("defg\r\n");
    assert.equal(decoder.decode(await reading), "abcde");
    assert.equal(text(await conn.readLine(512)), "fg");
    assert.deepEqual(await conn.readExact(0), new Uint8Array(0));
  });
});

Deno.test("Connection.readExact() throws ConnectionClosed at end of input", async () => {
  await withPair(async ({ conn, peer }) => {
    peer.end("ab");
    await tick();
    await assert.rejects(conn.readExact(5), ConnectionClosed);
  });
});

// ---------------------------------------------------------------------------
// Timeouts and shutdown

Deno.test("Connection.readLine() throws ConnectionTimeout after the idle timeout", async () => {
  await withPair(async ({ conn, peer }) => {
    await send(peer, "NO END");
    const start = performance.now();
    await assert.rejects(conn.readLine(512), ConnectionTimeout);
    assert.ok(performance.now() - start >= 20);
  }, 30);
});

Deno.test("Connection.readExact() throws ConnectionTimeout after the idle timeout", async () => {
  await withPair(async ({ conn }) => {
    await assert.rejects(conn.readExact(1), ConnectionTimeout);
  }, 30);
});

Deno.test("Connection.idleTimeoutMs may be changed by the session", async () => {
  await withPair(async ({ conn }) => {
    conn.idleTimeoutMs = 20;
    await assert.rejects(conn.readLine(512), ConnectionTimeout);
  });
});

Deno.test("Connection.shutdown() interrupts a read waiting between commands", async () => {
  await withPair(async ({ conn }) => {
    const reading = conn.readLine(512, { betweenCommands: true });
    await tick();
    conn.shutdown();
    await assert.rejects(reading, ConnectionShutdown);
    // And any later read between commands fails at once.
    await assert.rejects(conn.readLine(512, { betweenCommands: true }), ConnectionShutdown);
  });
});

Deno.test("Connection.shutdown() does not interrupt a read inside a command", async () => {
  await withPair(async ({ conn, peer }) => {
    const reading = track(conn.readLine(512));
    await tick();
    conn.shutdown();
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(reading.settled, false, "the read went on waiting");
    peer.write("DATA LINE\r\n");
    assert.equal(text(await reading.promise), "DATA LINE");
    const exact = conn.readExact(3);
    peer.write("xyz");
    assert.equal(decoder.decode(await exact), "xyz");
  });
});

Deno.test("Connection.shutdown() still lets pipelined commands already received be read", async () => {
  await withPair(async ({ conn, peer }) => {
    await send(peer, "RSET\r\nQUIT\r\n");
    conn.shutdown();
    assert.equal(text(await conn.readLine(512, { betweenCommands: true })), "RSET");
    assert.equal(text(await conn.readLine(512, { betweenCommands: true })), "QUIT");
    await assert.rejects(conn.readLine(512, { betweenCommands: true }), ConnectionShutdown);
  });
});

// ---------------------------------------------------------------------------
// write() and close()

/** Collects what the peer receives. */
function received(peer: Duplex): () => string {
  const chunks: Buffer[] = [];
  peer.on("data", (chunk: Buffer) => chunks.push(chunk));
  return () => Buffer.concat(chunks).toString();
}

/** Lets the pair deliver until `done()` or a bounded number of turns. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await tick();
}

Deno.test("Connection.write() reaches the peer on flush()", async () => {
  await withPair(async ({ conn, peer }) => {
    const got = received(peer);
    await conn.write("220 ready\r\n");
    await conn.write(encoder.encode("250 ok\r\n"));
    await conn.flush();
    await until(() => got().length >= 19);
    assert.equal(got(), "220 ready\r\n250 ok\r\n");
  });
});

Deno.test("Connection.write() output is sent before a read waits for the peer", async () => {
  await withPair(async ({ conn, peer }) => {
    // The peer answers in a later turn, as over a network.
    peer.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("354")) setTimeout(() => peer.write("the reply arrived\r\n"));
    });
    await tick();
    await conn.write("354 go ahead\r\n");
    assert.equal(text(await conn.readLine(512)), "the reply arrived");
  });
});

Deno.test("Connection.write() sends a large output without an explicit flush", async () => {
  await withPair(async ({ conn, peer }) => {
    const got = received(peer);
    const big = "x".repeat(1024 * 1024) + "\r\n";
    await conn.write(big);
    await until(() => got().length >= big.length);
    assert.equal(got(), big);
  });
});

Deno.test("Connection.close() sends queued output first", async () => {
  await withPair(async ({ conn, peer }) => {
    const got = received(peer);
    peer.on("end", () => peer.end());
    await conn.write("221 bye\r\n");
    await conn.close();
    assert.equal(conn.isClosed, true);
    assert.equal(got(), "221 bye\r\n");
  });
});

Deno.test("Connection.write() and close() after the connection closed do nothing", async () => {
  await withPair(async ({ conn, peer }) => {
    peer.on("end", () => peer.end());
    peer.resume();
    await conn.close();
    assert.equal(conn.isClosed, true);
    await conn.write("421 too late\r\n");
    await conn.flush();
    await conn.close();
    assert.equal(await conn.readLine(512), null);
  });
});

// ---------------------------------------------------------------------------
// startTls()

/** Resolves with the first data the peer receives that contains `text`. */
function nextReply(peer: Duplex, text: string): Promise<string> {
  return new Promise((resolve) => {
    const onData = (chunk: Buffer) => {
      if (!chunk.toString().includes(text)) return;
      peer.off("data", onData);
      resolve(chunk.toString());
    };
    peer.on("data", onData);
  });
}

/** A client TLS socket over `peer` that trusts anything (the dev certificate is self-signed). */
function tlsClient(peer: Duplex): { socket: tls.TLSSocket; connected: Promise<void> } {
  const socket = tls.connect({ socket: peer, rejectUnauthorized: false, servername: "localhost" });
  const connected = new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", resolve);
    socket.once("error", reject);
  });
  return { socket, connected };
}

/** The TLS info, read through a call so that earlier assertions do not narrow its type. */
function tlsOf(conn: Connection): TlsInfo | undefined {
  return conn.tls;
}

Deno.test("Connection.startTls() discards pipelined plaintext and reads over TLS", async () => {
  const pem = await createSelfSigned("localhost");
  await withPair(async ({ conn, peer }) => {
    // STARTTLS injection (CVE-2011-0411): a command sent in the clear right after STARTTLS.
    await send(peer, "STARTTLS\r\nRSET INJECTED\r\n");
    assert.equal(text(await conn.readLine(512)), "STARTTLS");
    assert.equal(conn.buffered, "RSET INJECTED\r\n".length);
    assert.equal(conn.tls, undefined);

    const ready = nextReply(peer, "220");
    await conn.write("220 Ready to start TLS\r\n");
    const upgrading = conn.startTls(secureContext(pem.cert, pem.key));
    // Like a real client, start the handshake once the 220 has arrived.
    assert.equal(await ready, "220 Ready to start TLS\r\n");
    await tick();
    const client = tlsClient(peer);
    try {
      await client.connected;
      assert.equal(await upgrading, "RSET INJECTED\r\n".length);
      const info = tlsOf(conn);
      assert.ok(info, "tls info is set");
      assert.match(info.protocol, /^TLSv1\.[23]$/);
      assert.ok(info.cipher.length > 0);

      client.socket.write("EHLO client.example\r\n");
      await until(() => conn.buffered > 0);
      const line = await conn.readLine(512);
      assert.deepEqual([text(line), line?.crlf], ["EHLO client.example", true]);

      const reply = new Promise<string>((resolve) =>
        client.socket.once("data", (d: Buffer) => resolve(d.toString()))
      );
      await conn.write("250 secure\r\n");
      await conn.flush();
      assert.equal(await reply, "250 secure\r\n");
    } finally {
      client.socket.destroy();
    }
  });
});

Deno.test("Connection.startTls() rejects when the peer does not speak TLS", async () => {
  const pem = await createSelfSigned("localhost");
  await withPair(async ({ conn, peer }) => {
    const upgrading = conn.startTls(secureContext(pem.cert, pem.key));
    await tick();
    peer.on("data", () => {}); // take whatever the server sends
    peer.write("THIS IS NOT A CLIENT HELLO\r\n");
    await assert.rejects(upgrading, (err) => !(err instanceof ConnectionTimeout));
  }, 5000);
});
