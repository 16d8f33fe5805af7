/**
 * Bounces: a bounce to a remote sender leaves with the null envelope sender,
 * a message with the null sender is never bounced, a message too old for the
 * queue bounces with 4.4.7, and a message the receiver cannot take (8-bit
 * content without 8BITMIME, too big for its SIZE, a UTF-8 address without
 * SMTPUTF8) bounces at once with a clear reason and is never sent.
 */
import assert from "node:assert/strict";
import { startDnsStub } from "./support/dns_stub.ts";
import {
  ALICE,
  assertDsn,
  inbox,
  mailboxEntryCount,
  message,
  queueRetry,
  smtplib,
  startOutbound,
  startRemote,
  startSinksOnOnePort,
  storedQueue,
  submit,
  waitForAttempts,
  waitForInbox,
  waitUntil,
  withStore,
} from "./support/outbound_fixture.ts";
import type { RunningPostino } from "./support/server.ts";
import { messageText } from "./support/smtp_sink.ts";

/** Sends over the MX listener (no TLS, no AUTH), as a remote MTA would. */
async function mxSend(server: RunningPostino, sender: string, to: string, text: string) {
  const r = await smtplib({
    port: server.addresses.smtp.port,
    security: "plain",
    helo: "mta.sender.test",
    sender,
    recipients: [to],
    message: text,
  });
  assert.equal(r.ok, true, JSON.stringify(r.error));
}

function queueCount(server: RunningPostino): number {
  return withStore(server, (s) => s.get<{ n: number }>("SELECT count(*) n FROM queue")!.n);
}

Deno.test("bounces leave with MAIL FROM:<>, and a message with the null sender is never bounced", async (t) => {
  await using remote = await startRemote({
    script: {
      rcpt: (to) =>
        to === "x@remote.test" || to === "refuses-bounces@sender.test"
          ? "550 5.1.1 No such user here"
          : undefined,
    },
  }, ["remote.test", "sender.test"]);
  const sink = remote.sink;
  await using server = await startOutbound({ args: remote.args });
  const alias = await server.cli(["alias", "add", "fwd@localhost", "x@remote.test"]);
  assert.equal(alias.code, 0, alias.stderr);

  await t.step(
    "a forwarded message that fails is bounced to its remote sender with MAIL FROM:<>",
    async () => {
      await mxSend(
        server,
        "someone@sender.test",
        "fwd@localhost",
        message("someone@sender.test", "fwd"),
      );
      await sink.waitFor(() => sink.delivered.length >= 1, 15_000, "the bounce to sender.test");
      const [dsn] = sink.delivered;
      assert.equal(dsn.mailFrom, "", "the null reverse-path");
      assert.deepEqual(dsn.rcptTo, ["someone@sender.test"]);
      assertDsn(messageText(dsn), "x@remote.test", "5.1.1");
      await waitUntil(() => queueCount(server) === 0, "an empty queue");
    },
  );

  await t.step("a message with the null sender that fails produces no DSN anywhere", async () => {
    const failures = () =>
      server.entries().filter((e) =>
        e.message.includes("failed") && e.properties.rcpt === "x@remote.test"
      ).length;
    const before = failures();
    await mxSend(server, "", "fwd@localhost", message("mailer-daemon@sender.test", "a bounce"));
    await server.waitForLog(() => failures() > before);
    await waitUntil(() => queueCount(server) === 0, "an empty queue");
    // Give a wrongly made bounce the time to be tried.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(sink.delivered.length, 1, "only the first step's bounce ever reached the sink");
    assert.equal(queueCount(server), 0, "no bounce queued");
    assert.equal(mailboxEntryCount(server), 0, "no bounce in any mailbox");
  });

  await t.step("a bounce refused by the sender's MX is not bounced again", async () => {
    const mails = () =>
      sink.sessions.flatMap((s) => s.commands).filter((c) => /^MAIL FROM:<>/i.test(c)).length;
    const before = mails();
    await mxSend(
      server,
      "refuses-bounces@sender.test",
      "fwd@localhost",
      message("refuses-bounces@sender.test", "double trouble"),
    );
    await sink.waitFor(() => mails() > before, 15_000, "the bounce attempt");
    await waitUntil(() => queueCount(server) === 0, "an empty queue");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(mails(), before + 1, "one bounce, tried once");
    assert.equal(sink.delivered.length, 1);
    assert.equal(mailboxEntryCount(server), 0);
  });
});

Deno.test("a message older than [queue] max_age bounces with 4.4.7", async () => {
  await using remote = await startRemote({
    script: { rcpt: () => "451 4.3.0 Temporary trouble, come back later" },
  });
  await using server = await startOutbound({
    args: remote.args,
    env: { POSTINO_QUEUE_MAX_AGE: "1s" },
  });
  const submitted = Date.now();
  await submit(server, { to: ["slow@remote.test"], message: message(ALICE.user, "too late") });
  const first = await waitForAttempts(server, "slow@remote.test", 1);
  if (first.status === "pending") {
    // Deferred at the first try: once a second has passed, the next try gives up.
    await new Promise((r) => setTimeout(r, Math.max(0, submitted + 1_200 - Date.now())));
    await queueRetry(server, first.queueId);
  }
  const box = await waitForInbox(server, ALICE.user, 0);
  assert.equal(box.length, 1);
  const report = assertDsn(box[0], "slow@remote.test", "4.4.7");
  assert.match(report, /^Diagnostic-Code: smtp; .*451 4\.3\.0 Temporary trouble/m);
  assert.match(box[0], /delivered in time|given up|gave up/i);
  await waitUntil(
    () => storedQueue(server).every((r) => r.status !== "pending") || undefined,
    "nothing pending",
  );
  assert.ok(remote.sink.sessions.length >= 1, "it was tried before it expired");
});

