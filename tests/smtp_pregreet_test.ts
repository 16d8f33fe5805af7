/**
 * The early-talker defence (`spam.pregreet`): on the MX listener the server
 * waits before its greeting; a client that talks first gets 554 and is
 * disconnected, one that waits (swaks, as every real MTA) is served.
 */
import assert from "node:assert/strict";
import { run } from "./support/inbound_fixture.ts";
import { startPostino } from "./support/server.ts";

const decoder = new TextDecoder();

/** Everything the server sends until it closes (bounded). */
async function readAll(conn: Deno.Conn, timeoutMs = 10_000): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += decoder.decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("spam.pregreet: a client that talks before the greeting is refused, a patient one served", async () => {
  await using server = await startPostino({
    args: ["--dev", "--hostname", "mx.test", "--smtp", "127.0.0.1:0"],
    env: { POSTINO_SPAM_PREGREET: "1" },
  });
  const added = await server.cli(["user", "add", "alice@localhost", "--password-stdin"], "pw-a\n");
  assert.equal(added.code, 0, added.stderr);
  const port = server.addresses.smtp.port;

  // An early talker: EHLO and MAIL at once, without waiting for the banner.
  const early = await Deno.connect({ hostname: "127.0.0.1", port });
  await early.write(new TextEncoder().encode("EHLO spambot.test\r\nMAIL FROM:<x@spam.test>\r\n"));
  const said = await readAll(early);
  early.close();
  assert.match(said, /^554 5\.7\.1 Protocol error: talking before the greeting\r\n$/, said);

  // A patient client waits for the banner, about a second late.
  const started = performance.now();
  const r = await run("swaks", [
    "--server",
    `127.0.0.1:${port}`,
    "--helo",
    "patient.test",
    "--from",
    "someone@remote.example",
    "--to",
    "alice@localhost",
    "--body",
    "waited for the greeting",
  ]);
  const waited = performance.now() - started;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(waited >= 900, `the greeting came after the wait (${Math.round(waited)} ms)`);
  assert.match(r.stdout, /<- {2}250 2\.0\.0 OK: queued as/);
  assert.ok(server.logs().some((l) => l.includes("talked before the greeting")));
});
