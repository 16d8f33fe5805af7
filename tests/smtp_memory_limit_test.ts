/**
 * `limits.memory`: a flood of 100 KiB messages over many smtplib
 * connections at once is slowed, not refused, and the server's resident set
 * (VmHWM, read from its /proc status) stays under the limit.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { run } from "./support/inbound_fixture.ts";
import { startPostino, withStore } from "./support/server.ts";

const CLIENT_PY = new URL("./support/smtp_client.py", import.meta.url).pathname;
/** Above what an idle server with its writer thread holds (~90 MiB), below an unchecked flood. */
const LIMIT_MIB = 128;
const ROUNDS = 5;
const AT_ONCE = 20;

function kib(status: string, field: string): number {
  return Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)![1]);
}

Deno.test("under limits.memory a flood of large messages is slowed, not refused, and stays under", async () => {
  await using server = await startPostino({
    args: ["--dev", "--hostname", "mx.test", "--smtp", "127.0.0.1:0"],
    env: { POSTINO_MEMORY_LIMIT: `${LIMIT_MIB}M` },
  });
  const added = await server.cli(["user", "add", "big@localhost", "--password-stdin"], "pw-big\n");
  assert.equal(added.code, 0, added.stderr);
  const line = "0123456789".repeat(7) + "\r\n";
  const message = new TextEncoder().encode(
    "From: flood@sender.test\r\nTo: big@localhost\r\nSubject: large\r\n\r\n" +
      line.repeat(Math.ceil(100 * 1024 / line.length)),
  );
  for (let round = 0; round < ROUNDS; round++) {
    const r = await run(
      "python3",
      [CLIENT_PY],
      JSON.stringify({
        host: "127.0.0.1",
        port: server.addresses.smtp.port,
        security: "plain",
        sender: "flood@sender.test",
        recipients: ["big@localhost"],
        message_b64: Buffer.from(message).toString("base64"),
        count: AT_ONCE,
        concurrency: AT_ONCE,
      }),
      120_000,
    );
    assert.equal(r.code, 0, r.stderr);
    const result = JSON.parse(r.stdout);
    assert.deepEqual(result.errors, [], `round ${round}: nothing refused`);
    assert.equal(result.sent, AT_ONCE);
  }
  const status = await Deno.readTextFile(`/proc/${server.pid}/status`);
  const peak = kib(status, "VmHWM");
  assert.ok(peak < LIMIT_MIB * 1024, `peak RSS ${peak} KiB under ${LIMIT_MIB} MiB`);
  const slowed = server.logs().some((l) => l.includes("slowing intake"));
  assert.ok(slowed, "the flood came near the limit and intake was slowed");
  const n = withStore(
    server,
    (s) => s.get<{ n: number }>("SELECT count(*) n FROM mailbox_entries")!.n,
  );
  assert.equal(n, ROUNDS * AT_ONCE, "every message stored");
});
