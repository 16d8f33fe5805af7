/**
 * The DNS checks of `postino check`: each looks a record up through our
 * resolver and compares it with what this server needs (see check.ts for
 * which are FAIL and which WARN).
 */
import { isIP } from "node:net";
import type { DNSResolver } from "mailauth";
import { spf } from "mailauth/lib/spf/index.js";
import type { DnsAnswer, Resolver } from "../dns/resolver.ts";
import { reverseName } from "../dns/resolver.ts";
import { mailauthResolver } from "../security/dns_adapter.ts";
import { listDkimKeys } from "../store/dkim_keys.ts";
import type { CheckContext, CheckResult } from "./check.ts";

const ok = (check: string, detail: string): CheckResult => ({ check, status: "ok", detail });
const warn = (check: string, detail: string): CheckResult => ({ check, status: "warn", detail });
const fail = (check: string, detail: string): CheckResult => ({ check, status: "fail", detail });

/** Why an answer has no records, in words. */
function missing(answer: DnsAnswer<unknown>, what: string): string {
  if (answer.kind === "error") {
    return `could not look up ${what}: ${answer.reason} (${answer.detail})`;
  }
  return answer.kind === "nxdomain" ? `${what}: no such name` : `${what}: no record`;
}

const records = <T>(answer: DnsAnswer<T>): T[] => answer.kind === "ok" ? answer.records : [];

/** The TXT records at `name` that start with `prefix` (case-insensitive). */
async function txtWith(resolver: Resolver, name: string, prefix: string) {
  const answer = await resolver.txt(name);
  const found = records(answer).filter((t) => t.toLowerCase().startsWith(prefix.toLowerCase()));
  return { answer, found };
}

/** A tag=value list (RFC 6376 §3.2, RFC 7489 §6.4, RFC 8461 §3.1), tag names lower-cased. */
export function tagList(text: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const part of text.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    tags.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
  }
  return tags;
}

/** The host name resolves, to our addresses when they are given. */
export async function checkHostAddress(
  resolver: Resolver,
  hostname: string,
  given: string[],
): Promise<{ result: CheckResult; ours: string[] }> {
  const [a, aaaa] = await Promise.all([resolver.a(hostname), resolver.aaaa(hostname)]);
  const found = [...records(a), ...records(aaaa)].map((ip) => ip.toLowerCase());
  if (found.length === 0) {
    const why = a.kind === "error"
      ? missing(a, `A of ${hostname}`)
      : `${hostname} has no A or AAAA record`;
    return {
      result: fail("host", `${why}; publish ${hostname}. A ${given[0] ?? "<this server's IPv4>"}`),
      ours: given,
    };
  }
  if (given.length === 0) {
    return { result: ok("host", `${hostname} resolves to ${found.join(", ")}`), ours: found };
  }
  const absent = given.filter((ip) => !found.includes(ip.toLowerCase()));
  if (absent.length > 0) {
    return {
      result: fail(
        "host",
        `${hostname} resolves to ${found.join(", ")}, not to ${
          absent.join(", ")
        }; point its A/AAAA records at this server`,
      ),
      ours: given,
    };
  }
  return { result: ok("host", `${hostname} resolves to ${found.join(", ")}`), ours: given };
}

/** The domain's MX names our host. */
export async function checkMx(ctx: CheckContext): Promise<CheckResult> {
  const answer = await ctx.resolver.mx(ctx.domain);
  const hint = `publish: ${ctx.domain}. MX 10 ${ctx.hostname}.`;
  const mx = records(answer).filter((r) => r.exchange !== "");
  if (mx.length === 0) return fail("mx", `${missing(answer, `MX of ${ctx.domain}`)}; ${hint}`);
  const names = mx.map((r) => r.exchange);
  if (!names.includes(ctx.hostname)) {
    return fail(
      "mx",
      `${ctx.domain} MX points to ${names.join(", ")}, not ${ctx.hostname}; ${hint}`,
    );
  }
  const others = names.filter((n) => n !== ctx.hostname);
  return ok(
    "mx",
    `${ctx.domain} MX ${ctx.hostname}${others.length ? ` (also ${others.join(", ")})` : ""}`,
  );
}

