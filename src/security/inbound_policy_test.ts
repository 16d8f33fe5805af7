import assert from "node:assert/strict";
import type { CheckResult, Verdicts } from "./inbound_auth.ts";
import { decide, type Decision, type InboundPolicy } from "./inbound_policy.ts";

const DEFAULT: InboundPolicy = { spfFailReject: false, enforceDmarc: true };
const STRICT_SPF: InboundPolicy = { spfFailReject: true, enforceDmarc: true };
const NO_DMARC: InboundPolicy = { spfFailReject: false, enforceDmarc: false };

function v(
  spf: CheckResult,
  dkim: CheckResult[],
  dmarc: CheckResult,
  dmarcPolicy?: Verdicts["dmarcPolicy"],
): Verdicts {
  return {
    spf,
    spfDomain: "sender.example",
    dkim: dkim.map((result) => ({ domain: "sender.example", result })),
    dmarc,
    dmarcPolicy,
    fromDomain: "sender.example",
    arc: "none",
  };
}

/** The short form of a decision: deliver, junk, or the reply code and enhanced code. */
function short(d: Decision): string {
  if (d.action === "deliver") return d.mailbox === "Junk" ? "junk" : "deliver";
  return `${d.code} ${d.enhanced}`;
}

const TABLE: [string, Verdicts, InboundPolicy, string][] = [
  ["all pass", v("pass", ["pass"], "pass", "reject"), DEFAULT, "deliver"],
  ["DMARC fails, p=reject", v("fail", [], "fail", "reject"), DEFAULT, "550 5.7.1"],
  ["DMARC fails, p=quarantine", v("fail", [], "fail", "quarantine"), DEFAULT, "junk"],
  ["DMARC fails, p=none", v("fail", [], "fail", "none"), DEFAULT, "deliver"],
  [
    "DMARC fails with a DKIM temperror",
    v("fail", ["temperror"], "fail", "reject"),
    DEFAULT,
    "451 4.7.5",
  ],
  ["DMARC fails with an SPF temperror", v("temperror", [], "fail", "reject"), DEFAULT, "451 4.7.5"],
  [
    "DMARC fails with DNS trouble but p=none",
    v("temperror", [], "fail", "none"),
    DEFAULT,
    "deliver",
  ],
  ["DMARC temperror, nothing passed", v("fail", [], "temperror"), DEFAULT, "451 4.7.5"],
  ["DMARC temperror, SPF passed", v("pass", [], "temperror"), DEFAULT, "deliver"],
  ["DMARC temperror, DKIM passed", v("fail", ["pass"], "temperror"), DEFAULT, "deliver"],
  ["DMARC not enforced, p=reject", v("fail", [], "fail", "reject"), NO_DMARC, "deliver"],
  ["DMARC not enforced, temperror", v("fail", [], "temperror"), NO_DMARC, "deliver"],
  ["SPF fail, no DMARC policy", v("fail", [], "none"), DEFAULT, "deliver"],
  ["SPF fail, no DMARC policy, spf_fail=reject", v("fail", [], "none"), STRICT_SPF, "550 5.7.23"],
  ["SPF softfail, spf_fail=reject", v("softfail", [], "none"), STRICT_SPF, "deliver"],
  ["SPF temperror, spf_fail=reject", v("temperror", [], "none"), STRICT_SPF, "451 4.7.24"],
  ["SPF temperror, default", v("temperror", [], "none"), DEFAULT, "deliver"],
  [
    "SPF fail but DMARC passes through DKIM",
    v("fail", ["pass"], "pass", "reject"),
    STRICT_SPF,
    "deliver",
  ],
  ["SPF none, unsigned, no DMARC", v("none", [], "none"), STRICT_SPF, "deliver"],
  ["DKIM fails alone, no DMARC", v("none", ["fail"], "none"), DEFAULT, "deliver"],
];

for (const [name, verdicts, policy, want] of TABLE) {
  Deno.test(`decide(): ${name} -> ${want}`, () => {
    assert.equal(short(decide(verdicts, policy)), want);
  });
}

Deno.test("decide() names DMARC and the domain when it refuses", () => {
  const d = decide(v("fail", [], "fail", "reject"), DEFAULT);
  assert.ok(d.action === "refuse" && /DMARC/.test(d.text) && /sender\.example/.test(d.text));
  const t = decide(v("fail", ["temperror"], "fail", "reject"), DEFAULT);
  assert.ok(t.action === "refuse" && /try again later/.test(t.text));
});
