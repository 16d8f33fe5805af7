/**
 * A 10 MiB message end to end: delivered with Python's smtplib, then read
 * back with poplib and with a raw socket, byte for byte, with TOP on it, all
 * within a time bound.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import {
  assertAllOk,
  assertDelivered,
  deliver,
  large,
  login,
  poplib,
  RawPop3,
  startPop3Server,
  unstuff,
  USERS,
} from "./support/pop3_fixture.ts";

const MiB = 1024 * 1024;
/** The whole test must finish within this (it takes a few seconds). */
const BOUND_MS = 45_000;
const decoder = new TextDecoder();

Deno.test("POP3 serves a 10 MiB message byte for byte to poplib and a raw client", async () => {
  const started = Date.now();
  await using pop = await startPop3Server();
  const message = large(10 * MiB);
  await deliver(pop.smtp, [message]);
  const dir = await Deno.makeTempDir({ prefix: "postino-pop3-large-" });
  try {
    const saved = join(dir, "retr.eml");
    const r = await poplib([
      ...login(pop.pop3),
      { op: "list" },
      { op: "retr", arg: 1, save: saved },
      { op: "top", arg: 1, lines: 0 },
      { op: "top", arg: 1, lines: 3 },
      { op: "quit" },
    ], BOUND_MS);
    assertAllOk(r);
    const got = await Deno.readFile(saved);
    assertDelivered(got, message, "the 10 MiB message");
    const size = Number(r[3].lines![0].split(" ")[1]);
    assert.equal(got.length, size, "LIST size is what RETR sends");
    assert.equal(r[4].octets, size);
    const top0 = Buffer.from(r[5].data!, "base64");
    const top3 = Buffer.from(r[6].data!, "base64");
    const headEnd = Buffer.from(got).indexOf("\r\n\r\n") + 4;
    assert.deepEqual(new Uint8Array(top0), got.subarray(0, headEnd));
    let end = headEnd;
    for (let i = 0; i < 3; i++) end = got.indexOf(0x0a, end) + 1;
    assert.deepEqual(new Uint8Array(top3), got.subarray(0, end));

    // The raw wire: dot-stuffed, and exactly LIST's size once unstuffed.
    const { client } = await RawPop3.connect(pop.pop3);
    using _ = client;
    await client.send(
      `USER ${USERS.alice.address}\r\nPASS ${USERS.alice.password}\r\nRETR 1\r\nQUIT\r\n`,
    );
    assert.match(await client.line(), /^\+OK/);
    assert.match(await client.line(), /^\+OK/);
    assert.match(await client.line(), new RegExp(`^\\+OK`));
    const wire = await client.multiline();
    const dotted = decoder.decode(wire).split("\r\n").filter((l) => l.startsWith(".")).length;
    const original = decoder.decode(got).split("\r\n").filter((l) => l.startsWith(".")).length;
    assert.ok(original > 1000, "the message has many lines starting with a dot");
    assert.equal(wire.length, got.length + original, "one stuffed dot per such line");
    assert.equal(dotted, original);
    assert.ok(Buffer.from(unstuff(wire)).equals(Buffer.from(got)), "raw RETR equals poplib's");
    assert.match(await client.line(), /^\+OK/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(Date.now() - started < BOUND_MS, `took ${Date.now() - started} ms`);
});
