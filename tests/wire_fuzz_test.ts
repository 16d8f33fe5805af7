/**
 * Garbage on every plain listener (SMTP, submission, POP3, IMAP): lines of
 * random bytes, NULs, 8-bit, broken literals and over-long lines, with a
 * fixed seed and a bounded count. Each session answers or hangs up; the
 * server never crashes, and a well-behaved client is served afterwards.
 */
import assert from "node:assert/strict";
import { startPostino } from "./support/server.ts";
import { random } from "./support/random.ts";

const WORDS = [
  "EHLO x",
  "MAIL FROM:<a@b>",
  "RCPT TO:<alice@localhost>",
  "DATA",
  "BDAT 5 LAST",
  "AUTH PLAIN",
  "STARTTLS",
  "USER alice",
  "PASS x",
  "RETR 1",
  "TOP 1 0",
  "STLS",
  "a LOGIN x y",
  "a SELECT INBOX",
  "a FETCH 1:* (BODY[])",
  "a APPEND INBOX {5}",
  "a APPEND INBOX {99999999999}",
  "a IDLE",
  "DONE",
  "a SEARCH OR OR OR",
  "a UID STORE 1 +FLAGS (\\Seen)",
  ".",
  "QUIT",
];

function garbageLine(rnd: () => number): Uint8Array {
  const kind = rnd();
  if (kind < 0.4) {
    // A real command word with random bytes after it.
    const word = new TextEncoder().encode(WORDS[Math.floor(rnd() * WORDS.length)]);
    const tail = Uint8Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256));
    return new Uint8Array([...word, ...tail.filter((b) => b !== 10 && b !== 13), 13, 10]);
  }
  if (kind < 0.9) {
    const bytes = Uint8Array.from(
      { length: Math.floor(rnd() * 200) },
      () => Math.floor(rnd() * 256),
    );
    return new Uint8Array([...bytes, 13, 10]);
  }
  return new Uint8Array([...new Uint8Array(70_000).fill(0x41), 13, 10]); // over any line cap
}

async function drain(conn: Deno.Conn, deadline: number): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  while (Date.now() < deadline) {
    const timer = setTimeout(() => conn.close(), Math.max(1, deadline - Date.now()));
    try {
      if (await conn.read(buf) === null) return;
    } catch {
      return; // closed by us at the deadline, or reset by the server
    } finally {
      clearTimeout(timer);
    }
  }
}

async function fuzzOnce(port: number, rnd: () => number): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const reading = drain(conn, Date.now() + 3_000);
  try {
    for (let i = 0; i < 40; i++) await conn.write(garbageLine(rnd));
  } catch {
    // the server hung up on us: allowed
  }
  try {
    conn.closeWrite();
  } catch {
    // already closed
  }
  await reading;
  try {
    conn.close();
  } catch {
    // already closed
  }
}

async function greets(port: number, expected: RegExp): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    assert.ok(n, "no greeting");
    assert.match(new TextDecoder().decode(buf.subarray(0, n!)), expected);
  } finally {
    conn.close();
  }
}

Deno.test("random bytes on every plain listener: sessions end cleanly, the server keeps serving", async () => {
  await using server = await startPostino({
    args: [
      "--dev",
      ...["--smtp", "127.0.0.1:0", "--submission", "127.0.0.1:0", "--pop3", "127.0.0.1:0"],
      ...["--imap", "127.0.0.1:0", "--submissions", "off", "--pop3s", "off", "--imaps", "off"],
    ],
  });
  const added = await server.cli(["user", "add", "alice@localhost", "--password-stdin"], "pw\n");
  assert.equal(added.code, 0, added.stderr);
  const ports = ["smtp", "submission", "pop3", "imap"].map((name) => server.addresses[name].port);
  const rnd = random(1129);
  for (let round = 0; round < 3; round++) {
    await Promise.all(ports.map((port) => fuzzOnce(port, rnd)));
  }
  assert.ok(server.running, `the server died:\n${server.logs().slice(-20).join("\n")}`);
  await greets(ports[0], /^220 /);
  await greets(ports[1], /^220 /);
  await greets(ports[2], /^\+OK /);
  await greets(ports[3], /^\* OK /);
  const crashes = server.logs().filter((l) => /uncaught|panic|internal error/i.test(l));
  assert.deepEqual(crashes, [], "no session ended in an internal error");
});
