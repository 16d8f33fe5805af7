/**
 * Temporary and permanent failures at the remote MX: a 451 is retried (made
 * due at once with `postino queue retry`) and then delivered exactly once;
 * a 550 for one recipient bounces that recipient alone with an RFC 3464
 * report quoting the remote reply, and the recipients already delivered are
 * never sent again.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  assertDsn,
  header,
  HOSTNAME,
  inbox,
  message,
  queueList,
  queueRetry,
  startOutbound,
  startRemote,
  storedQueue,
  submit,
  waitForAttempts,
  waitForEmptyQueue,
  waitForInbox,
} from "./support/outbound_fixture.ts";
import { failFirst, messageText } from "./support/smtp_sink.ts";

Deno.test("451s are retried on the 1m, 5m schedule and delivered exactly once", async () => {
  await using remote = await startRemote({ script: { data: failFirst(2) } });
  await using server = await startOutbound({ args: remote.args });
  const text = message(ALICE.user, "try again");
  await submit(server, { to: ["friend@remote.test"], message: text });

  /** The item after `attempts` attempts, checking that the next comes after `delayMs`. */
  const deferred = async (attempts: number, delayMs: number) => {
    await waitForAttempts(server, "friend@remote.test", attempts);
    const [item] = await queueList(server);
    assert.equal(item.from, ALICE.user);
    assert.ok(item.size > text.length, `size counts our Received header too: ${item.size}`);
    assert.deepEqual(item.recipients.map((r) => [r.address, r.status, r.attempts]), [
      ["friend@remote.test", "pending", attempts],
    ]);
    const wait = Date.parse(item.recipients[0].next ?? "") - Date.now();
    assert.ok(wait > delayMs - 15_000 && wait <= delayMs, `next in ${wait} ms, not ${delayMs}`);
    assert.match(item.recipients[0].error ?? "", /451 4\.3\.0 Try again later/);
    assert.equal(remote.sink.delivered.length, 0);
    return item;
  };

  const item = await deferred(1, 60_000);
  await queueRetry(server, item.id);
  await deferred(2, 300_000);
  await queueRetry(server, item.id);
  await remote.sink.waitFor(() => remote.sink.delivered.length >= 1, 15_000, "the retried copy");
  await waitForEmptyQueue(server);
  assert.equal(remote.sink.transactions.length, 3, "two refused tries and the accepted one");
  assert.equal(remote.sink.delivered.length, 1, "exactly one delivered copy");
  assert.ok(messageText(remote.sink.delivered[0]).endsWith(text));
  assert.deepEqual(await queueList(server), [], "queue list is empty afterwards");
});

Deno.test("550 for one recipient bounces it alone; delivered recipients are never resent", async (t) => {
  const unknown = "550 5.1.1 <gone@remote.test>: Recipient address rejected: User unknown";
  await using remote = await startRemote({
    script: {
      rcpt: (to, ctx) =>
        to === "gone@remote.test"
          ? unknown
          : to === "later@remote.test" && ctx.attempt === 1
          ? "451 4.2.1 Mailbox busy, try later"
          : undefined,
    },
  });
  const sink = remote.sink;
  await using server = await startOutbound({ args: remote.args });
  const text = message(ALICE.user, "mixed fortunes");
  await submit(server, {
    to: ["ok@remote.test", "gone@remote.test", "later@remote.test"],
    message: text,
  });

  const box = await waitForInbox(server, ALICE.user, 0);
  await waitForAttempts(server, "later@remote.test", 1);
  const dsn = box.at(-1)!;

  await t.step("one transaction carried every recipient; the accepted one got the message", () => {
    assert.equal(sink.transactions.length, 1);
    assert.deepEqual(sink.transactions[0].rcptTo, ["ok@remote.test"]);
    assert.ok(messageText(sink.transactions[0]).endsWith(text));
  });

  await t.step("the DSN names the failed recipient and quotes the remote reply", () => {
    assert.equal(box.length, 1, "exactly one bounce");
    const report = assertDsn(dsn, "gone@remote.test", "5.1.1");
    assert.match(
      report,
      /^Diagnostic-Code: smtp; .*550 5\.1\.1 <gone@remote\.test>: Recipient address rejected: User unknown/m,
    );
    assert.match(report, /^Remote-MTA: dns; ?mx\.remote\.test\r?$/m);
    assert.doesNotMatch(report, /ok@remote\.test/, "the delivered recipient is not reported");
    assert.doesNotMatch(report, /later@remote\.test/, "the deferred recipient is not reported yet");
    assert.match(header(dsn, "From") ?? "", new RegExp(`<MAILER-DAEMON@${HOSTNAME}>`));
    assert.equal(header(dsn, "To"), `<${ALICE.user}>`);
    assert.ok(header(dsn, "Message-ID"), "a Message-ID");
    assert.ok(header(dsn, "Date"), "a Date");
    assert.equal(header(dsn, "Auto-Submitted"), "auto-replied");
    // RFC 6522: the original header section is attached.
    assert.match(dsn, /^Content-Type: text\/rfc822-headers\r$/m);
    assert.match(dsn, /^Subject: mixed fortunes\r$/m);
    assert.doesNotMatch(dsn, /Hello from Postino/, "headers only, not the body");
  });

  await t.step("queue list shows each recipient's fate", async () => {
    const [item] = await queueList(server);
    const byAddress = new Map(item.recipients.map((r) => [r.address, r]));
    assert.equal(byAddress.get("ok@remote.test")?.status, "delivered");
    assert.equal(byAddress.get("gone@remote.test")?.status, "failed");
    assert.match(byAddress.get("gone@remote.test")?.error ?? "", /550 5\.1\.1/);
    assert.equal(byAddress.get("later@remote.test")?.status, "pending");
    assert.equal(byAddress.get("later@remote.test")?.attempts, 1);
    assert.match(byAddress.get("later@remote.test")?.error ?? "", /451 4\.2\.1/);
  });

  await t.step("a retry sends to the deferred recipient only", async () => {
    const [{ queueId }] = storedQueue(server);
    await queueRetry(server, queueId);
    await sink.waitFor(() => sink.delivered.length >= 2, 15_000, "the retried recipient");
    await waitForEmptyQueue(server);
    assert.equal(sink.transactions.length, 2);
    assert.deepEqual(sink.transactions[1].rcptTo, ["later@remote.test"]);
    const rcpts = sink.sessions.flatMap((s) => s.commands).filter((c) => /^RCPT/i.test(c));
    assert.equal(rcpts.filter((c) => c.includes("ok@remote.test")).length, 1, "ok@ sent once");
    assert.equal(rcpts.filter((c) => c.includes("gone@remote.test")).length, 1, "gone@ once");
    assert.equal(inbox(server, ALICE.user).length, 1, "no second bounce");
  });
});

Deno.test({
  name: "a bounce reaches the sender's INBOX with the null envelope sender (Return-Path: <>)",
}, async () => {
  await using remote = await startRemote({
    script: { rcpt: () => "550 5.1.1 No such user here" },
  });
  await using server = await startOutbound({ args: remote.args });
  await submit(server, { to: ["gone@remote.test"], message: message(ALICE.user, "bounce me") });
  const [dsn] = await waitForInbox(server, ALICE.user, 0);
  assertDsn(dsn, "gone@remote.test", "5.1.1");
  // RFC 5321 §4.4: final delivery records the envelope sender as the first header field.
  assert.match(dsn, /^Return-Path: <>\r\n/, `a Return-Path first:\n${dsn.slice(0, 300)}`);
});