/** Forward-confirmed reverse DNS of each of our addresses (WARN). */
export async function checkReverseDns(ctx: CheckContext): Promise<CheckResult[]> {
  if (ctx.ours.length === 0) return [warn("ptr", "no address of ours to check the reverse DNS of")];
  const results: CheckResult[] = [];
  for (const ip of ctx.ours) {
    const answer = await ctx.resolver.ptr(ip);
    const names = records(answer);
    const ask = `ask your VPS provider to set the PTR of ${ip} to ${ctx.hostname}`;
    if (!names.includes(ctx.hostname)) {
      results.push(warn(
        "ptr",
        names.length
          ? `${ip} is named ${names.join(", ")}; ${ask}`
          : `${missing(answer, `PTR of ${ip}`)}; ${ask}`,
      ));
      continue;
    }
    // Forward-confirmed: the name leads back to the address.
    const back =
      await (isIP(ip) === 6 ? ctx.resolver.aaaa(ctx.hostname) : ctx.resolver.a(ctx.hostname));
    if (!records(back).map((x) => x.toLowerCase()).includes(ip.toLowerCase())) {
      results.push(
        warn(
          "ptr",
          `${ip} is named ${ctx.hostname}, but ${ctx.hostname} does not resolve to ${ip}`,
        ),
      );
    } else {
      results.push(ok("ptr", `${ip} is named ${ctx.hostname} and back (${reverseName(ip)})`));
    }
  }
  return results;
}

/** SPF of the domain passes each of our addresses (RFC 7208, evaluated by mailauth). */
export async function checkSpf(ctx: CheckContext): Promise<CheckResult[]> {
  if (ctx.ours.length === 0) {
    return [fail("spf", "no address of ours to evaluate SPF for; give --ip")];
  }
  const results: CheckResult[] = [];
  for (const ip of ctx.ours) {
    const signal = AbortSignal.timeout(10_000);
    const r = await spf({
      sender: `postmaster@${ctx.domain}`,
      ip,
      helo: ctx.hostname,
      mta: ctx.hostname,
      // MX answers are objects, not strings, which mailauth's declared type leaves out.
      resolver: mailauthResolver(ctx.resolver, { signal, perLookupMs: 5_000 }) as DNSResolver,
    }) as { status: { result: string }; rr?: string };
    const result = r.status.result;
    const record = r.rr ? ` (${r.rr})` : "";
    if (result === "pass") results.push(ok("spf", `SPF of ${ctx.domain} passes ${ip}${record}`));
    else {
      results.push(fail(
        "spf",
        `SPF of ${ctx.domain} gives ${result} for ${ip}${record}; publish: ${ctx.domain}. TXT "v=spf1 mx -all"`,
      ));
    }
  }
  return results;
}

/** Each active DKIM key of the domain is published as it is (RFC 6376 §3.6.1). */
export async function checkDkim(ctx: CheckContext): Promise<CheckResult[]> {
  const keys = listDkimKeys(ctx.store).filter((k) => k.domain === ctx.domain && k.active);
  if (keys.length === 0) {
    return [
      fail("dkim", `${ctx.domain} has no DKIM key; make one: postino dkim keygen ${ctx.domain}`),
    ];
  }
  const results: CheckResult[] = [];
  for (const key of keys) {
    const name = `${key.selector}._domainkey.${ctx.domain}`;
    const answer = await ctx.resolver.txt(name);
    const want = `publish: ${name}. TXT "v=DKIM1; k=${key.algorithm}; p=${key.publicKey}"`;
    const found = records(answer).map(tagList).filter((t) => t.has("p"));
    if (found.length === 0) {
      results.push(fail("dkim", `${missing(answer, `TXT of ${name}`)}; ${want}`));
      continue;
    }
    const matches = found.some((t) =>
      (t.get("p") ?? "").replace(/\s+/g, "") === key.publicKey &&
      (t.get("k") ?? "rsa").toLowerCase() === key.algorithm
    );
    results.push(
      matches
        ? ok("dkim", `${name} publishes the ${key.algorithm} key that signs`)
        : fail("dkim", `${name} publishes another key than ours; ${want}`),
    );
  }
  return results;
}

