/**
 * A DNS server that never answers must not hold an SMTP session past the
 * per-message DNS budget (POSTINO_INBOUND_DNS_BUDGET=2s here), and DNS
 * trouble is never a reason for a permanent refusal: where a verdict is
 * required and cannot be reached the answer is 451, else the message is
 * delivered with temperror recorded. Driven by hand over one TCP
 * connection, to time the reply to the end of DATA and to see the session
 * go on afterwards.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  dataOf,
  dkimKey,
  dkimSign,
  type Inbound,
  mail,
  messageCount,
  RawSmtp,
  resultOf,
  type SmtpReply,
  startInbound,
  storedMessages,
} from "./support/inbound_fixture.ts";

const BUDGET_MS = 2_000;
/** The reply after DATA must come well before this, budget included. */
const BOUND_MS = 8_000;

const key = dkimKey();

const ZONE = {
  // SPF record exists but its lookup is dropped; no DMARC.
  "slow.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  // DMARC answers p=reject, but SPF and the DKIM key lookups are dropped.
  "slowreject.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "sel._domainkey.slowreject.test": { TXT: [key.record] },
  "_dmarc.slowreject.test": { TXT: ["v=DMARC1; p=reject"] },
  // Everything this domain's mail needs is dropped.
  "blackhole.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "sel._domainkey.blackhole.test": { TXT: [key.record] },
  "_dmarc.blackhole.test": { TXT: ["v=DMARC1; p=reject"] },
  // SPF passes and aligns; only the DMARC lookup is dropped.
  "halfslow.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "_dmarc.halfslow.test": { TXT: ["v=DMARC1; p=reject"] },
  "fine.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  // A third party's key, behind a name server that never answers.
  "sel._domainkey.dead.test": { TXT: [key.record] },
};

const DROPPED = [
  "slow.test",
  "slowreject.test",
  "sel._domainkey.slowreject.test",
  "blackhole.test",
  "sel._domainkey.blackhole.test",
  "_dmarc.blackhole.test",
  "_dmarc.halfslow.test",
  "sel._domainkey.dead.test",
];

/** One transaction on an open session; gives the reply to the end of DATA and its delay. */
async function transaction(
  client: RawSmtp,
  sender: string,
  message: string,
): Promise<{ reply: SmtpReply; ms: number }> {
  assert.equal((await client.command(`MAIL FROM:<${sender}>`)).code, 250);
  assert.equal((await client.command(`RCPT TO:<${ALICE.user}>`)).code, 250);
  assert.equal((await client.command("DATA")).code, 354);
  const started = performance.now();
  await client.write(dataOf(message));
  const reply = await client.reply(BOUND_MS + 5_000);
  return { reply, ms: performance.now() - started };
}

/** Opens a session that has said EHLO. */
async function session(mx: Inbound): Promise<RawSmtp> {
  const { client, greeting } = await RawSmtp.connect(mx.smtp);
  try {
    assert.equal(greeting.code, 220);
    assert.equal((await client.command("EHLO client.test")).code, 250);
    return client;
  } catch (err) {
    client.close();
    throw err;
  }
}

function assertBounded(ms: number): void {
  assert.ok(ms < BOUND_MS, `the reply after DATA took ${Math.round(ms)} ms`);
  // The DNS server never answers, so only the budget can have ended the wait.
  // One stalled lookup may take half the budget, so the rest still has time (dns_adapter.ts).
  assert.ok(ms >= BUDGET_MS * 0.4, `the reply came after only ${Math.round(ms)} ms`);
}

