/**
 * The DNS checks of `postino check` that are not mail authentication: where
 * mail and clients find us (MX, the host's address, reverse DNS, SRV,
 * autoconfig), the MTA-STS and TLS-RPT records, and the blocklists. Each
 * looks records up through our resolver and compares them with what this
 * server needs (see check.ts for which are FAIL and which WARN).
 */
import { isIP } from "node:net";
import type { DnsAnswer, Resolver } from "../dns/resolver.ts";
import { reverseName } from "../dns/resolver.ts";
import { dnsblName, dnsblVerdict } from "../dns/dnsbl.ts";
import { missing } from "./check_auth.ts";
import type { CheckContext, CheckResult } from "./check.ts";

const ok = (check: string, detail: string): CheckResult => ({ check, status: "ok", detail });
const warn = (check: string, detail: string): CheckResult => ({ check, status: "warn", detail });
const fail = (check: string, detail: string): CheckResult => ({ check, status: "fail", detail });

const records = <T>(answer: DnsAnswer<T>): T[] => answer.kind === "ok" ? answer.records : [];

/** The addresses (A and AAAA) of `name`, lower-cased, and the A answer to explain an empty list. */
async function addressesOf(resolver: Resolver, name: string) {
  const [a, aaaa] = await Promise.all([resolver.a(name), resolver.aaaa(name)]);
  const found = [...records(a), ...records(aaaa)].map((ip) => ip.toLowerCase());
  return { found, answer: a.kind === "error" ? a : aaaa.kind === "error" ? aaaa : a };
}

/** The host name resolves, to our addresses when they are given. */
export async function checkHostAddress(
  resolver: Resolver,
  hostname: string,
  given: string[],
): Promise<{ result: CheckResult; ours: string[] }> {
  const { found, answer } = await addressesOf(resolver, hostname);
  if (found.length === 0) {
    const why = answer.kind === "error"
      ? missing(answer, `the address of ${hostname}`)
      : `${hostname} has no A or AAAA record`;
    return {
      result: fail("host", `${why}; publish: ${hostname}. A ${given[0] ?? "<this server's IPv4>"}`),
      ours: given,
    };
  }
  if (given.length === 0) {
    return { result: ok("host", `${hostname} resolves to ${found.join(", ")}`), ours: found };
  }
  const absent = given.filter((ip) => !found.includes(ip));
  if (absent.length > 0) {
    return {
      result: fail(
        "host",
        `${hostname} resolves to ${found.join(", ")}, not to ${absent.join(", ")}; ` +
          `point its A/AAAA records at this server: ${hostname}. A ${absent[0]}`,
      ),
      ours: given,
    };
  }
  return { result: ok("host", `${hostname} resolves to ${found.join(", ")}`), ours: given };
}

/** The domain's MX names our host (RFC 5321 §5.1). */
export async function checkMx(ctx: CheckContext): Promise<CheckResult> {
  const answer = await ctx.resolver.mx(ctx.domain);
  const hint = `publish: ${ctx.domain}. MX 10 ${ctx.hostname}.`;
  const all = records(answer);
  if (all.length > 0 && all.every((r) => r.exchange === "")) {
    return fail("mx", `${ctx.domain} has a null MX (RFC 7505): it accepts no mail; ${hint}`);
  }
  const mx = all.filter((r) => r.exchange !== "");
  if (mx.length === 0) {
    const why = answer.kind === "error"
      ? missing(answer, `the MX of ${ctx.domain}`)
      : `${ctx.domain} has no MX record`;
    return fail("mx", `${why}; ${hint}`);
  }
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
  return await Promise.all(ctx.ours.map(async (ip) => {
    const answer = await ctx.resolver.ptr(ip);
    const names = records(answer);
    const ask = `ask your VPS provider to set the PTR of ${ip} to ${ctx.hostname}`;
    if (!names.includes(ctx.hostname)) {
      return warn(
        "ptr",
        names.length
          ? `${ip} is named ${names.join(", ")}; ${ask}`
          : `${missing(answer, `PTR of ${ip}`)}; ${ask}`,
      );
    }
    // Forward-confirmed: the name leads back to the address.
    const back =
      await (isIP(ip) === 6 ? ctx.resolver.aaaa(ctx.hostname) : ctx.resolver.a(ctx.hostname));
    if (!records(back).map((x) => x.toLowerCase()).includes(ip)) {
      return warn(
        "ptr",
        `${ip} is named ${ctx.hostname}, but ${ctx.hostname} does not resolve to ${ip}`,
      );
    }
    return ok("ptr", `${ip} is named ${ctx.hostname} and back (${reverseName(ip)})`);
  }));
}

/** The MTA-STS TXT record (RFC 8461 §3.1): one, `v=STSv1; id=...` (WARN). */
export async function checkMtaStsRecord(ctx: CheckContext): Promise<CheckResult> {
  const name = `_mta-sts.${ctx.domain}`;
  const answer = await ctx.resolver.txt(name);
  const found = records(answer).filter((t) => /^v=STSv1\s*(;|$)/.test(t));
  const hint = `see 'postino dns records ${ctx.domain}'`;
  if (found.length === 0) return warn("mta-sts", `${missing(answer, `TXT of ${name}`)}; ${hint}`);
  // RFC 8461 §3.1: more than one record is as if there were none.
  if (found.length > 1) {
    return warn("mta-sts", `${name} has ${found.length} STSv1 records, so none counts; keep one`);
  }
  const id = /;\s*id\s*=\s*([^;\s]*)\s*(;|$)/.exec(found[0])?.[1];
  if (!id || !/^[A-Za-z0-9]{1,32}$/.test(id)) {
    return warn(
      "mta-sts",
      `${name} has no valid id= (1 to 32 letters and digits): "${found[0]}"; ${hint}`,
    );
  }
  return ok("mta-sts", `${name} is published (id=${id})`);
}

