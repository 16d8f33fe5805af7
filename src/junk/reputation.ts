/**
 * Sender reputation, asked before the content classifier (issue 14): what
 * an account has done with earlier mail from the same sender. The facts of
 * a message are its From address when our checks verified its domain, the
 * DKIM- and SPF-verified domains, and the client's network; training a
 * message counts them as `rep:` features beside its words (store/junk.ts),
 * so they are untrained with it too.
 *
 * Deliberately lopsided: a verified sender the user kept passes, and so
 * does one the user wrote to (a correspondent); a verified sender, domain or
 * network the user only ever marked as spam is spam. A domain or network
 * never vouches for mail: spammers use the same big providers as friends.
 */
import { parseAddressList } from "../mail/envelope.ts";
import { headerSection, headerValue } from "../mail/headers.ts";
import { splitHeader } from "../mail/mime.ts";
import { authservId, withoutComments } from "../security/auth_results.ts";

/** What is known about who sent a message. */
export interface SenderFacts {
  /** The From address (lower-cased), when SPF, DKIM or DMARC verified its domain. */
  from?: string;
  /** Domains whose DKIM signatures verified. */
  dkim: string[];
  /** The domain SPF verified. */
  spf?: string;
  /** The client's network: IPv4 /24 or IPv6 /48; none for loopback and private addresses. */
  net?: string;
}

/** What reputation decided. */
export interface ReputationVerdict {
  spam: boolean;
  reason: string;
}

/** Spam and ham counts of a feature, as the store gives them. */
export type Counts = (feature: string) => { spam: number; ham: number } | undefined;

/**
 * The facts of a message given our Authentication-Results value (RFC 8601,
 * without the field name), its From field and the client's address.
 */
export function senderFacts(
  authResults: string | undefined,
  fromField: string | undefined,
  ip: string | undefined,
): SenderFacts {
  const results = authResults ? resultsOf(authResults) : [];
  const passed = (method: string, property: string) =>
    results.filter((r) => r.method === method && r.result === "pass")
      .map((r) => domainPart(r.props.get(property) ?? ""))
      .filter((d) => d !== "");
  const dkim = [...new Set(passed("dkim", "header.d"))];
  const spf = passed("spf", "smtp.mailfrom")[0];
  const dmarc = passed("dmarc", "header.from");
  const from = fromAddress(fromField);
  const fromDomain = from ? domainPart(from) : "";
  // Aligned as DMARC's relaxed mode has it, approximately: the same domain or one below it.
  const aligned = (d: string) => fromDomain === d || fromDomain.endsWith(`.${d}`);
  const verified = fromDomain !== "" && [...dmarc, ...dkim, ...(spf ? [spf] : [])].some(aligned);
  return { from: verified ? from : undefined, dkim, spf, net: ip ? networkOf(ip) : undefined };
}

/**
 * The facts of a stored message: from the Authentication-Results and
 * Received fields we put on top of it (authserv-id and `by` are
 * `hostname`); a message that never came through our MX has none.
 */
export function storedSenderFacts(message: Uint8Array, hostname: string): SenderFacts {
  const head = headerSection(message);
  let authResults: string | undefined;
  let from: string | undefined;
  let ip: string | undefined;
  const by = new RegExp(`\\bby ${hostname.replace(/[.]/g, "\\.")} \\(Postino\\)`, "i");
  for (const field of splitHeader(head, { start: 0, end: head.length })) {
    const name = field.name.toLowerCase();
    if (name === "authentication-results" && authResults === undefined) {
      if (authservId(field.value) === hostname.toLowerCase()) authResults = field.value;
    } else if (name === "received" && ip === undefined && by.test(field.value)) {
      ip = /\(\[([0-9a-f.:]+)\]\)/i.exec(field.value)?.[1];
    } else if (name === "from" && from === undefined) {
      from = field.value;
    }
  }
  return senderFacts(authResults, from, ip);
}

/**
 * The facts of a message being received from `ip`: `ourFields` are the
 * header lines our checks are about to put on top of it (CRLF-separated).
 */
export function receivedSenderFacts(
  ourFields: string | undefined,
  message: Uint8Array,
  ip: string,
  hostname: string,
): SenderFacts {
  const ours = new TextEncoder().encode(ourFields ?? "");
  const authResults = splitHeader(ours, { start: 0, end: ours.length }).find((f) =>
    f.name.toLowerCase() === "authentication-results" &&
    authservId(f.value) === hostname.toLowerCase()
  )?.value;
  return senderFacts(authResults, headerValue(message, "From"), ip);
}

/** The `rep:` features of these facts, counted when a message is trained. */
export function reputationFeatures(facts: SenderFacts): string[] {
  return [
    ...(facts.from ? [`rep:from:${facts.from}`] : []),
    ...facts.dkim.map((d) => `rep:dkim:${d}`),
    ...(facts.spf ? [`rep:spf:${facts.spf}`] : []),
    ...(facts.net ? [`rep:net:${facts.net}`] : []),
  ];
}

