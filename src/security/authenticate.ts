/**
 * SPF, DKIM, ARC and DMARC with mailauth's checks one by one instead of its
 * `authenticate()`: the same checks and verdicts in strict mode, without
 * loading what a receiving MX never runs (BIMI with its certificate parsing,
 * sealing, Received-header parsing). Loading mailauth whole costs the check
 * thread about 15 MB more.
 */
import type { Buffer } from "node:buffer";
import { isIP } from "node:net";
import libmime from "libmime";
import type { DNSResolver } from "mailauth";
import { arc } from "mailauth/lib/arc/index.js";
import { dkimVerify } from "mailauth/lib/dkim/verify.js";
import { evaluateDmarc } from "mailauth/lib/dmarc/index.js";
import { spf } from "mailauth/lib/spf/index.js";

/** The facts of the SMTP session. */
export interface AuthenticateOptions {
  ip: string;
  helo: string;
  sender: string;
  /** The authserv-id of Authentication-Results: our host name, a valid token. */
  mta: string;
  resolver: DNSResolver;
}

type DkimResult = Awaited<ReturnType<typeof dkimVerify>>;
type SpfResult = Awaited<ReturnType<typeof spf>>;
type ArcResult = Awaited<ReturnType<typeof arc>>;
type DmarcResult = Awaited<ReturnType<typeof evaluateDmarc>>["response"];

/** What the checks found, and the header fields that record it (CRLF after each). */
export interface Authenticated {
  dkim: DkimResult;
  spf: SpfResult | false;
  arc: ArcResult | false;
  dmarc: DmarcResult | false;
  headers: string;
}

/** Header rows of Authentication-Results are folded at this width, as mailauth does. */
const FOLD = 160;

/** Checks `message` (the header section alone is enough when no signature needs the body). */
export async function authenticate(
  message: Buffer,
  options: AuthenticateOptions,
): Promise<Authenticated> {
  const { resolver, ip } = options;
  // Strict: results as RFC 8601 names them (dkim=fail, not neutral, for a bad body hash;
  // header.d for every signature).
  const strict = true;
  const dkim = await dkimVerify(message, { resolver, sender: options.sender, strict });
  // A client that gave no name, or an address, is named by its address literal.
  const helo = options.helo || ip;
  const spfResult = await spf({
    ip,
    helo: isIP(helo) ? `[${helo}]` : helo,
    sender: options.sender,
    mta: options.mta,
    resolver,
    strict,
  });
  const arcResult = await arc(dkim.arc as Parameters<typeof arc>[0], { resolver, strict, ip });
  const rows = (dkim.results ?? []).map((row) => row.info);
  if (spfResult) rows.push(spfResult.info);
  if (arcResult?.info) rows.push(arcResult.info);
  let dmarc: DmarcResult | false = false;
  if (dkim.headerFrom) {
    const evaluated = await evaluateDmarc({
      headerFrom: dkim.headerFrom,
      fromFields: dkim.fromFields,
      spfDomains: spfResult && spfResult.status.result === "pass" && spfResult.domain
        ? [spfResult.domain]
        : [],
      dkimDomains: (dkim.results ?? []).filter((r) => r.status.result === "pass").map((r) => ({
        id: r.id,
        domain: r.signingDomain!,
        aligned: r.status.aligned,
        underSized: r.status.underSized,
      })),
      arcResult,
      resolver,
      strict,
    });
    dmarc = evaluated.response ?? false;
    if (dmarc && dmarc.info) rows.push(dmarc.info);
  }
  // RFC 8601 §5: Authentication-Results above the other trace fields, Received-SPF one of them.
  const fields = [
    `Authentication-Results: ${options.mta};\r\n ` +
    rows.map((row) => libmime.foldLines(row, FOLD)).join(";\r\n "),
  ];
  if (spfResult && spfResult.header) fields.push(spfResult.header);
  return { dkim, spf: spfResult, arc: arcResult, dmarc, headers: fields.join("\r\n") + "\r\n" };
}
