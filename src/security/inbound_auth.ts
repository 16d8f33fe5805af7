/**
 * Checks a message received over MX (RFC 7208 SPF, RFC 6376 DKIM, RFC 7489
 * DMARC, RFC 8617 ARC) with mailauth, all DNS going through our resolver
 * within one time budget, and gives the verdicts plus the header lines to
 * prepend (Received-SPF and Authentication-Results, RFC 8601).
 */
import { Buffer } from "node:buffer";
import { authenticate, type DNSResolver } from "mailauth";
import type { Resolver } from "../dns/resolver.ts";
import { headerSection, headerValue } from "../mail/headers.ts";
import { mailauthResolver } from "./dns_adapter.ts";

/** SPF and DMARC results (RFC 8601 §2.7). */
export type CheckResult =
  | "pass"
  | "fail"
  | "softfail"
  | "neutral"
  | "none"
  | "temperror"
  | "permerror"
  | "policy";

/** What the checks found. */
export interface Verdicts {
  spf: CheckResult;
  /** The domain SPF was checked for (MAIL FROM's, or HELO's for the null sender). */
  spfDomain?: string;
  /** One result per DKIM signature; empty when unsigned. */
  dkim: { domain: string; result: CheckResult }[];
  dmarc: CheckResult;
  /** The policy DMARC asks for when it fails: none, quarantine or reject. */
  dmarcPolicy?: "none" | "quarantine" | "reject";
  /** The From domain DMARC was evaluated for. */
  fromDomain?: string;
  arc: CheckResult;
}

/** The outcome of checking one message. */
export interface InboundAuthResult {
  verdicts: Verdicts;
  /** Header lines with CRLF, to put on top of the message. */
  headers: string;
}

/** The SMTP facts a check needs. */
export interface InboundAuthOptions {
  resolver: Resolver;
  /** The client's address. */
  ip: string;
  /** What the client said in EHLO/HELO. */
  helo: string;
  /** MAIL FROM; "" for the null sender. */
  sender: string;
  /** Our host name: the authserv-id of Authentication-Results. */
  hostname: string;
  /** All DNS lookups of this message must end within this time. @default 10000 */
  budgetMs?: number;
}

/** The TXT names checking this message will need: SPF, DMARC and the DKIM keys. */
function foreseenLookups(message: Uint8Array, o: InboundAuthOptions): [string, string][] {
  const names: [string, string][] = [];
  const spfDomain = o.sender ? o.sender.slice(o.sender.lastIndexOf("@") + 1) : o.helo;
  if (spfDomain && !spfDomain.startsWith("[")) names.push([spfDomain, "TXT"]);
  const from = headerValue(message, "From");
  const fromDomain = from && /@([^\s>]+)/.exec(from)?.[1]?.toLowerCase();
  if (fromDomain) names.push([`_dmarc.${fromDomain}`, "TXT"]);
  const head = new TextDecoder("latin1").decode(headerSection(message)).replace(
    /\r?\n[ \t]+/g,
    " ",
  );
  for (const sig of head.matchAll(/^DKIM-Signature:(.*)$/gim)) {
    const tags = new Map(
      sig[1].split(";").map((t) =>
        t.split("=").map((x) => x.trim().toLowerCase()) as [string, string]
      ),
    );
    const d = tags.get("d");
    const sel = tags.get("s");
    if (d && sel) names.push([`${sel}._domainkey.${d}`, "TXT"]);
  }
  return names.slice(0, 12);
}

function result(value: { status?: { result?: string } } | false | undefined): CheckResult {
  const r = value ? value.status?.result : undefined;
  return (r === "temperr" ? "temperror" : r ?? "none") as CheckResult;
}

/** Runs SPF, DKIM, DMARC and ARC on `message`. */
export async function checkInbound(
  message: Uint8Array,
  options: InboundAuthOptions,
): Promise<InboundAuthResult> {
  const budgetMs = options.budgetMs ?? 10_000;
  const budget = { signal: AbortSignal.timeout(budgetMs), perLookupMs: budgetMs / 2 };
  const lookup = mailauthResolver(options.resolver, budget);
  // mailauth looks names up one check after another; asking for the ones we can foresee at
  // once fills the resolver's cache, so one slow name delays the others only once.
  await Promise.allSettled(foreseenLookups(message, options).map(([n, t]) => lookup(n, t)));
  const r = await authenticate(Buffer.from(message.buffer, message.byteOffset, message.length), {
    ip: options.ip,
    helo: options.helo,
    sender: options.sender,
    mta: options.hostname,
    // MX answers are objects, not strings, which mailauth's declared type leaves out.
    resolver: lookup as DNSResolver,
    disableBimi: true,
    // Strict: results as RFC 8601 names them (dkim=fail, not neutral, for a bad body hash;
    // header.d for every signature).
    strict: true,
  });
  const policy = r.dmarc ? r.dmarc.policy : undefined;
  return {
    verdicts: {
      spf: result(r.spf),
      spfDomain: r.spf ? r.spf.domain : undefined,
      // An unsigned message gets one "none" row without a domain from mailauth.
      dkim: (r.dkim?.results ?? []).filter((d) => d.signingDomain).map((d) => ({
        domain: d.signingDomain!,
        result: result(d),
      })),
      dmarc: result(r.dmarc),
      dmarcPolicy: policy === "reject" || policy === "quarantine" || policy === "none"
        ? policy
        : undefined,
      fromDomain: r.dmarc ? r.dmarc.domain : undefined,
      arc: result(r.arc),
    },
    headers: r.headers,
  };
}
