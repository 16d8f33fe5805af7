/**
 * The outbound queue survives a restart: a message deferred before the
 * server is stopped (SIGKILL with the receiver answering 451, SIGTERM with
 * the receiver down) is delivered exactly once after `serve` starts again on
 * the same data directory and `postino queue retry` makes it due.
 */
import assert from "node:assert/strict";
import { startDnsStub } from "./support/dns_stub.ts";
import {
  ALICE,
  message,
  queueList,
  queueRetry,
  startOutbound,
  startRemote,
  storedQueue,
  submit,
  waitForAttempts,
  waitForEmptyQueue,
} from "./support/outbound_fixture.ts";
import { messageText, startSmtpSink } from "./support/smtp_sink.ts";

/** A data directory that outlives one server, removed at the end. */
async function dataDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "postino-outbound-restart-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("a deferred message survives SIGKILL and is delivered once after the restart", async () => {
  await using dir = await dataDir();
  await using remote = await startRemote({
    script: { data: () => "451 4.3.0 Not now" },
  });
  const sink = remote.sink;
  const text = message(ALICE.user, "survives a crash");
  await using before = await startOutbound({ args: remote.args, dataDir: dir.path });
  await submit(before, { to: ["friend@remote.test"], message: text });
  const { queueId } = await waitForAttempts(before, "friend@remote.test", 1);
  const { code } = await before.stop("SIGKILL");
  assert.notEqual(code, 0, "killed");
  assert.equal(sink.delivered.length, 0);

  sink.script = {};
  await using after = await startOutbound({ args: remote.args, dataDir: dir.path, restart: true });
  const [item] = await queueList(after);
  assert.equal(item?.id, queueId, "the item is still queued after the restart");
  assert.equal(item.recipients[0].status, "pending");
  assert.equal(item.recipients[0].attempts, 1);
  await queueRetry(after, queueId);
  await sink.waitFor(() => sink.delivered.length >= 1, 15_000, "the delivery after the restart");
  await waitForEmptyQueue(after);
  assert.equal(sink.delivered.length, 1, "exactly one copy");
  assert.ok(messageText(sink.delivered[0]).endsWith(text));
});

Deno.test("a message queued while the receiver is down survives SIGTERM and is delivered once", async () => {
  await using dir = await dataDir();
  // Find a free port for the receiver, then leave it closed: connections are refused.
  const probe = await startSmtpSink();
  const port = probe.port;
  await probe.close();
  await using dns = await startDnsStub({
    "remote.test": { MX: [{ preference: 10, exchange: "mx.remote.test" }] },
    "mx.remote.test": { A: ["127.0.0.1"] },
  });
  const args = ["--dns", dns.address, "--mx-port", String(port)];
  const text = message(ALICE.user, "survives a stop");

  await using before = await startOutbound({ args, dataDir: dir.path });
  await submit(before, { to: ["friend@remote.test"], message: text });
  const deferred = await waitForAttempts(before, "friend@remote.test", 1);
  assert.equal(deferred.status, "pending");
  assert.match(deferred.lastError ?? "", /connect|refused/i);
  const { code } = await before.stop("SIGTERM");
  assert.equal(code, 0, "a clean stop");

  await using sink = await startSmtpSink({ port });
  await using after = await startOutbound({ args, dataDir: dir.path, restart: true });
  assert.deepEqual(
    storedQueue(after).map((r) => [r.recipient, r.status, r.attempts]),
    [["friend@remote.test", "pending", 1]],
  );
  await queueRetry(after, deferred.queueId);
  await sink.waitFor(() => sink.delivered.length >= 1, 15_000, "the delivery after the restart");
  await waitForEmptyQueue(after);
  assert.equal(sink.delivered.length, 1, "exactly one copy");
  assert.ok(messageText(sink.delivered[0]).endsWith(text));
});