/**
 * What the account's history says about a message with these facts, or
 * undefined when it says nothing and the classifier decides.
 */
export function judgeReputation(
  facts: SenderFacts,
  counts: Counts,
  correspondent: boolean,
): ReputationVerdict | undefined {
  if (facts.from) {
    const c = counts(`rep:from:${facts.from}`);
    // One spam mark of a verified sender weighs heavily; a mixed history needs a clear majority.
    if (c && c.spam > 0 && c.spam >= 3 * c.ham) {
      return { spam: true, reason: `sender ${facts.from}: ${history(c)}` };
    }
    if (c && c.ham > 0 && c.ham >= 3 * c.spam) {
      return { spam: false, reason: `sender ${facts.from}: ${history(c)}` };
    }
    if (correspondent) return { spam: false, reason: `correspondent ${facts.from}` };
  }
  // Feature, what it is, and how many spam marks (and no kept message) make it decide.
  const onlySpam: [string, string, number][] = facts.dkim.map((d) => [
    `rep:dkim:${d}`,
    `DKIM domain ${d}`,
    2,
  ]);
  if (facts.spf) onlySpam.push([`rep:spf:${facts.spf}`, `SPF domain ${facts.spf}`, 2]);
  if (facts.net) onlySpam.push([`rep:net:${facts.net}`, `network ${facts.net}`, 3]);
  for (const [feature, what, least] of onlySpam) {
    const c = counts(feature);
    if (c && c.ham === 0 && c.spam >= least) {
      return { spam: true, reason: `${what}: ${history(c)}` };
    }
  }
  return undefined;
}

function history(c: { spam: number; ham: number }): string {
  return `${c.spam} marked spam, ${c.ham} kept`;
}

/** The results of an Authentication-Results value: method, result and properties. */
function resultsOf(
  value: string,
): { method: string; result: string; props: Map<string, string> }[] {
  const [, ...resinfos] = withoutComments(value).split(";");
  return resinfos.map((text) => {
    const [head, ...rest] = text.trim().split(/\s+/);
    const [method, result] = (head ?? "").toLowerCase().split("=");
    const props = new Map<string, string>();
    for (const p of rest) {
      const eq = p.indexOf("=");
      if (eq > 0) props.set(p.slice(0, eq).toLowerCase(), p.slice(eq + 1).replace(/^"|"$/g, ""));
    }
    return { method: method ?? "", result: result ?? "", props };
  });
}

/** The domain of an address, or the name itself when it is one; lower-cased. */
function domainPart(value: string): string {
  const at = value.lastIndexOf("@");
  return (at >= 0 ? value.slice(at + 1) : value).toLowerCase().replace(/\.$/, "");
}

/** The first address of a From field, lower-cased. */
function fromAddress(field: string | undefined): string | undefined {
  if (!field) return undefined;
  try {
    const first = parseAddressList(field).find((a) => a.mailbox && a.host);
    return first ? `${first.mailbox}@${first.host}`.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** The network of a public address: IPv4 /24, IPv6 /48 (IPv4-mapped as IPv4). */
export function networkOf(ip: string): string | undefined {
  const v4 = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(ip);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    const local = a === 10 || a === 127 || a === 0 || (a === 172 && b >= 16 && b < 32) ||
      (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b < 128);
    return local ? undefined : `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  }
  const groups = expandIpv6(ip);
  if (!groups) return undefined;
  const first = groups[0];
  // Loopback, unspecified, link-local (fe80::/10) and unique local (fc00::/7) stay out.
  if (groups.every((g, i) => g === 0 || (i === 7 && g === 1))) return undefined;
  if ((first & 0xffc0) === 0xfe80 || (first & 0xfe00) === 0xfc00) return undefined;
  return `${groups.slice(0, 3).map((g) => g.toString(16)).join(":")}::/48`;
}

/** The eight 16-bit groups of an IPv6 address, or undefined when it is not one. */
function expandIpv6(ip: string): number[] | undefined {
  if (!/^[0-9a-f:]+$/i.test(ip) || ip.split("::").length > 2) return undefined;
  const [left, right] = ip.split("::");
  const part = (s: string | undefined) => s ? s.split(":") : [];
  const l = part(left);
  const r = part(right);
  const missing = 8 - l.length - r.length;
  if (right === undefined ? missing !== 0 : missing < 1) return undefined;
  const all = [...l, ...Array(right === undefined ? 0 : missing).fill("0"), ...r];
  if (all.some((g) => g.length === 0 || g.length > 4)) return undefined;
  return all.map((g) => parseInt(g, 16));
}
