/**
 * DMARC (RFC 7489) policies of the From domain on mail received over MX:
 * p=reject refuses at the end of DATA, p=quarantine files the message in the
 * recipient's Junk mailbox (made on demand, and not shown by POP3, which
 * serves INBOX only), p=none delivers. Alignment decides: an SPF pass for
 * another domain is no DMARC pass.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  assertDelivered,
  dataReply,
  deliver,
  mail,
  mailboxesOf,
  messageCount,
  pop3Messages,
  resultOf,
  startInbound,
  storedMessages,
} from "./support/inbound_fixture.ts";

const ZONE = {
  "reject.test": { TXT: ["v=spf1 -all"] },
  "_dmarc.reject.test": { TXT: ["v=DMARC1; p=reject; rua=mailto:dmarc@reject.test"] },
  "quarantine.test": { TXT: ["v=spf1 -all"] },
  "_dmarc.quarantine.test": { TXT: ["v=DMARC1; p=quarantine"] },
  "monitor.test": { TXT: ["v=spf1 -all"] },
  "_dmarc.monitor.test": { TXT: ["v=DMARC1; p=none"] },
  // SPF passes for 127.0.0.1 and the domain asks for reject: an aligned SPF pass is enough.
  "aligned.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "_dmarc.aligned.test": { TXT: ["v=DMARC1; p=reject"] },
  // The organizational domain's sp= applies to its subdomains (RFC 7489 §6.6.3).
  "parent.test": { TXT: ["v=spf1 -all"] },
  "_dmarc.parent.test": { TXT: ["v=DMARC1; p=none; sp=reject"] },
  "child.parent.test": { TXT: ["v=spf1 -all"] },
  // SPF cannot be checked (SERVFAIL) and the domain asks for reject.
  "flaky.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "_dmarc.flaky.test": { TXT: ["v=DMARC1; p=reject"] },
  // SPF passes here too, but this domain is not in From below.
  "bulk-sender.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
};

Deno.test("DMARC policies decide what happens to MX mail that fails alignment", async (t) => {
  await using mx = await startInbound(ZONE, { behaviours: { "flaky.test": "servfail" } });

  await t.step("p=reject: 550 5.7.1 at the end of DATA naming DMARC, nothing stored", async () => {
    const before = messageCount(mx);
    const r = await deliver(mx, {
      sender: "ceo@reject.test",
      message: mail({ from: "CEO <ceo@reject.test>", subject: "wire transfer" }),
    });
    const refusal = dataReply(r);
    assert.match(refusal, /^550 5\.7\.1 /);
    assert.match(refusal, /DMARC/);
    assert.match(refusal, /reject\.test/);
    assert.equal(messageCount(mx), before);
    assert.deepEqual(storedMessages(mx, ALICE.user), []);
  });

  await t.step(
    "p=reject: an SPF pass for an unaligned MAIL FROM domain is still refused",
    async () => {
      const before = messageCount(mx);
      const r = await deliver(mx, {
        sender: "bounces@bulk-sender.test",
        message: mail({ from: "ceo@reject.test", subject: "unaligned" }),
      });
      assert.match(dataReply(r), /^550 5\.7\.1 .*DMARC/);
      assert.equal(messageCount(mx), before);
    },
  );

  await t.step("p=reject: an aligned SPF pass is a DMARC pass and lands in INBOX", async () => {
    const r = await deliver(mx, {
      sender: "billing@aligned.test",
      message: mail({ from: "billing@aligned.test", subject: "aligned spf" }),
    });
    assertDelivered(r);
    const [stored] = storedMessages(mx, ALICE.user);
    assert.match(stored, /\r\nSubject: aligned spf\r\n/);
    assert.equal(resultOf(stored, "spf").result, "pass", stored);
    assert.equal(resultOf(stored, "dmarc").result, "pass", stored);
    assert.equal(resultOf(stored, "dmarc").props["header.from"], "aligned.test", stored);
  });

  await t.step("p=reject, but SPF got SERVFAIL: 451 4.7.x (try again), not 550", async () => {
    const before = messageCount(mx);
    const r = await deliver(mx, {
      sender: "x@flaky.test",
      message: mail({ from: "x@flaky.test", subject: "flaky dns" }),
    });
    const refusal = dataReply(r);
    assert.match(refusal, /^451 4\.7\.\d+ /);
    assert.match(refusal, /flaky\.test/);
    assert.equal(messageCount(mx), before);
  });

  await t.step("sp=reject of the parent domain refuses mail from a subdomain", async () => {
    const before = messageCount(mx);
    const r = await deliver(mx, {
      sender: "x@child.parent.test",
      message: mail({ from: "x@child.parent.test", subject: "from a subdomain" }),
    });
    assert.match(dataReply(r), /^550 5\.7\.1 .*DMARC/);
    assert.equal(messageCount(mx), before);
  });

  await t.step("p=none: delivered to INBOX with dmarc=fail recorded", async () => {
    const r = await deliver(mx, {
      sender: "news@monitor.test",
      message: mail({ from: "news@monitor.test", subject: "monitored" }),
    });
    assertDelivered(r);
    // The parent domain itself asks for none.
    assertDelivered(
      await deliver(mx, {
        sender: "y@parent.test",
        message: mail({ from: "y@parent.test", subject: "parent" }),
      }),
    );
    const box = storedMessages(mx, ALICE.user);
    assert.equal(box.length, 3);
    assert.match(box[1], /\r\nSubject: monitored\r\n/);
    assert.equal(resultOf(box[2], "dmarc").result, "fail", box[2]);
    const dmarc = resultOf(box[1], "dmarc");
    assert.equal(dmarc.result, "fail", box[1]);
    assert.equal(dmarc.props["header.from"], "monitor.test", box[1]);
    assert.deepEqual(storedMessages(mx, ALICE.user, "Junk"), [], "nothing in Junk");
  });

  await t.step("p=quarantine: stored in the Junk mailbox, not in INBOX", async () => {
    const inboxBefore = storedMessages(mx, ALICE.user).length;
    const r = await deliver(mx, {
      sender: "promo@quarantine.test",
      message: mail({ from: "promo@quarantine.test", subject: "quarantined one" }),
    });
    assertDelivered(r); // 250: quarantine is a delivery, not a refusal
    assert.equal(storedMessages(mx, ALICE.user).length, inboxBefore, "INBOX unchanged");
    const junk = storedMessages(mx, ALICE.user, "Junk");
    assert.equal(junk.length, 1);
    assert.match(junk[0], /\r\nSubject: quarantined one\r\n/);
    assert.match(junk[0], /^Return-Path: <promo@quarantine\.test>\r\n/);
    assert.equal(resultOf(junk[0], "dmarc").result, "fail", junk[0]);
    assert.equal(resultOf(junk[0], "spf").result, "fail", junk[0]);
    const box = mailboxesOf(mx, ALICE.user).find((m) => m.name === "Junk");
    assert.ok(box, "a Junk mailbox exists");
    assert.equal(box.special_use, "\\Junk");
  });

  await t.step("a second quarantined message joins the same Junk mailbox", async () => {
    const r = await deliver(mx, {
      sender: "promo@quarantine.test",
      message: mail({ from: "promo@quarantine.test", subject: "quarantined two" }),
    });
    assertDelivered(r);
    const junk = storedMessages(mx, ALICE.user, "Junk");
    assert.deepEqual(
      junk.map((m) => /\r\nSubject: ([^\r]*)\r\n/.exec(m)?.[1]),
      ["quarantined one", "quarantined two"],
    );
    assert.equal(mailboxesOf(mx, ALICE.user).filter((m) => m.name === "Junk").length, 1);
  });

  await t.step("POP3 (INBOX only) retrieves the INBOX messages and none from Junk", async () => {
    const messages = await pop3Messages(mx);
    const subjects = messages.map((m) => /\r\nSubject: ([^\r]*)\r\n/.exec(m)?.[1]);
    assert.deepEqual(subjects, ["aligned spf", "monitored", "parent"]);
    // The copies POP3 serves carry our verdicts too.
    assert.equal(resultOf(messages[1], "dmarc").result, "fail");
  });

  await t.step("the server logged no error", () => {
    const errors = mx.server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
    assert.deepEqual(errors.map((e) => e.message), []);
  });
});