Deno.test("a DNS server that never answers holds a session only as long as the budget", async (t) => {
  const behaviours = Object.fromEntries(DROPPED.map((name) => [name, "drop" as const]));
  await using mx = await startInbound(ZONE, {
    behaviours,
    env: { POSTINO_INBOUND_DNS_BUDGET: `${BUDGET_MS / 1000}s` },
  });

  await t.step("SPF lookup dropped: the reply is bounded, and never a 5xx", async () => {
    await using client = await session(mx);
    const { reply, ms } = await transaction(
      client,
      "bounce@slow.test",
      mail({ from: "news@slow.test", subject: "slow spf" }),
    );
    assert.ok(reply.code === 250 || reply.code === 451, `${reply.code} ${reply.text}`);
    assertBounded(ms);
    assert.ok(mx.dns.queries.some((q) => q.name === "slow.test" && q.type === "TXT"));
    assert.equal((await client.command("QUIT")).code, 221);
  });

  await t.step({
    name: "SPF lookup dropped, no DMARC record: delivered with spf=temperror",
    fn: async () => {
      const before = storedMessages(mx, ALICE.user).length;
      await using client = await session(mx);
      const { reply, ms } = await transaction(
        client,
        "bounce@slow.test",
        mail({ from: "news@slow.test", subject: "slow spf delivered" }),
      );
      assert.equal(reply.code, 250, reply.text);
      assertBounded(ms);
      const box = storedMessages(mx, ALICE.user);
      assert.equal(box.length, before + 1);
      assert.equal(resultOf(box[before], "spf").result, "temperror", box[before]);
      assert.match(box[before], /\r\nReceived-SPF: temperror/);
    },
  });

  await t.step({
    name: "a third-party signature whose key lookup is dropped does not stop an SPF pass",
    fn: async () => {
      const signed = await dkimSign(
        mail({ from: "ok@fine.test", subject: "dead signer" }),
        { key, selector: "sel", domain: "dead.test" },
      );
      await using client = await session(mx);
      const { reply, ms } = await transaction(client, "ok@fine.test", signed);
      assert.equal(reply.code, 250, reply.text);
      assertBounded(ms);
      const stored = storedMessages(mx, ALICE.user).at(-1)!;
      assert.match(stored, /\r\nSubject: dead signer\r\n/);
      assert.equal(resultOf(stored, "spf").result, "pass", stored);
    },
  });

  await t.step(
    "p=reject domain whose checks time out: 451, not 5xx, and the session goes on",
    async () => {
      const signed = await dkimSign(
        mail({ from: "alerts@slowreject.test", subject: "slow reject" }),
        { key, selector: "sel", domain: "slowreject.test" },
      );
      const before = messageCount(mx);
      await using client = await session(mx);
      const { reply, ms } = await transaction(client, "alerts@slowreject.test", signed);
      assert.equal(reply.code, 451, reply.text);
      assert.match(reply.text, /^4\.7\.\d+ /);
      assertBounded(ms);
      assert.equal(messageCount(mx), before, "nothing stored");
      assert.ok(
        mx.dns.queries.some((q) => q.name === "sel._domainkey.slowreject.test"),
        "the DKIM key was asked for",
      );
      // The session goes on: RSET, then a message whose lookups answer, then QUIT.
      assert.equal((await client.command("RSET")).code, 250);
      const next = await transaction(
        client,
        "ok@fine.test",
        mail({ from: "ok@fine.test", subject: "after the 451" }),
      );
      assert.equal(next.reply.code, 250, next.reply.text);
      assert.ok(next.ms < BOUND_MS, `a message with quick DNS took ${Math.round(next.ms)} ms`);
      assert.equal((await client.command("QUIT")).code, 221);
      assert.match(storedMessages(mx, ALICE.user).at(-1)!, /\r\nSubject: after the 451\r\n/);
    },
  );

  await t.step("every lookup of the message dropped: 451 within the budget", async () => {
    const signed = await dkimSign(
      mail({ from: "x@blackhole.test", subject: "black hole" }),
      { key, selector: "sel", domain: "blackhole.test" },
    );
    const before = messageCount(mx);
    await using client = await session(mx);
    const { reply, ms } = await transaction(client, "x@blackhole.test", signed);
    assert.equal(reply.code, 451, reply.text);
    assert.match(reply.text, /^4\.7\.\d+ /);
    assertBounded(ms);
    assert.equal(messageCount(mx), before, "nothing stored");
    assert.ok(mx.dns.queries.some((q) => q.name.endsWith("blackhole.test")));
  });

  await t.step(
    "aligned SPF pass, DMARC lookup dropped: delivered with dmarc=temperror",
    async () => {
      await using client = await session(mx);
      const { reply, ms } = await transaction(
        client,
        "x@halfslow.test",
        mail({ from: "x@halfslow.test", subject: "half slow" }),
      );
      assert.equal(reply.code, 250, reply.text);
      assertBounded(ms);
      const stored = storedMessages(mx, ALICE.user).at(-1)!;
      assert.match(stored, /\r\nSubject: half slow\r\n/);
      assert.equal(resultOf(stored, "spf").result, "pass", stored);
      assert.equal(resultOf(stored, "dmarc").result, "temperror", stored);
    },
  );

  await t.step("the server logged no error", () => {
    const errors = mx.server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
    assert.deepEqual(errors.map((e) => e.message), []);
  });
});
