/**
 * `postino check`'s report: what the world sees of a domain and of this
 * server, one line per check, each OK, WARN or FAIL with what to change.
 * FAIL is for what makes mail bounce or be distrusted (MX, the host's
 * address, SPF, DKIM, DMARC, a blocklisted address, a bad certificate);
 * WARN for what only helps (reverse DNS, MTA-STS, TLS-RPT, SRV, autoconfig).
 * Every lookup goes through our resolver and is bounded; a lookup that
 * fails is reported, never thrown.
 */
import type { X509Certificate } from "node:crypto";
import type { Config } from "../config.ts";
import type { Resolver } from "../dns/resolver.ts";
import type { Store } from "../store/db.ts";
import {
  checkAutoconfig,
  checkDkim,
  checkDmarc,
  checkDnsbl,
  checkHostAddress,
  checkMtaSts,
  checkMx,
  checkReverseDns,
  checkSpf,
  checkSrv,
  checkTlsRpt,
} from "./check_dns.ts";
import { checkCertificate, checkPort25, fetchMtaStsPolicy, peerCertificate } from "./check_tls.ts";

/** How one check came out. */
export type CheckStatus = "ok" | "warn" | "fail";

/** One line of the report. */
export interface CheckResult {
  /** A short name: mx, host, ptr, spf, dkim, dmarc, mta-sts, tls-rpt, srv, autoconfig, dnsbl, tls, port25. */
  check: string;
  status: CheckStatus;
  /** What was found, and for WARN and FAIL what to change. */
  detail: string;
}

/** What a check run needs. */
export interface CheckOptions {
  store: Store;
  config: Config;
  /** The domain, normalised. */
  domain: string;
  resolver: Resolver;
  /** Our public addresses; when empty, those the host name resolves to. */
  ips: string[];
  /** Try an outbound connection to port 25 (needs the internet). */
  port25: boolean;
  /** Fetches https://mta-sts.DOMAIN/.well-known/mta-sts.txt (tests stub it). */
  fetchPolicy?: (domain: string) => Promise<string | undefined>;
  /** The certificate a TLS listener of ours serves (tests stub it). */
  certificate?: (ip: string, hostname: string) => Promise<X509Certificate | string>;
  /** Whether an outbound connection to port 25 works (tests stub it). */
  probePort25?: () => Promise<string | undefined>;
}

/** The context each check gets: the options with our addresses known. */
export interface CheckContext extends CheckOptions {
  hostname: string;
  /** Our addresses: given, or found for the host name. */
  ours: string[];
}

/** Runs every check, in the order of the report. */
export async function checkDomain(options: CheckOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const hostname = options.config.hostname;
  const host = await checkHostAddress(options.resolver, hostname, options.ips);
  const ctx: CheckContext = { ...options, hostname, ours: host.ours };
  results.push(await checkMx(ctx));
  results.push(host.result);
  results.push(...await checkReverseDns(ctx));
  results.push(...await checkSpf(ctx));
  results.push(...await checkDkim(ctx));
  results.push(await checkDmarc(ctx));
  results.push(
    await checkMtaSts(
      ctx,
      options.fetchPolicy ?? ((domain) => fetchMtaStsPolicy(domain, options.resolver)),
    ),
  );
  results.push(await checkTlsRpt(ctx));
  results.push(...await checkSrv(ctx));
  results.push(await checkAutoconfig(ctx));
  results.push(...await checkDnsbl(ctx));
  results.push(await checkCertificate(ctx, options.certificate ?? peerCertificate));
  if (options.port25) results.push(await checkPort25(ctx, options.probePort25));
  return results;
}

/** The report as the CLI prints it: `OK    mx          detail`. */
export function formatReport(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.check.length), 4);
  return results.map((r) =>
    `${r.status.toUpperCase().padEnd(5)} ${r.check.padEnd(width)}  ${r.detail}`
  ).join("\n");
}
