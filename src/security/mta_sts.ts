/**
 * MTA-STS (RFC 8461) for our local domains: the policy served at
 * `https://mta-sts.D/.well-known/mta-sts.txt`, the domain a request is for,
 * and the id that goes into the `_mta-sts.D` TXT record. Pure functions; the
 * HTTP layer serves them.
 */

/** The policy mode (RFC 8461 §3.2, applied as §5 says). */
export type MtaStsMode = "enforce" | "testing" | "none";

const MODES: readonly MtaStsMode[] = ["enforce", "testing", "none"];
/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about one year). */
const MAX_AGE_LIMIT = 31_557_600;
// RFC 8461 §3.2 sts-policy-mx-value = ["*."] Domain, with RFC 5321 §4.1.2 Domain.
const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const MX_PATTERN = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);

/**
 * The RFC 8461 §3.2 policy body: "version: STSv1" first, then "mode", one
 * "mx" per MX host pattern (lower-cased, a trailing dot dropped, duplicates
 * dropped) and "max_age", each line ending in CRLF. Throws RangeError for an
 * unknown mode, an mx that is not `["*."] Domain`, no mx unless mode is
 * "none", or a max_age that is not an integer in 0..31557600 (RFC 8461
 * recommends 86400 or more for a policy in use).
 */
export function mtaStsPolicy(
  policy: { mode: MtaStsMode; mx: string[]; maxAgeSeconds: number },
): string {
  if (!MODES.includes(policy.mode)) {
    throw new RangeError(`Invalid MTA-STS mode: ${JSON.stringify(policy.mode)}`);
  }
  const mx = new Set<string>();
  for (const given of policy.mx) {
    const host = given.replace(/\.$/, "").toLowerCase();
    if (host.length > 253 || !MX_PATTERN.test(host)) {
      throw new RangeError(`Invalid MTA-STS mx pattern: ${JSON.stringify(given)}`);
    }
    mx.add(host);
  }
  // RFC 8461 §3.2: mx is "required if mode is not 'none'".
  if (mx.size === 0 && policy.mode !== "none") {
    throw new RangeError(`Invalid MTA-STS policy: mode ${policy.mode} needs at least one mx`);
  }
  const maxAge = policy.maxAgeSeconds;
  if (!Number.isInteger(maxAge) || maxAge < 0 || maxAge > MAX_AGE_LIMIT) {
    throw new RangeError(`Invalid MTA-STS max_age: ${maxAge} (expected 0 to ${MAX_AGE_LIMIT})`);
  }
  const lines = ["version: STSv1", `mode: ${policy.mode}`, ...[...mx].map((h) => `mx: ${h}`)];
  lines.push(`max_age: ${maxAge}`);
  return lines.map((line) => `${line}\r\n`).join("");
}

/**
 * The local domain D when `host` (an HTTP Host header, maybe with :port, any
 * case, maybe with a trailing dot) is "mta-sts.D" and `localDomains(D)` is
 * true; D is given lower-cased without the trailing dot. Else undefined.
 */
export function mtaStsDomain(
  host: string | null | undefined,
  localDomains: (domain: string) => boolean,
): string | undefined {
  if (!host) return undefined;
  // RFC 9110 §7.2: Host = uri-host [ ":" port ]; an IP literal never matches.
  const name = host.trim().toLowerCase().replace(/:[0-9]*$/, "").replace(/\.$/, "");
  if (!name.startsWith("mta-sts.")) return undefined;
  const domain = name.slice("mta-sts.".length);
  if (domain === "" || domain.startsWith(".") || !localDomains(domain)) return undefined;
  return domain;
}

/**
 * A policy id for the `_mta-sts` TXT record (RFC 8461 §3.1: `id=` 1 to 32
 * alphanumeric characters) that changes whenever the policy text changes:
 * the first 128 bits of its SHA-256, in lower-case hex (32 characters).
 */
export async function mtaStsPolicyId(policyText: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(policyText));
  return Array.from(new Uint8Array(digest).slice(0, 16), (b) => b.toString(16).padStart(2, "0"))
    .join("");
}
