/**
 * The mail authentication checks of `postino check`: SPF evaluated for our
 * addresses by mailauth, each active DKIM key against its published record,
 * and the DMARC record. All three FAIL when wrong (see check.ts).
 */
import type { DNSResolver } from "mailauth";
import type { DnsAnswer } from "../dns/resolver.ts";
import { mailauthResolver } from "../security/dns_adapter.ts";
import { listDkimKeys } from "../store/dkim_keys.ts";
import type { CheckContext, CheckResult } from "./check.ts";

const ok = (check: string, detail: string): CheckResult => ({ check, status: "ok", detail });
const warn = (check: string, detail: string): CheckResult => ({ check, status: "warn", detail });
const fail = (check: string, detail: string): CheckResult => ({ check, status: "fail", detail });

/** How long the SPF evaluation of one address may take, and one of its lookups. */
const SPF_BUDGET_MS = 10_000;
const SPF_LOOKUP_MS = 5_000;

/** Why an answer has no records, in words. */
export function missing(answer: DnsAnswer<unknown>, what: string): string {
  if (answer.kind === "error") return `could not look up ${what}: ${answer.detail}`;
  return answer.kind === "nxdomain" ? `${what}: no such name` : `${what}: no record`;
}

/** Options of {@link parseTagList}. */
export interface TagListOptions {
  /**
   * Compare tag names without regard to case (DMARC, RFC 7489 §6.4, whose ABNF
   * literals are case-insensitive); DKIM's are case-sensitive (RFC 6376 §3.2).
   * @default false
   */
  ignoreCase?: boolean;
}

/**
 * A tag=value list (RFC 6376 §3.2, also RFC 7489 §6.4): tags in their order,
 * values with surrounding whitespace removed; a string says why the text is
 * not one (a tag without "=", a bad tag name, a tag given twice).
 */
export function parseTagList(
  text: string,
  options: TagListOptions = {},
): Map<string, string> | string {
  const tags = new Map<string, string>();
  for (const spec of text.split(";")) {
    // A final ";" is allowed; an empty spec elsewhere is tolerated, as verifiers do.
    if (spec.trim() === "") continue;
    const eq = spec.indexOf("=");
    if (eq < 0) return `"${spec.trim()}" has no "="`;
    let name = spec.slice(0, eq).trim();
    // tag-name = ALPHA *ALNUMPUNC
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) return `bad tag name "${name}"`;
    if (options.ignoreCase) name = name.toLowerCase();
    if (tags.has(name)) return `tag ${name}= appears twice`;
    const value = spec.slice(eq + 1).trim();
    // VALCHAR is %x21-3A / %x3C-7E; whitespace (FWS) may only sit between value characters.
    if (/[^\x21-\x3a\x3c-\x7e \t\r\n]/.test(value)) {
      return `tag ${name}= has a character that is not allowed`;
    }
    tags.set(name, value);
  }
  return tags;
}

/** SPF of the domain passes each of our addresses (RFC 7208, evaluated by mailauth). */
export async function checkSpf(ctx: CheckContext): Promise<CheckResult[]> {
  const hint = `publish: ${ctx.domain}. TXT "v=spf1 mx -all"`;
  if (ctx.ours.length === 0) {
    return [fail("spf", `no address of ours to evaluate SPF for; give --ip; ${hint}`)];
  }
  const sender = `postmaster@${ctx.domain}`;
  // Loaded here, not at start: a server that never runs a check need not carry mailauth.
  const { spf } = await import("mailauth/lib/spf/index.js");
  return await Promise.all(ctx.ours.map(async (ip) => {
    const signal = AbortSignal.timeout(SPF_BUDGET_MS);
    const r = await spf({
      sender,
      ip,
      helo: ctx.hostname,
      mta: ctx.hostname,
      // MX answers are objects, not strings, which mailauth's declared type leaves out.
      resolver: mailauthResolver(ctx.resolver, {
        signal,
        perLookupMs: SPF_LOOKUP_MS,
      }) as DNSResolver,
    }) as { status: { result: string; comment?: string }; rr?: string };
    const result = r.status.result;
    const record = r.rr ? ` (${r.rr})` : "";
    switch (result) {
      case "pass":
        return ok("spf", `SPF of ${ctx.domain} passes ${ip}${record}`);
      case "none":
        return fail("spf", `${ctx.domain} has no SPF record; ${hint}`);
      case "permerror":
      case "temperror": {
        // The comment is "<mta>: ... error in processing during lookup of <sender>[: why]".
        const why = r.status.comment?.split(`${sender}: `)[1] ?? "";
        const what = result === "permerror"
          ? "a broken SPF record"
          : "an SPF record that could not be evaluated (DNS failure)";
        return fail(
          "spf",
          `${ctx.domain} has ${what} for ${ip}${record}${why ? `: ${why}` : ""}; ${hint}`,
        );
      }
      default:
        return fail(
          "spf",
          `SPF of ${ctx.domain} gives ${result} for ${ip}${record}; put "mx" or "ip${
            ip.includes(":") ? 6 : 4
          }:${ip}" before the "all", e.g. ${hint}`,
        );
    }
  }));
}

