/**
 * Outbound delivery to MX hosts found through a DNS stub on loopback
 * (`--dns`), reached on the sinks' port (`--mx-port`): preference order and
 * failover, implicit MX, null MX and NXDOMAIN bounces, and one transaction
 * per message and destination domain. Each MX host name has its own
 * loopback address (127.0.0.x), so the sink that got a message tells which
 * host was used.
 */
import assert from "node:assert/strict";
import { startDnsStub } from "./support/dns_stub.ts";
import {
  ALICE,
  assertDsn,
  header,
  HOSTNAME,
  inbox,
  message,
  startOutbound,
  startSinksOnOnePort,
  storedQueue,
  submit,
  waitForEmptyQueue,
  waitForInbox,
  waitUntil,
} from "./support/outbound_fixture.ts";
import type { SmtpSink } from "./support/smtp_sink.ts";

/** The transactions of `sink` with a recipient in `domain`. */
function to(sink: SmtpSink, domain: string) {
  return sink.transactions.filter((t) => t.rcptTo.some((r) => r.endsWith(`@${domain}`)));
}

Deno.test("MX delivery follows preference, fails over, and bounces what has no MX", async (t) => {
  // main: 127.0.0.1; backup: 127.0.0.2; busy: 127.0.0.4 answers 421; rude: 127.0.0.5 hangs up
  // at once; plain: 127.0.0.6 offers STARTTLS but no PIPELINING. Nothing listens on 127.0.0.3.
  const [main, backup, busy, rude, plain] = await startSinksOnOnePort([
    {},
    { hostname: "127.0.0.2" },
    { hostname: "127.0.0.4", script: { greeting: () => "421 4.3.2 Too busy, try later" } },
    { hostname: "127.0.0.5", script: { greeting: () => "drop" } },
    {
      hostname: "127.0.0.6",
      pipelining: false,
      starttls: true,
      script: { rcpt: (to) => to.startsWith("nobody@") ? "550 5.1.1 No such user" : undefined },
    },
  ]);
  await using _main = main;
  await using _backup = backup;
  await using _busy = busy;
  await using _rude = rude;
  await using _plain = plain;
  await using dns = await startDnsStub({
    // Listed worst first, so only sorting by preference puts the right host first.
    "pref.test": {
      MX: [
        { preference: 30, exchange: "mx3.pref.test" },
        { preference: 20, exchange: "mx2.pref.test" },
        { preference: 10, exchange: "mx1.pref.test" },
      ],
    },
    "mx1.pref.test": { A: ["127.0.0.2"] },
    "mx2.pref.test": { A: ["127.0.0.1"] },
    "mx3.pref.test": { A: ["127.0.0.1"] },
    "refused.test": {
      MX: [
        { preference: 20, exchange: "good.refused.test" },
        { preference: 5, exchange: "down.refused.test" },
      ],
    },
    "down.refused.test": { A: ["127.0.0.3"] },
    "good.refused.test": { A: ["127.0.0.1"] },
    "busy.test": {
      MX: [
        { preference: 1, exchange: "mx.busy.test" },
        { preference: 2, exchange: "mx.backup.test" },
      ],
    },
    "mx.busy.test": { A: ["127.0.0.4"] },
    "mx.backup.test": { A: ["127.0.0.2"] },
    "drop.test": {
      MX: [
        { preference: 10, exchange: "mx.drop.test" },
        { preference: 20, exchange: "mx.backup.test" },
      ],
    },
    "mx.drop.test": { A: ["127.0.0.5"] },
    "plain.test": { MX: [{ preference: 10, exchange: "mx.plain.test" }] },
    "mx.plain.test": { A: ["127.0.0.6"] },
    "implicit.test": { A: ["127.0.0.1"] },
    "nullmx.test": { MX: [{ preference: 0, exchange: "." }], A: ["127.0.0.1"] },
    "shared.test": { MX: [{ preference: 10, exchange: "mx.shared.test" }] },
    "mx.shared.test": { A: ["127.0.0.1"] },
    "second.test": { MX: [{ preference: 10, exchange: "mx.shared.test" }] },
  });
  await using server = await startOutbound({
    args: ["--dns", dns.address, "--mx-port", String(main.port)],
  });

  await t.step("the MX of lowest preference gets the message", async () => {
    await submit(server, { to: ["user@pref.test"], message: message(ALICE.user, "pref") });
    await backup.waitFor(() => to(backup, "pref.test").length === 1, 15_000, "pref.test mail");
    await waitForEmptyQueue(server);
    assert.equal(to(main, "pref.test").length, 0, "the less preferred hosts were not used");
    assert.deepEqual(to(backup, "pref.test")[0].rcptTo, ["user@pref.test"]);
    assert.equal(to(backup, "pref.test")[0].mailFrom, ALICE.user);
    assert.ok(
      dns.queries.some((q) => q.name === "pref.test" && q.type === "MX"),
      "the MX came from the stub",
    );
  });

  await t.step("a refused connection to the first MX falls over to the next", async () => {
    await submit(server, { to: ["user@refused.test"], message: message(ALICE.user, "refused") });
    await main.waitFor(() => to(main, "refused.test").length === 1, 15_000, "refused.test mail");
    await waitForEmptyQueue(server);
    assert.equal(to(main, "refused.test")[0].reply.slice(0, 3), "250");
  });

  await t.step("a 421 greeting from the first MX falls over to the next", async () => {
    const before = busy.sessions.length;
    await submit(server, { to: ["user@busy.test"], message: message(ALICE.user, "busy") });
    await backup.waitFor(() => to(backup, "busy.test").length === 1, 15_000, "busy.test mail");
    await waitForEmptyQueue(server);
    assert.equal(busy.sessions.length, before + 1, "the busy MX was tried first");
    assert.equal(busy.transactions.length, 0);
  });

  await t.step("a first MX that hangs up at once falls over to the next", async () => {
    await submit(server, { to: ["user@drop.test"], message: message(ALICE.user, "drop") });
    await backup.waitFor(() => to(backup, "drop.test").length === 1, 15_000, "drop.test mail");
    await waitForEmptyQueue(server);
    assert.equal(rude.sessions.length, 1, "the rude MX was tried first");
  });

  await t.step(
    "STARTTLS without PIPELINING: one command at a time, per-recipient results",
    async () => {
      const before = inbox(server, ALICE.user).length;
      await submit(server, {
        to: ["somebody@plain.test", "nobody@plain.test", "anybody@plain.test"],
        message: message(ALICE.user, "plain"),
      });
      await plain.waitFor(() => plain.delivered.length === 1, 15_000, "plain.test mail");
      const box = await waitForInbox(server, ALICE.user, before);
      await waitForEmptyQueue(server);
      assert.deepEqual([...plain.delivered[0].rcptTo].sort(), [
        "anybody@plain.test",
        "somebody@plain.test",
      ]);
      assertDsn(box.at(-1)!, "nobody@plain.test", "5.1.1");
      assert.equal(box.length, before + 1, "one bounce");
      assert.equal(plain.sessions.some((s) => s.pipelinedUninvited), false, "no pipelining");
      assert.equal(plain.delivered[0].tls, true, "opportunistic STARTTLS to an MX");
      assert.equal(plain.delivered[0].helo, HOSTNAME, "EHLO again after STARTTLS");
    },
  );

  await t.step(
    "a domain without MX but with an address gets it directly (implicit MX)",
    async () => {
      await submit(server, {
        to: ["user@implicit.test"],
        message: message(ALICE.user, "implicit"),
      });
      await main.waitFor(() => to(main, "implicit.test").length === 1, 15_000, "implicit mail");
      await waitForEmptyQueue(server);
      assert.ok(dns.queries.some((q) => q.name === "implicit.test" && q.type === "A"));
    },
  );

  await t.step(
    "recipients of one domain share one transaction; another domain gets its own",
    async () => {
      const mails = () => main.sessions.flatMap((s) => s.commands).filter((c) => /^MAIL/i.test(c));
      const mailsBefore = mails().length;
      await submit(server, {
        to: ["one@shared.test", "two@shared.test", "three@second.test", "four@shared.test"],
        message: message(ALICE.user, "shared"),
      });
      await main.waitFor(
        () => to(main, "shared.test").length + to(main, "second.test").length >= 2,
        15_000,
        "shared.test and second.test mail",
      );
      await waitForEmptyQueue(server);
      const shared = to(main, "shared.test");
      const second = to(main, "second.test");
      assert.equal(shared.length, 1, "one transaction for shared.test");
      assert.deepEqual([...shared[0].rcptTo].sort(), [
        "four@shared.test",
        "one@shared.test",
        "two@shared.test",
      ]);
      assert.equal(second.length, 1, "its own transaction for second.test");
      assert.deepEqual(second[0].rcptTo, ["three@second.test"]);
      assert.equal(mails().length - mailsBefore, 2, "two MAIL commands in all");
    },
  );

  for (
    const [name, domain, status] of [
      ["a null MX (RFC 7505)", "nullmx.test", "5.1.10"],
      ["a domain that does not exist (NXDOMAIN)", "nowhere.test", "5.1.2"],
    ] as const
  ) {
    await t.step(`${name} bounces at once with a DSN in the sender's INBOX`, async () => {
      const all = [main, backup, busy, rude, plain];
      const sessions = all.reduce((n, s) => n + s.sessions.length, 0);
      const before = inbox(server, ALICE.user).length;
      const rcpt = `user@${domain}`;
      await submit(server, { to: [rcpt], message: message(ALICE.user, `to ${domain}`) });
      const box = await waitUntil(
        () => {
          const box = inbox(server, ALICE.user);
          return box.length > before ? box : undefined;
        },
        `the bounce for ${domain}`,
      );
      assert.equal(box.length, before + 1, "one bounce");
      const dsn = box.at(-1)!;
      const report = assertDsn(dsn, rcpt, status);
      assert.match(report, new RegExp(`Diagnostic-Code: smtp; .*${domain.replace(".", "\\.")}`));
      assert.match(dsn, new RegExp(`^Subject: to ${domain.replace(".", "\\.")}\\r$`, "m"));
      assert.equal(header(dsn, "To"), `<${ALICE.user}>`);
      // Bounced at the first attempt: nothing left, nothing sent anywhere.
      assert.deepEqual(
        storedQueue(server).filter((r) => r.status === "pending"),
        [],
        "nothing pending",
      );
      assert.equal(
        all.reduce((n, s) => n + s.sessions.length, 0),
        sessions,
        "no connection was made",
      );
    });
  }
});
