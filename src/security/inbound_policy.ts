/**
 * What to do with a message given its authentication verdicts: deliver it,
 * deliver it to Junk, refuse it, or ask the sender to try again. A pure
 * decision table, so every rule is tested on its own.
 *
 * Rules, in order:
 * 1. DMARC fails: when a check it rests on failed only for DNS trouble
 *    (temperror), 451 4.7.5 — a temporary error never turns into a
 *    permanent refusal. Else p=reject: 550 5.7.1; p=quarantine: Junk; p=none: deliver.
 * 2. DMARC could not be evaluated (temperror) and nothing passed: 451 4.7.5.
 * 3. SPF fails and the domain has no DMARC policy: deliver with the verdict
 *    in the header, or 550 5.7.23 with `spf_fail = "reject"`
 *    (SPF temperror then gives 451 4.7.24, RFC 7372).
 * 4. Everything else: deliver.
 */
import type { Verdicts } from "./inbound_auth.ts";

/** Policy settings. */
export interface InboundPolicy {
  /** Refuse mail whose SPF fails when its domain publishes no DMARC policy. @default false */
  spfFailReject: boolean;
  /** Apply the DMARC policies p=reject and p=quarantine. @default true */
  enforceDmarc: boolean;
}

/** The decision. */
export type Decision =
  | { action: "deliver"; mailbox?: "Junk"; why: string }
  | { action: "refuse"; code: number; enhanced: string; text: string };

/** Decides what happens to a message with these verdicts. */
export function decide(v: Verdicts, policy: InboundPolicy): Decision {
  const dnsTrouble = v.spf === "temperror" || v.dkim.some((d) => d.result === "temperror");
  const anyPass = v.spf === "pass" || v.dkim.some((d) => d.result === "pass");
  const from = v.fromDomain ?? "the sender's domain";
  if (v.dmarc === "fail") {
    if (dnsTrouble && policy.enforceDmarc && v.dmarcPolicy !== "none") {
      return tempfail("4.7.5", `Cannot check the DMARC alignment of ${from} now (DNS trouble)`);
    }
    if (policy.enforceDmarc && v.dmarcPolicy === "reject") {
      return {
        action: "refuse",
        code: 550,
        enhanced: "5.7.1",
        text: `Rejected by the DMARC policy of ${from} (the message is not authenticated)`,
      };
    }
    if (policy.enforceDmarc && v.dmarcPolicy === "quarantine") {
      return { action: "deliver", mailbox: "Junk", why: `DMARC quarantine policy of ${from}` };
    }
    return { action: "deliver", why: "DMARC failed, but the policy is none" };
  }
  if (v.dmarc === "temperror" && policy.enforceDmarc && !anyPass) {
    return tempfail("4.7.5", `Cannot look up the DMARC policy of ${from} now`);
  }
  const noDmarcPolicy = v.dmarc === "none";
  if (policy.spfFailReject && noDmarcPolicy) {
    if (v.spf === "fail") {
      return {
        action: "refuse",
        code: 550,
        enhanced: "5.7.23",
        text: `SPF check failed for ${v.spfDomain ?? "the sender's domain"}`,
      };
    }
    if (v.spf === "temperror") {
      return tempfail("4.7.24", `Cannot check SPF for ${v.spfDomain ?? "the sender"} now`);
    }
  }
  return { action: "deliver", why: "authentication allows delivery" };
}

function tempfail(enhanced: string, text: string): Decision {
  return { action: "refuse", code: 451, enhanced, text: `${text}; try again later` };
}