Deno.test({
  name: "the 4.4.7 bounce states the real maximum age",
}, async () => {
  await using remote = await startRemote({
    script: { rcpt: () => "451 4.3.0 Temporary trouble" },
  });
  await using server = await startOutbound({
    args: remote.args,
    env: { POSTINO_QUEUE_MAX_AGE: "1s" },
  });
  const submitted = Date.now();
  await submit(server, { to: ["slow@remote.test"], message: message(ALICE.user, "too late") });
  const first = await waitForAttempts(server, "slow@remote.test", 1);
  if (first.status === "pending") {
    await new Promise((r) => setTimeout(r, Math.max(0, submitted + 1_200 - Date.now())));
    await queueRetry(server, first.queueId);
  }
  const [dsn] = await waitForInbox(server, ALICE.user, 0);
  assert.match(dsn, /^Status: 4\.4\.7\r$/m);
  assert.match(dsn, /Gave up after [1-9]\d* s in the queue: /);
});

Deno.test("a receiver without 8BITMIME, SIZE room or SMTPUTF8 gets nothing; the sender a clear bounce", async (t) => {
  const [seven, small] = await startSinksOnOnePort([
    { eightBitMime: false },
    { hostname: "127.0.0.2", size: 2_000 },
  ]);
  await using _seven = seven;
  await using _small = small;
  await using dns = await startDnsStub({
    "seven.test": { MX: [{ preference: 10, exchange: "mx.seven.test" }] },
    "mx.seven.test": { A: ["127.0.0.1"] },
    "small.test": { MX: [{ preference: 10, exchange: "mx.small.test" }] },
    "mx.small.test": { A: ["127.0.0.2"] },
  });
  await using server = await startOutbound({
    args: ["--dns", dns.address, "--mx-port", String(seven.port)],
  });

  await t.step("8-bit content to a receiver without 8BITMIME bounces with 5.6.3", async () => {
    const text = message(ALICE.user, "umlauts", "Grüße aus Köln.\r\n")
      .replace(
        "\r\n\r\n",
        "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
          "Content-Transfer-Encoding: 8bit\r\n\r\n",
      );
    await submit(server, { to: ["user@seven.test"], message: text }, {
      mail_options: ["BODY=8BITMIME"],
    });
    const box = await waitForInbox(server, ALICE.user, 0);
    const report = assertDsn(box.at(-1)!, "user@seven.test", "5.6.3");
    assert.match(report, /^Diagnostic-Code: smtp; .*8BITMIME/m);
    assert.equal(seven.transactions.length, 0);
    assert.equal(
      seven.sessions.some((s) => s.commands.some((c) => /^MAIL/i.test(c))),
      false,
      "not even MAIL was sent",
    );
  });

  await t.step("a message larger than the receiver's SIZE bounces with 5.3.4", async () => {
    const before = inbox(server, ALICE.user).length;
    const body = "0123456789 abcdefghijklmnopqrstuvwxyz\r\n".repeat(100);
    await submit(server, { to: ["user@small.test"], message: message(ALICE.user, "big", body) });
    const box = await waitForInbox(server, ALICE.user, before);
    const report = assertDsn(box.at(-1)!, "user@small.test", "5.3.4");
    assert.match(report, /^Diagnostic-Code: smtp; .*2000/m);
    assert.equal(small.transactions.length, 0);
  });

  await t.step("a UTF-8 address to a receiver without SMTPUTF8 bounces with 5.6.7", async () => {
    const before = inbox(server, ALICE.user).length;
    await submitUtf8(server);
    const box = await waitForInbox(server, ALICE.user, before);
    const dsn = box.at(-1)!;
    // The recipient as the report writes it is checked in the test below.
    assert.match(dsn, /^Status: 5\.6\.7\r$/m);
    assert.match(dsn, /^Diagnostic-Code: smtp; .*SMTPUTF8/m);
    assert.equal(small.transactions.length, 0);
  });
});

/** Submits a message to jörg@small.test with SMTPUTF8. */
async function submitUtf8(server: RunningPostino): Promise<void> {
  const text = message(ALICE.user, "utf8 address").replace(
    "To: <someone@remote.test>",
    "To: <jörg@small.test>",
  );
  await submit(server, { to: ["jörg@small.test"], message: text }, {
    mail_options: ["SMTPUTF8", "BODY=8BITMIME"],
  });
}

Deno.test({
  name: "a bounce for a UTF-8 recipient names that recipient (RFC 6533)",
}, async () => {
  await using remote = await startRemote({}, ["small.test"]);
  await using server = await startOutbound({ args: remote.args });
  await submitUtf8(server);
  const [dsn] = await waitForInbox(server, ALICE.user, 0);
  assert.match(dsn, /^Status: 5\.6\.7\r$/m);
  assert.match(
    dsn,
    /^Final-Recipient: (?:utf-8; ?jörg|utf-8; ?j\\x\{F6\}rg|rfc822; ?j\\x\{F6\}rg)@small\.test\r$/m,
  );
});
