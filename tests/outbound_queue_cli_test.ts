/**
 * `postino queue list|retry|del` against a running server: what the list
 * shows for deferred recipients, `del` removes a message so it is never
 * delivered, `retry` makes one due so the runner delivers it within seconds,
 * and unknown or malformed ids fail with one line.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  message,
  parseQueueList,
  queueList,
  queueRetry,
  startOutbound,
  startRemote,
  submit,
  waitForAttempts,
  waitForEmptyQueue,
} from "./support/outbound_fixture.ts";
import type { CliResult } from "./support/server.ts";
import { messageText } from "./support/smtp_sink.ts";

/** Asserts a failure with one line on stderr, nothing on stdout and no stack trace. */
function assertFails(r: CliResult, code: number, line: RegExp): void {
  assert.equal(r.code, code, `exit status; stderr: ${r.stderr}`);
  const lines = r.stderr.split("\n").filter((l) => l.trim() !== "");
  assert.equal(lines.length, 1, `one line on stderr: ${r.stderr}`);
  assert.match(lines[0], line);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
  assert.equal(r.stdout, "");
}

Deno.test("queue list, retry and del act on the running server's queue", async (t) => {
  await using remote = await startRemote({ script: { data: () => "451 4.7.1 Greylisted" } });
  const sink = remote.sink;
  await using server = await startOutbound({ args: remote.args });

  await t.step("an empty queue says so", async () => {
    const r = await server.cli(["queue", "list"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), "The queue is empty");
    assert.deepEqual(parseQueueList(r.stdout), []);
  });

  await submit(server, { to: ["doomed@remote.test"], message: message(ALICE.user, "doomed") });
  await submit(server, {
    to: ["two@remote.test", "one@remote.test"],
    message: message(ALICE.user, "keeper"),
  });
  await waitForAttempts(server, "doomed@remote.test", 1);
  await waitForAttempts(server, "one@remote.test", 1);
  await waitForAttempts(server, "two@remote.test", 1);
  const items = await queueList(server);
  const [doomed, keeper] = items;

  await t.step(
    "list shows every item and recipient with status, attempts, next and error",
    async () => {
      const r = await server.cli(["queue", "list"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.match(r.stdout, /^\d+\tfrom=<alice@localhost>\tsize=\d+\tage=0m\n/);
      assert.equal(items.length, 2);
      assert.ok(doomed.id < keeper.id, "oldest first");
      assert.deepEqual(doomed.recipients.map((x) => x.address), ["doomed@remote.test"]);
      assert.deepEqual(keeper.recipients.map((x) => x.address), [
        "one@remote.test",
        "two@remote.test",
      ]);
      for (const x of [...doomed.recipients, ...keeper.recipients]) {
        assert.equal(x.status, "pending");
        assert.equal(x.attempts, 1);
        assert.ok(x.next && !Number.isNaN(Date.parse(x.next)), `an ISO next attempt: ${x.next}`);
        assert.match(x.error ?? "", /451 4\.7\.1 Greylisted/);
      }
    },
  );

  await t.step("list --json gives the same items as objects with their recipients", async () => {
    const r = await server.cli(["queue", "list", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "");
    const json = JSON.parse(r.stdout);
    assert.ok(Array.isArray(json));
    assert.deepEqual(json.map((i: { id: number }) => i.id), [doomed.id, keeper.id]);
    for (const [i, item] of json.entries()) {
      assert.equal(item.sender, "alice@localhost");
      assert.ok(Number.isInteger(item.size) && item.size > 0);
      assert.ok(!Number.isNaN(Date.parse(item.queuedAt)), item.queuedAt);
      assert.deepEqual(
        item.recipients.map((x: { address: string }) => x.address),
        items[i].recipients.map((x) => x.address),
      );
      for (const x of item.recipients) {
        assert.equal(x.status, "pending");
        assert.equal(x.attempts, 1);
        assert.ok(!Number.isNaN(Date.parse(x.nextAttemptAt)), x.nextAttemptAt);
        assert.match(x.lastError, /451 4\.7\.1 Greylisted/);
      }
    }
    assertFails(await server.cli(["queue", "del", String(doomed.id), "--json"]), 2, /--json/);
  });

  await t.step("del removes an item, which is then never delivered", async () => {
    const r = await server.cli(["queue", "del", String(doomed.id)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${doomed.id}`));
    assert.deepEqual((await queueList(server)).map((i) => i.id), [keeper.id]);
    assertFails(
      await server.cli(["queue", "retry", String(doomed.id)]),
      1,
      new RegExp(`^postino: .*${doomed.id}`),
    );
  });

  await t.step("retry makes an item due now and the runner delivers it", async () => {
    sink.script = {};
    const tried = sink.transactions.length;
    await queueRetry(server, keeper.id);
    await sink.waitFor(() => sink.delivered.length >= 1, 15_000, "the retried message");
    await waitForEmptyQueue(server);
    assert.equal(sink.transactions.length, tried + 1, "one more transaction");
    const [tx] = sink.delivered;
    assert.deepEqual([...tx.rcptTo].sort(), ["one@remote.test", "two@remote.test"]);
    assert.match(messageText(tx), /^Subject: keeper\r$/m);
    assert.deepEqual(await queueList(server), []);
    // The deleted message never went out, not even on the runner's next rounds.
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(sink.delivered.length, 1);
    const doomedTries = sink.sessions.flatMap((s) => s.commands)
      .filter((c) => /^RCPT TO:<doomed@remote\.test>/i.test(c)).length;
    assert.equal(doomedTries, 1, "only the attempt before del");
  });

  await t.step("unknown ids exit 1 and malformed ones 2, with one line", async () => {
    for (const sub of ["retry", "del"]) {
      assertFails(await server.cli(["queue", sub, "987654"]), 1, /^postino: .*987654/);
      assertFails(await server.cli(["queue", sub, "abc"]), 2, /abc/);
    }
  });

  await t.step({
    name: "the id of a finished or deleted item is never given to a new one",
    fn: async () => {
      sink.script = { data: () => "451 4.7.1 Greylisted" };
      await submit(server, { to: ["new@remote.test"], message: message(ALICE.user, "new") });
      const [fresh] = await queueList(server);
      assert.ok(fresh, "the new message is queued");
      assert.ok(
        fresh.id > keeper.id,
        `new id ${fresh.id}; ids already used: ${doomed.id}, ${keeper.id}`,
      );
    },
  });
});
