/**
 * `postino check`'s report: what the world sees of a domain and of this
 * server, one line per check, each OK, WARN or FAIL with what to change.
 *
 * Severities (the interface contract in DESIGN.md): FAIL is for what makes
 * mail bounce or be distrusted (MX, the host's address, SPF, DKIM, DMARC,
 * our address on a blocklist, a certificate clients refuse); WARN for what
 * only helps (reverse DNS, MTA-STS, TLS-RPT, SRV, autoconfig, outbound port
 * 25) and for a check that could not be made (a blocklist that refuses to
 * answer, no TLS listener answering).
 *
 * Invariants:
 * - Every lookup goes through the given {@link Resolver}, whose queries are
 *   bounded; every connection has a time limit (check_tls.ts).
 * - A check never throws: a lookup that fails is a line that says so, and
 *   an unexpected error becomes a line of the check's own severity.
 * - The checks run at once, but the report keeps the order below.
 * - Without `port25` the outbound port 25 line is left out, not reported:
 *   a report run from a test or a laptop should not warn about a machine it
 *   is not on.
 */
import type { Config } from "../config.ts";
import type { Resolver } from "../dns/resolver.ts";
import { formatIp, parseIp } from "../dns/wire.ts";
import type { Store } from "../store/db.ts";
import { checkDkim, checkDmarc, checkSpf } from "./check_auth.ts";
import {
  checkAutoconfig,
  checkDnsbl,
  checkHostAddress,
  checkMtaStsRecord,
  checkMx,
  checkReverseDns,
  checkSrv,
  checkTlsRpt,
} from "./check_dns.ts";
import {
  checkCertificate,
  checkMtaStsPolicy,
  checkPort25,
  fetchMtaStsPolicy,
  type PeerCertificate,
  peerCertificate,
  type TlsEndpoint,
} from "./check_tls.ts";

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
  /** The configuration: host name, TLS listeners, `check.dnsbl`. */
  config: Config;
  /** The domain, normalised. */
  domain: string;
  resolver: Resolver;
  /** Our public addresses; when empty, those the host name resolves to. */
  ips: string[];
  /** Try an outbound connection to port 25 (needs the internet); false leaves the line out. */
  port25: boolean;
  /**
   * Fetches https://mta-sts.DOMAIN/.well-known/mta-sts.txt; resolves with the
   * body, rejects saying why not. @default {@link fetchMtaStsPolicy} over `resolver`
   */
  fetchPolicy?: (domain: string) => Promise<string>;
  /**
   * The certificate the first answering TLS endpoint serves for `hostname`, or
   * why none did. @default {@link peerCertificate}
   */
  certificate?: (endpoints: TlsEndpoint[], hostname: string) => Promise<PeerCertificate | string>;
  /** Whether an outbound connection to port 25 works: undefined, or what went wrong. */
  probePort25?: () => Promise<string | undefined>;
}

/** The context each check gets: the options with our addresses known. */
export interface CheckContext extends CheckOptions {
  hostname: string;
  /** Our addresses, canonical: given, or found for the host name. */
  ours: string[];
}

/** Which checks FAIL when they cannot be made; the others WARN. */
const FAIL_LEVEL = new Set(["mx", "host", "spf", "dkim", "dmarc", "dnsbl", "tls"]);

/** `ip` in canonical text form (RFC 5952 for IPv6), or as given when it is not an address. */
function canonicalIp(ip: string): string {
  const bytes = parseIp(ip);
  return bytes ? formatIp(bytes) : ip.toLowerCase();
}

/** Runs every check, in the order of the report. */
export async function checkDomain(options: CheckOptions): Promise<CheckResult[]> {
  const hostname = options.config.hostname;
  const given = [...new Set(options.ips.map(canonicalIp))];
  const host = await guard("host", () => checkHostAddress(options.resolver, hostname, given));
  const ctx: CheckContext = {
    ...options,
    hostname,
    ours: "ours" in host ? host.ours.map(canonicalIp) : given,
  };
  const fetchPolicy = options.fetchPolicy ??
    ((domain: string) => fetchMtaStsPolicy(domain, options.resolver));
  const steps: (() => Promise<CheckResult | CheckResult[]>)[] = [
    () => checkMx(ctx),
    () => Promise.resolve("ours" in host ? host.result : host),
    () => checkReverseDns(ctx),
    () => checkSpf(ctx),
    () => checkDkim(ctx),
    () => checkDmarc(ctx),
    () => checkMtaSts(ctx, fetchPolicy),
    () => checkTlsRpt(ctx),
    () => checkSrv(ctx),
    () => checkAutoconfig(ctx),
    () => checkDnsbl(ctx),
    () => checkCertificate(ctx, options.certificate ?? peerCertificate),
    ...(options.port25 ? [() => checkPort25(ctx, options.probePort25)] : []),
  ];
  const names = [
    "mx",
    "host",
    "ptr",
    "spf",
    "dkim",
    "dmarc",
    "mta-sts",
    "tls-rpt",
    "srv",
    "autoconfig",
    "dnsbl",
    "tls",
    "port25",
  ];
  const lines = await Promise.all(steps.map((step, i) => guard(names[i], step)));
  return lines.flat();
}

/** MTA-STS: the TXT record first; the policy only when the record is there (WARN). */
async function checkMtaSts(
  ctx: CheckContext,
  fetchPolicy: (domain: string) => Promise<string>,
): Promise<CheckResult> {
  const record = await checkMtaStsRecord(ctx);
  return record.status === "ok" ? await checkMtaStsPolicy(ctx, fetchPolicy) : record;
}

/** Runs one check; an exception becomes a line of the check's severity rather than a crash. */
async function guard<T>(check: string, run: () => Promise<T>): Promise<T | CheckResult> {
  try {
    return await run();
  } catch (err) {
    return {
      check,
      status: FAIL_LEVEL.has(check) ? "fail" : "warn",
      detail: `could not check: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/** The report as the CLI prints it: `OK    mx          detail`. */
export function formatReport(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.check.length), 4);
  return results.map((r) =>
    `${r.status.toUpperCase().padEnd(5)} ${r.check.padEnd(width)}  ${r.detail}`
  ).join("\n");
}
