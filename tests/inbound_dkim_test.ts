/**
 * DKIM (RFC 6376) of mail received over MX, checked against a signer nobody
 * here wrote: Debian's python3-dkim signs (tests/support/dkim_sign.py) with a
 * fresh RSA key whose public half the DNS stub publishes at
 * `<selector>._domainkey.<domain>`. Then the "Done when": with
 * DMARC p=reject and SPF failing, the properly signed message lands with
 * dkim=pass and dmarc=pass, and the altered one is refused.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  assertDelivered,
  dataReply,
  deliver,
  dkimKey,
  dkimSign,
  dkimVerify,
  mail,
  messageCount,
  type MethodResult,
  ourResults,
  resultOf,
  startInbound,
  storedMessages,
} from "./support/inbound_fixture.ts";

const key = dkimKey();
const thirdParty = dkimKey();

const ZONE = {
  // No SPF, no DMARC: DKIM alone is judged.
  "signed.test": { A: ["192.0.2.20"] },
  "sel1._domainkey.signed.test": { TXT: [key.record] },
  // DMARC p=reject, and SPF that fails for 127.0.0.1: only an aligned DKIM pass saves a message.
  "strict.test": { TXT: ["v=spf1 -all"] },
  "_dmarc.strict.test": { TXT: ["v=DMARC1; p=reject"] },
  "sel2._domainkey.strict.test": { TXT: [key.record] },
  // A signer that is not the From domain (a mailing list, an ESP).
  "esp.test": { A: ["192.0.2.21"] },
  "esp._domainkey.esp.test": { TXT: [thirdParty.record] },
};

/** The signed message with its body changed after signing. */
function alterBody(signed: string): string {
  const altered = signed.replace("Pay 100 EUR to account 1.", "Pay 9000 EUR to account 666.");
  assert.notEqual(altered, signed);
  return altered;
}

/**
 * The signing domain a dkim result names: header.d, or the domain of header.i, which is all
 * mailauth writes outside its strict mode (we run it strict).
 */
function signingDomain(r: MethodResult): string | undefined {
  return r.props["header.d"] ?? r.props["header.i"]?.replace(/^.*@/, "");
}

const BODY = "Dear Alice,\r\nPay 100 EUR to account 1.\r\n";

