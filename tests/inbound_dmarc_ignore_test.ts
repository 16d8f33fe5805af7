/**
 * Turning the policy down: POSTINO_DMARC=ignore records DMARC failures but
 * neither refuses (p=reject) nor quarantines (p=quarantine), and a config
 * file's `[inbound] checks = false` turns the checks off altogether (no
 * verdict fields, no DNS lookups), with `dmarc`/`spf_fail`/`dns_budget`
 * read from the same section.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  assertDelivered,
  dataReply,
  deliver,
  fieldValues,
  HOSTNAME,
  mail,
  parseAuthResults,
  resultOf,
  startInbound,
  storedMessages,
} from "./support/inbound_fixture.ts";

const ZONE = {
  "reject.test": { TXT: ["v=spf1 -all"] },
  "_dmarc.reject.test": { TXT: ["v=DMARC1; p=reject"] },
  "quarantine.test": { TXT: ["v=spf1 -all"] },
  "_dmarc.quarantine.test": { TXT: ["v=DMARC1; p=quarantine"] },
  "fail.test": { TXT: ["v=spf1 -all"] },
};

Deno.test("POSTINO_DMARC=ignore delivers DMARC failures to INBOX with the verdict", async (t) => {
  await using mx = await startInbound(ZONE, { env: { POSTINO_DMARC: "ignore" } });

  await t.step("p=reject failing alignment: delivered, dmarc=fail recorded", async () => {
    const r = await deliver(mx, {
      sender: "ceo@reject.test",
      message: mail({ from: "ceo@reject.test", subject: "would be rejected" }),
    });
    assertDelivered(r);
    const [stored] = storedMessages(mx, ALICE.user);
    assert.match(stored, /\r\nSubject: would be rejected\r\n/);
    assert.equal(resultOf(stored, "dmarc").result, "fail", stored);
    assert.equal(resultOf(stored, "spf").result, "fail", stored);
  });

  await t.step("p=quarantine failing alignment: INBOX, nothing in Junk", async () => {
    const r = await deliver(mx, {
      sender: "x@quarantine.test",
      message: mail({ from: "x@quarantine.test", subject: "would be junk" }),
    });
    assertDelivered(r);
    const box = storedMessages(mx, ALICE.user);
    assert.equal(box.length, 2);
    assert.match(box[1], /\r\nSubject: would be junk\r\n/);
    assert.equal(resultOf(box[1], "dmarc").result, "fail", box[1]);
    assert.deepEqual(storedMessages(mx, ALICE.user, "Junk"), []);
  });
});

Deno.test("the [inbound] section of a config file sets the checks and the policy", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "postino-inbound-toml-" });
  try {
    const off = `${dir}/off.toml`;
    const strict = `${dir}/strict.toml`;
    await Deno.writeTextFile(off, "[inbound]\nchecks = false\n");
    await Deno.writeTextFile(
      strict,
      '[inbound]\nchecks = true\nspf_fail = "reject"\ndmarc = "ignore"\ndns_budget = "3s"\n',
    );

    await t.step("checks = false: no verdicts, no lookups, p=reject mail delivered", async () => {
      await using mx = await startInbound(ZONE, { args: ["--config", off] });
      const r = await deliver(mx, {
        sender: "ceo@reject.test",
        message: mail({ from: "ceo@reject.test", subject: "unchecked" }),
      });
      assertDelivered(r);
      const [stored] = storedMessages(mx, ALICE.user);
      const ours = fieldValues(stored, "Authentication-Results")
        .filter((v) => parseAuthResults(v).authservId === HOSTNAME);
      assert.deepEqual(ours, [], stored);
      assert.deepEqual(fieldValues(stored, "Received-SPF"), [], stored);
      assert.deepEqual(mx.dns.queries, [], "no DNS lookups");
    });

    await t.step("spf_fail = reject and dmarc = ignore from the file", async () => {
      await using mx = await startInbound(ZONE, { args: ["--config", strict] });
      const refused = await deliver(mx, {
        sender: "x@fail.test",
        message: mail({ from: "x@fail.test", subject: "spf fail" }),
      });
      assert.match(dataReply(refused), /^550 5\.7\.23 /);
      assertDelivered(
        await deliver(mx, {
          sender: "ceo@reject.test",
          message: mail({ from: "ceo@reject.test", subject: "dmarc ignored" }),
        }),
      );
      const box = storedMessages(mx, ALICE.user);
      assert.equal(box.length, 1);
      assert.equal(resultOf(box[0], "dmarc").result, "fail", box[0]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