/** A DMARC record (RFC 7489 §6.1); p=none only monitors (WARN). */
export async function checkDmarc(ctx: CheckContext): Promise<CheckResult> {
  const name = `_dmarc.${ctx.domain}`;
  const hint =
    `publish: ${name}. TXT "v=DMARC1; p=quarantine; rua=mailto:postmaster@${ctx.domain}"`;
  const { answer, found } = await txtWith(ctx.resolver, name, "v=DMARC1");
  if (found.length === 0) {
    return fail("dmarc", `${missing(answer, `DMARC record ${name}`)}; ${hint}`);
  }
  if (found.length > 1) return fail("dmarc", `${name} has ${found.length} DMARC records; keep one`);
  const tags = tagList(found[0]);
  const policy = (tags.get("p") ?? "").toLowerCase();
  if (!["none", "quarantine", "reject"].includes(policy)) {
    return fail("dmarc", `${name} has no valid p= (${found[0]}); ${hint}`);
  }
  const strict = ["adkim", "aspf"].filter((t) => tags.get(t)?.toLowerCase() === "s");
  const alignment = strict.length ? `, strict ${strict.join(" and ")} alignment` : "";
  if (policy === "none") {
    return warn(
      "dmarc",
      `${name} has p=none: forged mail still gets through; move to p=quarantine`,
    );
  }
  return ok("dmarc", `${name} has p=${policy}${alignment}`);
}

/** MTA-STS: the TXT record and the policy we serve agree with the MX (WARN). */
export async function checkMtaSts(
  ctx: CheckContext,
  fetchPolicy: (domain: string) => Promise<string | undefined>,
): Promise<CheckResult> {
  const name = `_mta-sts.${ctx.domain}`;
  const { answer, found } = await txtWith(ctx.resolver, name, "v=STSv1");
  if (found.length !== 1 || !/^[A-Za-z0-9]{1,32}$/.test(tagList(found[0]).get("id") ?? "")) {
    const what = found.length > 1
      ? `${name} has ${found.length} records; keep one`
      : missing(answer, `TXT of ${name}`);
    return warn("mta-sts", `${what}; see 'postino dns records ${ctx.domain}'`);
  }
  const policy = await fetchPolicy(ctx.domain).catch(() => undefined);
  if (policy === undefined) {
    return warn(
      "mta-sts",
      `${name} is published, but https://mta-sts.${ctx.domain}/.well-known/mta-sts.txt does not answer; point mta-sts.${ctx.domain} at ${ctx.hostname}`,
    );
  }
  const mx = [...policy.matchAll(/^mx:\s*(\S+)\s*$/gm)].map((m) => m[1].toLowerCase());
  const covered = mx.some((p) =>
    p === ctx.hostname || (p.startsWith("*.") && ctx.hostname.endsWith(p.slice(1)) &&
      !ctx.hostname.slice(0, -p.length + 1).includes("."))
  );
  if (!covered) {
    return warn(
      "mta-sts",
      `the MTA-STS policy names ${mx.join(", ") || "no mx"}, not ${ctx.hostname}`,
    );
  }
  const mode = /^mode:\s*(\S+)/m.exec(policy)?.[1] ?? "?";
  return ok("mta-sts", `${name} is published and the policy (mode ${mode}) names ${ctx.hostname}`);
}

/** A TLS-RPT record (RFC 8460 §3) (WARN). */
export async function checkTlsRpt(ctx: CheckContext): Promise<CheckResult> {
  const name = `_smtp._tls.${ctx.domain}`;
  const { answer, found } = await txtWith(ctx.resolver, name, "v=TLSRPTv1");
  if (found.length === 0) {
    return warn(
      "tls-rpt",
      `${
        missing(answer, `TXT of ${name}`)
      }; publish: ${name}. TXT "v=TLSRPTv1; rua=mailto:postmaster@${ctx.domain}"`,
    );
  }
  return ok("tls-rpt", `${name}: ${found[0]}`);
}

