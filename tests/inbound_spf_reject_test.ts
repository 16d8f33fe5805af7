/**
 * The `spf_fail = "reject"` policy (POSTINO_SPF_FAIL=reject): a failed SPF
 * check of a domain without a DMARC policy is refused with 550 5.7.23
 * (RFC 7372), an SPF temperror then asks to try again (451 4.7.24), and
 * anything short of a hard fail is still delivered. Also: bad values of the
 * [inbound] settings stop `serve` with a usage error.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  assertDelivered,
  dataReply,
  deliver,
  type Inbound,
  mail,
  messageCount,
  resultOf,
  startInbound,
  storedMessages,
} from "./support/inbound_fixture.ts";
import { NO_DNS, runCli } from "./support/server.ts";

const ZONE = {
  "fail.test": { TXT: ["v=spf1 -all"] },
  "soft.test": { TXT: ["v=spf1 ~all"] },
  "pass.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "servfail.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  // SPF fails, but the domain has a DMARC policy: DMARC decides, and p=none delivers.
  "monitored.test": { TXT: ["v=spf1 -all"] },
  "_dmarc.monitored.test": { TXT: ["v=DMARC1; p=none"] },
};

async function sendFrom(mx: Inbound, domain: string, subject: string) {
  return await deliver(mx, {
    sender: `bounce@${domain}`,
    message: mail({ from: `news@${domain}`, subject }),
  });
}

Deno.test("POSTINO_SPF_FAIL=reject refuses SPF failures of domains without DMARC", async (t) => {
  await using mx = await startInbound(ZONE, {
    behaviours: { "servfail.test": "servfail" },
    env: { POSTINO_SPF_FAIL: "reject" },
  });

  await t.step("SPF fail, no DMARC record: 550 5.7.23 naming SPF, nothing stored", async () => {
    const before = messageCount(mx);
    const refusal = dataReply(await sendFrom(mx, "fail.test", "hard fail"));
    assert.match(refusal, /^550 5\.7\.23 /);
    assert.match(refusal, /SPF/);
    assert.match(refusal, /fail\.test/);
    assert.equal(messageCount(mx), before);
  });

  await t.step("SPF temperror, no DMARC record: 451 4.7.24", async () => {
    const before = messageCount(mx);
    const refusal = dataReply(await sendFrom(mx, "servfail.test", "temp"));
    assert.match(refusal, /^451 4\.7\.24 /);
    assert.equal(messageCount(mx), before);
  });

  await t.step("softfail, pass, and a fail under DMARC p=none are delivered", async () => {
    assertDelivered(await sendFrom(mx, "soft.test", "soft"));
    assertDelivered(await sendFrom(mx, "pass.test", "pass"));
    assertDelivered(await sendFrom(mx, "monitored.test", "monitored"));
    const box = storedMessages(mx, ALICE.user);
    assert.deepEqual(
      box.map((m) => [resultOf(m, "spf").result, resultOf(m, "dmarc").result]),
      [["softfail", "none"], ["pass", "none"], ["fail", "fail"]],
    );
  });
});

Deno.test("bad [inbound] settings stop serve with one clear line", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "postino-inbound-cfg-" });
  try {
    const config = `${dataDir}/postino.toml`;
    // A wrong setting is a failure (exit status 1), not a malformed command line (2).
    const cases: [string, { env?: Record<string, string>; toml?: string }, RegExp][] = [
      [
        "POSTINO_SPF_FAIL=maybe",
        { env: { POSTINO_SPF_FAIL: "maybe" } },
        /POSTINO_SPF_FAIL: "maybe"/,
      ],
      ["POSTINO_DMARC=off", { env: { POSTINO_DMARC: "off" } }, /POSTINO_DMARC: "off"/],
      [
        "POSTINO_INBOUND_DNS_BUDGET=soon",
        { env: { POSTINO_INBOUND_DNS_BUDGET: "soon" } },
        /POSTINO_INBOUND_DNS_BUDGET: "soon"/,
      ],
      [
        "POSTINO_INBOUND_CHECKS=perhaps",
        { env: { POSTINO_INBOUND_CHECKS: "perhaps" } },
        /POSTINO_INBOUND_CHECKS/,
      ],
      ['[inbound] dmarc = "lenient"', { toml: '[inbound]\ndmarc = "lenient"\n' }, /inbound\.dmarc/],
      [
        '[inbound] spf = "reject" (unknown key)',
        { toml: '[inbound]\nspf = "reject"\n' },
        /inbound\.spf\b/,
      ],
    ];
    for (const [name, { env, toml }, names] of cases) {
      await t.step(name, async () => {
        if (toml !== undefined) await Deno.writeTextFile(config, toml);
        const r = await runCli(
          [
            "serve",
            "--smtp",
            "127.0.0.1:0",
            "--dns",
            NO_DNS,
            ...(toml === undefined ? [] : ["--config", config]),
          ],
          { dataDir, env, timeoutMs: 20_000 },
        );
        assert.equal(r.code, 1, r.stderr);
        const lines = r.stderr.trim().split("\n");
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0], /^postino: /);
        assert.match(lines[0], names);
      });
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
