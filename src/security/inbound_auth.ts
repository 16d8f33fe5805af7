/**
 * Checks a message received over MX (RFC 7208 SPF, RFC 6376 DKIM, RFC 7489
 * DMARC, RFC 8617 ARC) with mailauth, all DNS going through our resolver
 * within one time budget, and gives the verdicts plus the header lines to
 * prepend (Received-SPF and Authentication-Results, RFC 8601).
 */
import { Buffer } from "node:buffer";
import type { DNSResolver } from "mailauth";
import { authenticate } from "./authenticate.ts";
import type { Resolver } from "../dns/resolver.ts";
import { headerSection } from "../mail/headers.ts";
import { mailauthResolver } from "./dns_adapter.ts";
import { bodyNeeded } from "./signed_fields.ts";

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

const latin1 = new TextDecoder("latin1");

/** The TXT names checking this message will need: SPF, DMARC and the DKIM keys. */
function foreseenLookups(head: Uint8Array, o: InboundAuthOptions): [string, string][] {
  const text = latin1.decode(head).replace(/\r?\n[ \t]+/g, " ");
  const lookups: [string, string][] = [];
  const spfDomain = o.sender ? o.sender.slice(o.sender.lastIndexOf("@") + 1) : o.helo;
  if (spfDomain && !spfDomain.startsWith("[")) lookups.push([spfDomain, "TXT"]);
  const from = /^From[ \t]*:(.*)$/im.exec(text)?.[1];
  const fromDomain = from && /@([^\s>]+)/.exec(from)?.[1]?.toLowerCase();
  if (fromDomain) lookups.push([`_dmarc.${fromDomain}`, "TXT"]);
  for (const sig of text.matchAll(/^DKIM-Signature[ \t]*:(.*)$/gim)) {
    const tags = new Map(
      sig[1].split(";").map((t) =>
        t.split("=").map((x) => x.trim().toLowerCase()) as [string, string]
      ),
    );
    const d = tags.get("d");
    const sel = tags.get("s");
    if (d && sel) lookups.push([`${sel}._domainkey.${d}`, "TXT"]);
  }
  return lookups.slice(0, 12);
}

function result(value: { status?: { result?: string } } | false | undefined): CheckResult {
  const r = value ? value.status?.result : undefined;
  return (r === "temperr" ? "temperror" : r ?? "none") as CheckResult;
}

/**
 * Runs SPF, DKIM, DMARC and ARC on `message`, which may be its header
 * section alone when {@link bodyNeeded} says the body is not needed.
 */
export async function checkInbound(
  message: Uint8Array,
  options: InboundAuthOptions,
): Promise<InboundAuthResult> {
  const budgetMs = options.budgetMs ?? 10_000;
  const budget = { signal: AbortSignal.timeout(budgetMs), perLookupMs: budgetMs / 2 };
  const lookup = mailauthResolver(options.resolver, budget);
  const head = headerSection(message);
  // mailauth looks names up one check after another; asking for the ones we can foresee at
  // once fills the resolver's cache, so one slow name delays the others only once.
  await Promise.allSettled(foreseenLookups(head, options).map(([n, t]) => lookup(n, t)));
  // Without a DKIM or ARC field nothing reads the body: give mailauth the header section only,
  // and it streams a few hundred bytes instead of the whole message.
  const input = bodyNeeded(head) ? message : head;
  const r = await authenticate(Buffer.from(input.buffer, input.byteOffset, input.length), {
    ip: options.ip,
    helo: options.helo,
    sender: options.sender,
    mta: options.hostname,
    // MX answers are objects, not strings, which mailauth's declared type leaves out.
    resolver: lookup as DNSResolver,
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
