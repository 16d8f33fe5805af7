/**
 * SPF (RFC 7208) of mail received over MX, end to end: the real server, its
 * DNS a loopback stub with SPF records, messages sent by Python's smtplib
 * from 127.0.0.1, and the verdicts read back from the stored copy's
 * Received-SPF (RFC 7208 §9.1) and Authentication-Results (RFC 8601) fields.
 *
 * No domain here publishes DMARC and SPF failures are delivered by default, so
 * every message lands in INBOX and only the recorded verdict differs.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  assertDelivered,
  deliver,
  type Inbound,
  mail,
  receivedSpf,
  resultOf,
  startInbound,
  storedMessages,
} from "./support/inbound_fixture.ts";

const ZONE = {
  "pass.spf.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "fail.spf.test": { TXT: ["v=spf1 ip4:192.0.2.0/24 -all"] },
  "soft.spf.test": { TXT: ["v=spf1 ~all"] },
  "neutral.spf.test": { TXT: ["v=spf1 ?all"] },
  // A name with records, but no SPF among them.
  "none.spf.test": { A: ["192.0.2.10"], TXT: ["site-verification=0123456789"] },
  "servfail.spf.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  // Mechanisms that need more lookups: include:, a, and a record in two character-strings.
  "include.spf.test": { TXT: ["v=spf1 include:pass.spf.test -all"] },
  "a.spf.test": { TXT: ["v=spf1 a -all"], A: ["127.0.0.1"] },
  "split.spf.test": { TXT: [["v=spf1 ip4:192.0.2.0/24", " ip4:127.0.0.1 -all"]] },
  // HELO identities, for the null sender (RFC 7208 §2.3).
  "helo-pass.spf.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "helo-fail.spf.test": { TXT: ["v=spf1 -all"] },
};

/** Sends a message whose From and MAIL FROM are in `domain`; gives the one stored copy. */
async function sendFrom(
  mx: Inbound,
  domain: string,
  options: { sender?: string; helo?: string } = {},
): Promise<string> {
  const before = storedMessages(mx, ALICE.user).length;
  const sender = options.sender ?? `bounce@${domain}`;
  const r = await deliver(mx, {
    sender,
    helo: options.helo,
    message: mail({ from: `someone@${domain}`, subject: `spf ${domain}` }),
  });
  assertDelivered(r);
  const box = storedMessages(mx, ALICE.user);
  assert.equal(box.length, before + 1, "one more message in INBOX");
  const stored = box[box.length - 1];
  assert.match(stored, new RegExp(`\\r\\nSubject: spf ${domain.replace(/\./g, "\\.")}\\r\\n`));
  return stored;
}

/** Checks both the Received-SPF and the Authentication-Results spf verdict. */
function assertSpf(stored: string, result: string, mailfrom: string): void {
  assert.equal(receivedSpf(stored), result, stored);
  const spf = resultOf(stored, "spf");
  assert.equal(spf.result, result, stored);
  // RFC 8601 §2.7.2 allows the address or its domain; we write the domain (mailauth strict).
  assert.equal(spf.props["smtp.mailfrom"], mailfrom.slice(mailfrom.lastIndexOf("@") + 1), stored);
}

Deno.test("SPF verdicts of MX mail are recorded in Received-SPF and Authentication-Results", async (t) => {
  await using mx = await startInbound(ZONE, { behaviours: { "servfail.spf.test": "servfail" } });

  await t.step("ip4 mechanism matching 127.0.0.1: pass", async () => {
    const stored = await sendFrom(mx, "pass.spf.test");
    assertSpf(stored, "pass", "bounce@pass.spf.test");
    assert.match(stored, /\r\nReceived-SPF: pass [^\r]*client-ip=127\.0\.0\.1;/);
    assert.equal(resultOf(stored, "dmarc").result, "none", "no DMARC record published");
    // The verdicts sit above the message as sent, below our Received field, with
    // Authentication-Results above the other trace field, Received-SPF (RFC 8601 §5).
    const order = ["Received:", "Authentication-Results:", "Received-SPF:", "From:"]
      .map((name) => stored.indexOf(`\r\n${name}`));
    assert.deepEqual([...order].sort((a, b) => a - b), order, stored);
  });

  await t.step("-all without a match: fail, still delivered by default", async () => {
    const stored = await sendFrom(mx, "fail.spf.test");
    assertSpf(stored, "fail", "bounce@fail.spf.test");
  });

  await t.step("~all: softfail", async () => {
    assertSpf(await sendFrom(mx, "soft.spf.test"), "softfail", "bounce@soft.spf.test");
  });

  await t.step("?all: neutral", async () => {
    assertSpf(await sendFrom(mx, "neutral.spf.test"), "neutral", "bounce@neutral.spf.test");
  });

  await t.step("no SPF record among the domain's TXT records: none", async () => {
    assertSpf(await sendFrom(mx, "none.spf.test"), "none", "bounce@none.spf.test");
  });

  await t.step("a domain that does not exist: none", async () => {
    assertSpf(await sendFrom(mx, "nowhere.spf.test"), "none", "bounce@nowhere.spf.test");
  });

  await t.step("the domain's TXT lookup gets SERVFAIL: temperror, delivered", async () => {
    const stored = await sendFrom(mx, "servfail.spf.test");
    assertSpf(stored, "temperror", "bounce@servfail.spf.test");
  });

  await t.step("include:, a and a record split into character-strings all pass", async () => {
    for (const domain of ["include.spf.test", "a.spf.test", "split.spf.test"]) {
      assertSpf(await sendFrom(mx, domain), "pass", `bounce@${domain}`);
    }
  });

  await t.step("MAIL FROM:<> checks the EHLO name instead (pass)", async () => {
    const stored = await sendFrom(mx, "other.spf.test", { sender: "", helo: "helo-pass.spf.test" });
    assert.match(stored, /^Return-Path: <>\r\n/);
    assert.equal(receivedSpf(stored), "pass", stored);
    const spf = resultOf(stored, "spf");
    assert.equal(spf.result, "pass", stored);
    assert.equal(spf.props["smtp.helo"], "helo-pass.spf.test", stored);
    // RFC 7208 §2.4: for the null sender the HELO identity is checked, and RFC 8601 §2.7.2
    // reports it as smtp.helo alone.
    assert.equal(spf.props["smtp.mailfrom"], undefined, stored);
  });

  await t.step("MAIL FROM:<> with an EHLO name whose SPF says -all: fail", async () => {
    const stored = await sendFrom(mx, "other.spf.test", { sender: "", helo: "helo-fail.spf.test" });
    assert.equal(receivedSpf(stored), "fail", stored);
    assert.equal(resultOf(stored, "spf").result, "fail", stored);
    assert.equal(resultOf(stored, "spf").props["smtp.helo"], "helo-fail.spf.test", stored);
  });

  await t.step("a non-null MAIL FROM is checked, not the EHLO name", async () => {
    const stored = await sendFrom(mx, "fail.spf.test", { helo: "helo-pass.spf.test" });
    assertSpf(stored, "fail", "bounce@fail.spf.test");
  });

  await t.step("the server logged no error", () => {
    const errors = mx.server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
    assert.deepEqual(errors.map((e) => e.message), []);
  });
});