/** Each active DKIM key of the domain is published as it is (RFC 6376 §3.6.1). */
export async function checkDkim(ctx: CheckContext): Promise<CheckResult[]> {
  const keys = listDkimKeys(ctx.store).filter((k) => k.domain === ctx.domain && k.active);
  if (keys.length === 0) {
    return [
      fail("dkim", `${ctx.domain} has no DKIM key; make one: postino dkim keygen ${ctx.domain}`),
    ];
  }
  return await Promise.all(keys.map(async (key) => {
    const name = `${key.selector}._domainkey.${ctx.domain}`;
    const want = `publish: ${name}. TXT "v=DKIM1; k=${key.algorithm}; p=${key.publicKey}"`;
    const answer = await ctx.resolver.txt(name);
    const texts = answer.kind === "ok" ? answer.records : [];
    if (texts.length === 0) return fail("dkim", `${missing(answer, `TXT of ${name}`)}; ${want}`);
    const problems = texts.map((text) => dkimRecordProblem(text, key));
    const good = problems.filter((p) => p === undefined).length;
    if (good > 0 && good === texts.length) {
      return ok("dkim", `${name} publishes the ${key.algorithm} key that signs`);
    }
    if (good > 0) {
      // RFC 6376 §3.6.2.2: with several key records, which one a verifier takes is undefined.
      return fail("dkim", `${name} has ${texts.length} TXT records; keep only ours: ${want}`);
    }
    const why = texts.length === 1 ? problems[0] : `none of its ${texts.length} records is ours`;
    return fail("dkim", `${name}: ${why}; ${want}`);
  }));
}

/** Why a TXT record is not the key record of `key`; undefined when it is. */
export function dkimRecordProblem(
  text: string,
  key: { algorithm: string; publicKey: string },
): string | undefined {
  const tags = parseTagList(text);
  if (typeof tags === "string") return `the record is not a DKIM key record (${tags})`;
  // RFC 6376 §3.6.1: v= is optional, but when present it is the first tag and exactly DKIM1.
  if (tags.has("v") && ([...tags.keys()][0] !== "v" || tags.get("v") !== "DKIM1")) {
    return `v= must come first and be DKIM1 (found v=${tags.get("v")})`;
  }
  if (!tags.has("p")) return "the record has no p= (public key)";
  const p = tags.get("p")!.replace(/[ \t\r\n]+/g, "");
  if (p === "") return "the key is revoked (empty p=)";
  const k = (tags.get("k") ?? "rsa").toLowerCase();
  if (k !== key.algorithm) return `the record says k=${k}, our key is ${key.algorithm}`;
  const services = (tags.get("s") ?? "*").split(":").map((s) => s.trim().toLowerCase());
  if (!services.includes("*") && !services.includes("email")) {
    return `the key is not for email (s=${tags.get("s")})`;
  }
  if (p !== key.publicKey) return "the record publishes another key than ours (p= differs)";
  return undefined;
}

/** A DMARC record (RFC 7489 §6.1), one, well-formed; p=none only monitors (WARN). */
export async function checkDmarc(ctx: CheckContext): Promise<CheckResult> {
  const name = `_dmarc.${ctx.domain}`;
  const hint =
    `publish: ${name}. TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@${ctx.domain}"`;
  const answer = await ctx.resolver.txt(name);
  // RFC 7489 §6.6.3: records that do not start with a v= tag of DMARC are discarded.
  const found = (answer.kind === "ok" ? answer.records : []).filter((t) =>
    /^\s*v\s*=\s*DMARC1\s*(;|$)/i.test(t)
  );
  if (found.length === 0) {
    return fail("dmarc", `${missing(answer, `DMARC record ${name}`)}; ${hint}`);
  }
  if (found.length > 1) {
    return fail("dmarc", `${name} has ${found.length} DMARC records, so none applies; keep one`);
  }
  const tags = parseTagList(found[0], { ignoreCase: true });
  if (typeof tags === "string") {
    return fail("dmarc", `${name} cannot be parsed (${tags}): "${found[0]}"; ${hint}`);
  }
  if (tags.get("v") !== "DMARC1") return fail("dmarc", `${name}: v= must be DMARC1; ${hint}`);
  const policy = (tags.get("p") ?? "").toLowerCase();
  if (!["none", "quarantine", "reject"].includes(policy)) {
    return fail("dmarc", `${name} has no valid p= ("${found[0]}"); ${hint}`);
  }
  for (const tag of ["adkim", "aspf"]) {
    const value = tags.get(tag)?.toLowerCase();
    if (value !== undefined && value !== "r" && value !== "s") {
      return fail("dmarc", `${name} has ${tag}=${value}, which is neither r nor s; ${hint}`);
    }
  }
  const strict = ["adkim", "aspf"].filter((t) => tags.get(t)?.toLowerCase() === "s");
  const alignment = strict.length
    ? `; strict alignment (${
      strict.map((t) => `${t}=s`).join(", ")
    }): mail whose From is ${ctx.domain} passes only when signed or sent as exactly ${ctx.domain}, not a subdomain`
    : "";
  if (policy === "none") {
    return warn(
      "dmarc",
      `${name} has p=none: forged mail still gets through; move to p=quarantine${alignment}`,
    );
  }
  const pct = tags.get("pct");
  if (pct !== undefined && pct !== "100") {
    return warn(
      "dmarc",
      `${name} has p=${policy} but pct=${pct}: the policy applies to only part of the forged mail; remove pct=${alignment}`,
    );
  }
  return ok("dmarc", `${name} has p=${policy}${alignment}`);
}
