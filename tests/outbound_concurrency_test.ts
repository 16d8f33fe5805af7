/**
 * The queue runner's caps: at most `[queue] per_domain` deliveries at once to
 * one destination domain and at most `[queue] concurrency` in all, measured
 * at a slow receiver that counts its simultaneous sessions; every message
 * still arrives, once.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  message,
  startOutbound,
  startRemote,
  submit,
  waitForEmptyQueue,
} from "./support/outbound_fixture.ts";
import { messageText, type SmtpSink } from "./support/smtp_sink.ts";

/** The subjects the sink received, sorted. */
function subjects(sink: SmtpSink): string[] {
  return sink.delivered.map((t) => /^Subject: (.*)\r$/m.exec(messageText(t))?.[1] ?? "?").sort();
}

Deno.test("per-domain concurrency: a slow MX never sees more than per_domain sessions", async () => {
  await using remote = await startRemote({ dataDelayMs: 300 }, ["slow.test"]);
  const sink = remote.sink;
  await using server = await startOutbound({
    args: remote.args,
    env: { POSTINO_QUEUE_PER_DOMAIN: "2" },
  });
  const count = 12;
  const expected = Array.from({ length: count }, (_, i) => `msg ${String(i).padStart(2, "0")}`);
  await Promise.all(
    expected.map((subject, i) =>
      submit(server, { to: [`user${i}@slow.test`], message: message(ALICE.user, subject) })
    ),
  );
  await sink.waitFor(() => sink.delivered.length >= count, 30_000, `${count} messages`);
  await waitForEmptyQueue(server);
  assert.deepEqual(subjects(sink), expected, "every message arrived, once");
  assert.equal(sink.delivered.length, count);
  assert.ok(sink.maxActive <= 2, `at most 2 sessions at once, saw ${sink.maxActive}`);
  assert.equal(sink.maxActive, 2, "the two allowed sessions were used");
});

Deno.test("global concurrency: several domains together stay under [queue] concurrency", async () => {
  const domains = ["a.test", "b.test", "c.test"];
  await using remote = await startRemote({ dataDelayMs: 300 }, domains);
  const sink = remote.sink;
  await using server = await startOutbound({
    args: remote.args,
    env: { POSTINO_QUEUE_CONCURRENCY: "3", POSTINO_QUEUE_PER_DOMAIN: "4" },
  });
  const expected: string[] = [];
  const sends: Promise<void>[] = [];
  for (const d of domains) {
    for (let i = 0; i < 3; i++) {
      const subject = `${d} ${i}`;
      expected.push(subject);
      sends.push(submit(server, { to: [`user${i}@${d}`], message: message(ALICE.user, subject) }));
    }
  }
  await Promise.all(sends);
  await sink.waitFor(() => sink.delivered.length >= expected.length, 30_000, "every message");
  await waitForEmptyQueue(server);
  assert.deepEqual(subjects(sink), expected.sort());
  assert.ok(sink.maxActive <= 3, `at most 3 sessions at once, saw ${sink.maxActive}`);
  assert.ok(sink.maxActive >= 2, `deliveries ran side by side, saw ${sink.maxActive}`);
});