/** A TLS-RPT record (RFC 8460 §3): one, `v=TLSRPTv1` first, with a rua= (WARN). */
export async function checkTlsRpt(ctx: CheckContext): Promise<CheckResult> {
  const name = `_smtp._tls.${ctx.domain}`;
  const hint = `publish: ${name}. TXT "v=TLSRPTv1; rua=mailto:postmaster@${ctx.domain}"`;
  const answer = await ctx.resolver.txt(name);
  const found = records(answer).filter((t) => /^v=TLSRPTv1\s*(;|$)/.test(t));
  if (found.length === 0) return warn("tls-rpt", `${missing(answer, `TXT of ${name}`)}; ${hint}`);
  if (found.length > 1) {
    return warn(
      "tls-rpt",
      `${name} has ${found.length} TLSRPTv1 records, so none counts; keep one`,
    );
  }
  if (!/;\s*rua\s*=\s*(mailto|https):/i.test(found[0])) {
    return warn("tls-rpt", `${name} has no rua=mailto: or rua=https: ("${found[0]}"); ${hint}`);
  }
  return ok("tls-rpt", `${name}: ${found[0]}`);
}

/** The client SRV records of RFC 6186 and RFC 8314, with the port each one usually has. */
const SERVICES: { service: string; port: number; required: boolean }[] = [
  { service: "_submissions._tcp", port: 465, required: true },
  { service: "_imaps._tcp", port: 993, required: true },
  { service: "_pop3s._tcp", port: 995, required: false },
  { service: "_submission._tcp", port: 587, required: false },
  { service: "_imap._tcp", port: 143, required: false },
  { service: "_pop3._tcp", port: 110, required: false },
];

/**
 * The client SRV records point at our host (WARN): `_submissions` and
 * `_imaps` always, the others when they are published.
 */
export async function checkSrv(ctx: CheckContext): Promise<CheckResult[]> {
  const lines = await Promise.all(SERVICES.map(async ({ service, port, required }) => {
    const name = `${service}.${ctx.domain}`;
    const answer = await ctx.resolver.srv(name);
    const srv = records(answer);
    if (srv.length === 0) {
      if (!required && answer.kind !== "error") return undefined;
      return warn(
        "srv",
        `${missing(answer, name)}; publish: ${name}. SRV 0 1 ${port} ${ctx.hostname}.`,
      );
    }
    // RFC 2782: a target of "." says the service is decidedly not offered.
    if (srv.every((r) => r.target === "")) return ok("srv", `${name}: not offered (target ".")`);
    const ours = srv.filter((r) => r.target === ctx.hostname);
    if (ours.length === 0) {
      return warn(
        "srv",
        `${name} points to ${srv.map((r) => r.target).join(", ")}, not ${ctx.hostname}; ` +
          `publish: ${name}. SRV 0 1 ${port} ${ctx.hostname}.`,
      );
    }
    return ok("srv", `${name} -> ${ctx.hostname}:${ours[0].port}`);
  }));
  return lines.filter((l) => l !== undefined);
}

/** autoconfig.DOMAIN leads to our host, through a CNAME or its own addresses (WARN). */
export async function checkAutoconfig(ctx: CheckContext): Promise<CheckResult> {
  const name = `autoconfig.${ctx.domain}`;
  const { found, answer } = await addressesOf(ctx.resolver, name);
  const hint = `publish: ${name}. CNAME ${ctx.hostname}.`;
  if (found.length === 0) return warn("autoconfig", `${missing(answer, name)}; ${hint}`);
  if (ctx.ours.length > 0 && !found.some((ip) => ctx.ours.includes(ip))) {
    return warn(
      "autoconfig",
      `${name} resolves to ${found.join(", ")}, not to this server; ${hint}`,
    );
  }
  return ok("autoconfig", `${name} resolves to this server (${found.join(", ")})`);
}

/** Our addresses are on none of the configured blocklists (FAIL when listed). */
export async function checkDnsbl(ctx: CheckContext): Promise<CheckResult[]> {
  const zones = ctx.config.check.dnsbl;
  if (zones.length === 0) return [];
  if (ctx.ours.length === 0) return [warn("dnsbl", "no address of ours to look up on blocklists")];
  const asks = ctx.ours.flatMap((ip) => zones.map((zone) => ({ ip, zone })));
  return await Promise.all(asks.map(async ({ ip, zone }) => {
    const name = dnsblName(ip, zone);
    if (!name) return warn("dnsbl", `${ip} is not an IP address; cannot ask ${zone}`);
    const answer = await ctx.resolver.a(name);
    const { verdict, codes } = dnsblVerdict(answer);
    switch (verdict) {
      case "clear":
        return ok("dnsbl", `${ip} is not on ${zone}`);
      case "listed":
        return fail(
          "dnsbl",
          `${ip} is listed on ${zone} (${codes.join(", ")}); look the address up on the list's ` +
            `web site and ask for its removal`,
        );
      case "refused":
        return warn(
          "dnsbl",
          `could not check ${zone}: it refused to answer about ${ip} (${codes.join(", ")}), ` +
            `as it does for queries through public resolvers; use a resolver of your own (--dns)`,
        );
      default:
        return warn(
          "dnsbl",
          answer.kind === "error"
            ? `could not check ${zone} about ${ip}: ${answer.detail}`
            : `could not check ${zone}: it answered ${codes.join(", ")} about ${ip}, which is ` +
              `not a blocklist code (does your resolver rewrite NXDOMAIN?)`,
        );
    }
  }));
}