Deno.test("DKIM signatures of an independent signer are verified on MX mail", async (t) => {
  await using mx = await startInbound(ZONE);
  const signed = await dkimSign(
    mail({ from: "Signer <news@signed.test>", subject: "signed", body: BODY }),
    { key, selector: "sel1", domain: "signed.test" },
  );

  await t.step("a message signed by python3-dkim: dkim=pass for its domain", async () => {
    const r = await deliver(mx, { sender: "news@signed.test", message: signed });
    assertDelivered(r);
    const [stored] = storedMessages(mx, ALICE.user);
    const dkim = resultOf(stored, "dkim");
    assert.equal(dkim.result, "pass", stored);
    assert.equal(signingDomain(dkim), "signed.test", stored);
    assert.equal(dkim.props["header.s"], "sel1", stored);
    assert.equal(resultOf(stored, "spf").result, "none", stored);
    assert.equal(resultOf(stored, "dmarc").result, "none", stored);
    // What we prepended does not break the signature for the next verifier either.
    assert.equal(await dkimVerify(stored, "sel1._domainkey.signed.test", key.record), "pass");
  });

  await t.step({
    name: "the dkim result names the signing domain as header.d",
    fn: () => {
      const [stored] = storedMessages(mx, ALICE.user);
      assert.equal(resultOf(stored, "dkim").props["header.d"], "signed.test", stored);
    },
  });

  await t.step("the same message with its body altered after signing is not a pass", async () => {
    const r = await deliver(mx, { sender: "news@signed.test", message: alterBody(signed) });
    assertDelivered(r); // no DMARC policy: the verdict is only recorded
    const stored = storedMessages(mx, ALICE.user)[1];
    assert.match(stored, /Pay 9000 EUR/);
    const dkim = resultOf(stored, "dkim");
    assert.notEqual(dkim.result, "pass", stored);
    assert.match(stored, /dkim=\w+ \(body hash did not verify\)/, stored);
  });

  await t.step({
    name: "the body-altered message is recorded as dkim=fail",
    fn: () => {
      const stored = storedMessages(mx, ALICE.user)[1];
      assert.equal(resultOf(stored, "dkim").result, "fail", stored);
    },
  });

  await t.step("a signed header field altered after signing: dkim=fail", async () => {
    const forged = signed.replace("\r\nSubject: signed\r\n", "\r\nSubject: urgent\r\n");
    assert.notEqual(forged, signed);
    const r = await deliver(mx, { sender: "news@signed.test", message: forged });
    assertDelivered(r);
    const stored = storedMessages(mx, ALICE.user)[2];
    assert.match(stored, /\r\nSubject: urgent\r\n/);
    assert.equal(resultOf(stored, "dkim").result, "fail", stored);
  });

  await t.step("a selector with no published key is not a pass", async () => {
    const unknown = await dkimSign(
      mail({ from: "news@signed.test", subject: "unknown selector" }),
      { key, selector: "gone", domain: "signed.test" },
    );
    assertDelivered(await deliver(mx, { sender: "news@signed.test", message: unknown }));
    const stored = storedMessages(mx, ALICE.user)[3];
    assert.match(stored, /\r\nSubject: unknown selector\r\n/);
    assert.ok(
      ["permerror", "neutral", "fail", "none"].includes(resultOf(stored, "dkim").result),
      stored,
    );
  });

  await t.step(
    "p=reject, SPF fail: the signed message lands with dkim=pass and dmarc=pass",
    async () => {
      const good = await dkimSign(
        mail({ from: "Bank <alerts@strict.test>", subject: "aligned", body: BODY }),
        { key, selector: "sel2", domain: "strict.test" },
      );
      const r = await deliver(mx, { sender: "alerts@strict.test", message: good });
      assertDelivered(r);
      const box = storedMessages(mx, ALICE.user);
      assert.equal(box.length, 5);
      const stored = box[4];
      assert.match(stored, /\r\nSubject: aligned\r\n/);
      assert.equal(resultOf(stored, "spf").result, "fail", stored);
      assert.equal(resultOf(stored, "dkim").result, "pass", stored);
      const dmarc = resultOf(stored, "dmarc");
      assert.equal(dmarc.result, "pass", stored);
      assert.equal(dmarc.props["header.from"], "strict.test", stored);
      assert.equal(ourResults(stored).filter((m) => m.method === "dkim").length, 1);
      assert.deepEqual(storedMessages(mx, ALICE.user, "Junk"), []);
    },
  );

  await t.step(
    "p=reject, SPF fail: the body-altered copy is refused with 550 5.7.1 (DMARC)",
    async () => {
      const good = await dkimSign(
        mail({ from: "Bank <alerts@strict.test>", subject: "tampered", body: BODY }),
        { key, selector: "sel2", domain: "strict.test" },
      );
      const before = messageCount(mx);
      const r = await deliver(mx, { sender: "alerts@strict.test", message: alterBody(good) });
      const refusal = dataReply(r);
      assert.match(refusal, /^550 5\.7\.1 /);
      assert.match(refusal, /DMARC/);
      assert.match(refusal, /strict\.test/);
      assert.equal(messageCount(mx), before, "nothing stored");
      assert.equal(storedMessages(mx, ALICE.user).length, 5);
    },
  );

  await t.step("p=reject: a valid signature of another domain does not align, 550", async () => {
    const foreign = await dkimSign(
      mail({ from: "alerts@strict.test", subject: "via esp" }),
      { key: thirdParty, selector: "esp", domain: "esp.test" },
    );
    const before = messageCount(mx);
    const r = await deliver(mx, { sender: "alerts@strict.test", message: foreign });
    assert.match(dataReply(r), /^550 5\.7\.1 .*DMARC/);
    assert.equal(messageCount(mx), before, "nothing stored");
  });

  await t.step("two signatures: one dkim result for each, in the order they appear", async () => {
    const once = await dkimSign(
      mail({ from: "news@signed.test", subject: "signed twice" }),
      { key, selector: "sel1", domain: "signed.test" },
    );
    // The ESP signs last, so its signature is on top.
    const twice = await dkimSign(once, { key: thirdParty, selector: "esp", domain: "esp.test" });
    assertDelivered(await deliver(mx, { sender: "news@signed.test", message: twice }));
    const stored = storedMessages(mx, ALICE.user).at(-1)!;
    assert.match(stored, /\r\nSubject: signed twice\r\n/);
    const dkim = ourResults(stored).filter((r) => r.method === "dkim");
    assert.deepEqual(
      dkim.map((r) => [r.result, signingDomain(r)]),
      [["pass", "esp.test"], ["pass", "signed.test"]],
      stored,
    );
  });

  await t.step("two signatures, one broken: pass for one, not for the other", async () => {
    const once = await dkimSign(
      mail({ from: "news@signed.test", subject: "one broken" }),
      { key, selector: "sel1", domain: "signed.test" },
    );
    // Signed with the wrong key for esp._domainkey.esp.test.
    const twice = await dkimSign(once, { key, selector: "esp", domain: "esp.test" });
    assertDelivered(await deliver(mx, { sender: "news@signed.test", message: twice }));
    const stored = storedMessages(mx, ALICE.user).at(-1)!;
    assert.match(stored, /\r\nSubject: one broken\r\n/);
    const dkim = ourResults(stored).filter((r) => r.method === "dkim");
    assert.equal(dkim.length, 2, stored);
    assert.equal(dkim.find((r) => signingDomain(r) === "signed.test")?.result, "pass", stored);
    assert.equal(dkim.find((r) => signingDomain(r) === "esp.test")?.result, "fail", stored);
  });

  await t.step("the server logged no error", () => {
    const errors = mx.server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
    assert.deepEqual(errors.map((e) => e.message), []);
  });
});