/** The client SRV records of RFC 6186 and RFC 8314 point at our host (WARN). */
export async function checkSrv(ctx: CheckContext): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const services: [string, number, boolean][] = [
    ["_submissions._tcp", 465, true],
    ["_imaps._tcp", 993, true],
    ["_pop3s._tcp", 995, false],
    ["_submission._tcp", 587, false],
    ["_imap._tcp", 143, false],
    ["_pop3._tcp", 110, false],
  ];
  for (const [service, port, expected] of services) {
    const name = `${service}.${ctx.domain}`;
    const answer = await ctx.resolver.srv(name);
    const srv = records(answer);
    if (srv.length === 0) {
      if (expected) {
        results.push(
          warn(
            "srv",
            `${missing(answer, name)}; publish: ${name}. SRV 0 1 ${port} ${ctx.hostname}.`,
          ),
        );
      }
      continue;
    }
    const ours = srv.filter((r) => r.target === ctx.hostname);
    if (srv.every((r) => r.target === "")) {
      results.push(ok("srv", `${name}: not offered (target ".")`));
    } else if (ours.length === 0) {
      results.push(
        warn(
          "srv",
          `${name} points to ${srv.map((r) => r.target).join(", ")}, not ${ctx.hostname}`,
        ),
      );
    } else results.push(ok("srv", `${name} -> ${ctx.hostname}:${ours[0].port}`));
  }
  return results;
}

/** autoconfig.DOMAIN leads to our host (WARN). */
export async function checkAutoconfig(ctx: CheckContext): Promise<CheckResult> {
  const name = `autoconfig.${ctx.domain}`;
  const [a, aaaa] = await Promise.all([ctx.resolver.a(name), ctx.resolver.aaaa(name)]);
  const found = [...records(a), ...records(aaaa)].map((ip) => ip.toLowerCase());
  const hint = `publish: ${name}. CNAME ${ctx.hostname}.`;
  if (found.length === 0) return warn("autoconfig", `${missing(a, name)}; ${hint}`);
  if (ctx.ours.length > 0 && !found.some((ip) => ctx.ours.includes(ip))) {
    return warn(
      "autoconfig",
      `${name} resolves to ${found.join(", ")}, not to this server; ${hint}`,
    );
  }
  return ok("autoconfig", `${name} resolves to this server`);
}

/** The name to ask a DNSBL about an address (RFC 5782 §2.1 and §2.4). */
export function dnsblName(ip: string, zone: string): string | undefined {
  const reverse = reverseName(ip);
  if (!reverse) return undefined;
  return `${reverse.replace(/\.(in-addr|ip6)\.arpa$/, "")}.${zone}`;
}

/** Our addresses are on none of the configured blocklists (FAIL when listed). */
export async function checkDnsbl(ctx: CheckContext): Promise<CheckResult[]> {
  const zones = ctx.config.check.dnsbl;
  if (zones.length === 0) return [];
  const results: CheckResult[] = [];
  for (const ip of ctx.ours) {
    for (const zone of zones) {
      const name = dnsblName(ip, zone);
      if (!name) continue;
      const answer = await ctx.resolver.a(name);
      const codes = records(answer);
      if (answer.kind === "nxdomain" || answer.kind === "nodata") {
        results.push(ok("dnsbl", `${ip} is not on ${zone}`));
      } else if (answer.kind === "error") {
        results.push(warn("dnsbl", `could not ask ${zone} about ${ip}: ${answer.reason}`));
      } else if (codes.every((c) => c.startsWith("127.255.255."))) {
        // Spamhaus answers 127.255.255.x when it refuses the query (public resolvers, limits).
        results.push(
          warn(
            "dnsbl",
            `${zone} refused to answer about ${ip} (${codes.join(", ")}); use your own resolver`,
          ),
        );
      } else {
        results.push(
          fail(
            "dnsbl",
            `${ip} is listed on ${zone} (${codes.join(", ")}); ask the list to delist it`,
          ),
        );
      }
    }
  }
  return results;
}
