/**
 * The DNS records a local domain needs so that mail to and from it works and
 * is trusted: where its mail goes (MX), who may send it (SPF), its DKIM keys,
 * its DMARC policy, MTA-STS and TLS reporting, and what mail clients look up
 * to configure themselves. `postino dns records` and
 * `GET /api/v1/domains/{domain}/dns` show these; `postino check` compares
 * them with what is published. Pure functions: no lookups.
 *
 * Invariants:
 * - Names are FQDNs in lower case without a final dot; host names inside
 *   values end with a dot, as in a zone file.
 * - A TXT value is one string however long; {@link zoneLines} cuts it into
 *   character-strings of at most 255 octets (RFC 1035 §3.3.14), and so must
 *   any other renderer that writes a zone.
 * - The order is fixed: host addresses, MX, SPF, DKIM, DMARC, MTA-STS,
 *   TLS-RPT, client configuration.
 */
import { isIP } from "node:net";

/** One record to publish. */
export interface DnsRecord {
  /** The owner name, an FQDN without the final dot. */
  name: string;
  type: "MX" | "TXT" | "CNAME" | "SRV" | "A" | "AAAA";
  /** The record data in zone-file form (targets end with a dot); a TXT value as one unquoted string. */
  value: string;
  /** Why it is there, one short sentence for a UI. */
  purpose: string;
  /** Mail from or to the domain fails or is distrusted without it (MX, SPF, DKIM, DMARC). */
  required: boolean;
}

/** What {@link recordsToPublish} needs to know about a domain and this server. */
export interface PublishInput {
  /** The domain, normalised, in A-label form. */
  domain: string;
  /** This server's host name: the MX target and where clients connect. */
  hostname: string;
  /** This server's public IPv4/IPv6 addresses, when known: adds A/AAAA for the host name and ip4:/ip6: to SPF. */
  ips?: string[];
  /** The domain's active DKIM keys, oldest first: selector and TXT value as `dnsRecord()` makes it. */
  dkim: { selector: string; record: string }[];
  /** The MTA-STS policy id (RFC 8461 §3.1), present when MTA-STS is on. */
  mtaStsPolicyId?: string;
  /** Where DMARC and TLS-RPT reports go. @default `postmaster@<domain>` */
  reportAddress?: string;
}

/** Time to live of every record {@link zoneLines} writes: an hour, so a mistake is fixed the same day. */
const TTL = 3600;
/** A DNS character-string holds at most 255 octets (RFC 1035 §3.3). */
const TXT_STRING_MAX = 255;
/** Dot-separated letter-digit-hyphen labels (RFC 1123 §2.1), as lower-cased names are here. */
const HOST_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** RFC 8461 §3.1: sts-id = 1*32(ALPHA / DIGIT). */
const STS_ID = /^[A-Za-z0-9]{1,32}$/;
/**
 * Characters a mailto: URI keeps as they are (RFC 3986 unreserved, "@" and
 * the sub-delims but ",", ";" and "!"); anything else is percent-encoded.
 * "," separates URIs in `rua=` and "!" starts a size limit, so RFC 7489 §6.4
 * says both MUST be encoded (RFC 8460 §3 lists URIs the same way); ";" ends
 * the tag. "+" stays as it is: it is allowed there, and receivers differ on
 * whether they decode "%2B".
 */
const MAILTO_KEEP = /^[A-Za-z0-9\-._~@$&'()*+=]$/;

/**
 * The client service records of RFC 6186 §3 and RFC 8314 §5.1, implicit TLS
 * first. The STARTTLS services are published with our host as target, not
 * with "." (which RFC 6186 §4 gives for a service a domain does not offer):
 * ours offer STARTTLS and refuse credentials before TLS (except from
 * loopback), so a client that finds them can only log in securely, and an
 * older client that knows only the STARTTLS names still finds us.
 */
const CLIENT_SERVICES: { service: string; port: number; purpose: string }[] = [
  {
    service: "_submissions._tcp",
    port: 465,
    purpose: "Lets mail clients find message submission over TLS (RFC 8314).",
  },
  {
    service: "_submission._tcp",
    port: 587,
    purpose: "Lets mail clients find message submission with STARTTLS (RFC 6186).",
  },
  {
    service: "_imaps._tcp",
    port: 993,
    purpose: "Lets mail clients find IMAP over TLS (RFC 6186).",
  },
  {
    service: "_imap._tcp",
    port: 143,
    purpose: "Lets mail clients find IMAP with STARTTLS (RFC 6186).",
  },
  {
    service: "_pop3s._tcp",
    port: 995,
    purpose: "Lets mail clients find POP3 over TLS (RFC 6186).",
  },
  {
    service: "_pop3._tcp",
    port: 110,
    purpose: "Lets mail clients find POP3 with STARTTLS (RFC 6186).",
  },
  {
    service: "_autodiscover._tcp",
    port: 443,
    purpose: "Lets Outlook find the autodiscover service over HTTPS.",
  },
];

const encoder = new TextEncoder();

/**
 * The records `input.domain` needs, in a fixed order (see the module's
 * invariants). Required are MX, SPF, each DKIM key and DMARC; the rest help
 * (host addresses, MTA-STS, TLS-RPT, client configuration). Names behind the
 * CNAMEs that are fetched over HTTPS (`mta-sts.`, `autoconfig.`,
 * `autodiscover.`) must be in this server's TLS certificate. Throws
 * RangeError for an invalid domain, host name, selector, IP address, policy
 * id or report address.
 */
export function recordsToPublish(input: PublishInput): DnsRecord[] {
  const domain = hostName(input.domain, "domain");
  const host = hostName(input.hostname, "host name");
  const target = `${host}.`;
  const { v4, v6 } = addresses(input.ips ?? []);
  const report = mailtoUri(input.reportAddress ?? `postmaster@${domain}`);
  const records: DnsRecord[] = [];
  const add = (name: string, type: DnsRecord["type"], value: string, purpose: string) =>
    records.push({ name, type, value, purpose, required: false });
  const must = (name: string, type: DnsRecord["type"], value: string, purpose: string) =>
    records.push({ name, type, value, purpose, required: true });
  const cname = (name: string, purpose: string) => {
    // A CNAME may not share its name with other data (RFC 1034 §3.6.2): when our host name is
    // that name, it has its own addresses and already leads to us.
    if (name !== host) add(name, "CNAME", target, purpose);
  };

  for (const ip of v4) add(host, "A", ip, "Gives the mail server's host name its IPv4 address.");
  for (const ip of v6) add(host, "AAAA", ip, "Gives the mail server's host name its IPv6 address.");

  // RFC 5321 §5.1: mail for the domain goes to the MX host; one MX, so its preference is moot.
  must(domain, "MX", `10 ${target}`, "Sends mail for the domain to this server.");

  // RFC 7208 §5.6 ip4/ip6 first: they match without a lookup; then §5.4 mx (one lookup of the
  // ten §4.6.4 allows) and "-all", a fail for every other host. Mail from the domain leaves
  // only through this server, which is the MX.
  const ipMechanisms = [...v4.map((ip) => `ip4:${ip}`), ...v6.map((ip) => `ip6:${ip}`)];
  must(
    domain,
    "TXT",
    ["v=spf1", ...ipMechanisms, "mx", "-all"].join(" "),
    "Names the hosts that may send the domain's mail (SPF); a domain has only one v=spf1 record.",
  );

  // RFC 6376 §3.6.2.1: the key of selector s is at s._domainkey.<domain>.
  for (const { selector, record } of input.dkim) {
    const name = `${hostName(selector, "DKIM selector")}._domainkey.${domain}`;
    must(name, "TXT", record, "Publishes a DKIM key that signs the domain's outgoing mail.");
  }

  // RFC 7489 §6.3. Why quarantine: Postino DKIM-signs everything it sends as the domain and sends
  // from the host SPF names, so the domain's own mail aligns (RFC 7489 §3.1) and the policy
  // bites only on mail from elsewhere. "none" would leave the domain open to spoofing;
  // "reject" would bounce mail from a sender the admin forgot (a web shop, a newsletter
  // service) that quarantine merely files as junk while the aggregate reports show what to
  // fix. Once the reports are clean, p=reject is the step up. A report address outside the
  // domain receives reports only when its domain allows it (RFC 7489 §7.1).
  must(
    `_dmarc.${domain}`,
    "TXT",
    `v=DMARC1; p=quarantine; rua=${report}`,
    "Asks receivers to quarantine forged mail from the domain and to send reports (DMARC).",
  );

  if (input.mtaStsPolicyId !== undefined) {
    if (!STS_ID.test(input.mtaStsPolicyId)) {
      throw new RangeError(`Invalid MTA-STS policy id: ${JSON.stringify(input.mtaStsPolicyId)}`);
    }
    // RFC 8461 §3.1: the TXT record announces the policy; its id changes with the policy.
    add(
      `_mta-sts.${domain}`,
      "TXT",
      `v=STSv1; id=${input.mtaStsPolicyId}`,
      "Tells senders the domain has an MTA-STS policy, so they insist on TLS.",
    );
    // RFC 8461 §3.3: the policy is fetched from https://mta-sts.<domain>/.well-known/mta-sts.txt.
    cname(`mta-sts.${domain}`, "Serves the MTA-STS policy over HTTPS from this server.");
  }

  // RFC 8460 §3: where senders report failures to set up TLS with our MX.
  add(
    `_smtp._tls.${domain}`,
    "TXT",
    `v=TLSRPTv1; rua=${report}`,
    "Tells senders where to report TLS problems delivering to the domain (TLS-RPT).",
  );

  cname(`autoconfig.${domain}`, "Lets Thunderbird and other clients fetch the account settings.");
  cname(`autodiscover.${domain}`, "Lets Outlook fetch the account settings.");
  for (const { service, port, purpose } of CLIENT_SERVICES) {
    // RFC 2782: priority weight port target; one host, so priority 0 and weight 1.
    add(`${service}.${domain}`, "SRV", `0 1 ${port} ${target}`, purpose);
  }
  return records;
}

/**
 * `records` as BIND zone-file lines, `name. 3600 IN TYPE value`, each ending
 * in a newline. A TXT value is cut into character-strings of at most 255
 * octets of its UTF-8 form, each quoted, with `"` and `\` escaped and octets
 * outside printable ASCII written as `\DDD` (RFC 1035 §5.1).
 */
export function zoneLines(records: DnsRecord[]): string {
  return records.map((r) => {
    const data = r.type === "TXT" ? characterStrings(r.value).map(quote).join(" ") : r.value;
    return `${r.name}. ${TTL} IN ${r.type} ${data}\n`;
  }).join("");
}

/**
 * `value` in pieces of at most 255 octets; a resolver joins them without
 * spaces (RFC 7208 §3.3, RFC 6376 §3.6.2.2). This is `splitTxt()` of
 * src/security/dkim.ts counted in octets rather than UTF-16 code units, kept
 * here because src/dns/ may not import src/security/ (src/layering_test.ts).
 */
function characterStrings(value: string): Uint8Array[] {
  const octets = encoder.encode(value);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i < octets.length; i += TXT_STRING_MAX) {
    pieces.push(octets.subarray(i, i + TXT_STRING_MAX));
  }
  return pieces.length ? pieces : [octets];
}

/** One character-string in zone-file form (RFC 1035 §5.1): quoted, with `\X` and `\DDD` escapes. */
function quote(octets: Uint8Array): string {
  let text = '"';
  for (const o of octets) {
    if (o === 0x22 || o === 0x5c) text += `\\${String.fromCharCode(o)}`;
    else if (o < 0x20 || o > 0x7e) text += `\\${String(o).padStart(3, "0")}`;
    else text += String.fromCharCode(o);
  }
  return `${text}"`;
}

/** `name` lower-cased without a final dot; RangeError unless it is dot-separated LDH labels. */
function hostName(name: string, what: string): string {
  const normal = name.toLowerCase().replace(/\.$/, "");
  if (!HOST_NAME.test(normal)) throw new RangeError(`Invalid ${what}: ${JSON.stringify(name)}`);
  return normal;
}

/** The IPv4 and IPv6 addresses of `ips`, each in the order given, lower-cased, without repeats. */
function addresses(ips: string[]): { v4: string[]; v6: string[] } {
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  for (const ip of ips) {
    const version = isIP(ip);
    if (version === 4) v4.add(ip);
    else if (version === 6) v6.add(ip.toLowerCase());
    else throw new RangeError(`Invalid IP address: ${JSON.stringify(ip)}`);
  }
  return { v4: [...v4], v6: [...v6] };
}

/** A `mailto:` URI for `address` (RFC 6068), safe inside a DMARC or TLS-RPT `rua=` list. */
function mailtoUri(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 1 || at === address.length - 1) {
    throw new RangeError(`Invalid report address: ${JSON.stringify(address)}`);
  }
  let uri = "mailto:";
  for (const c of address) {
    if (MAILTO_KEEP.test(c)) uri += c;
    else {for (const o of encoder.encode(c)) {
        uri += `%${o.toString(16).toUpperCase().padStart(2, "0")}`;
      }}
  }
  return uri;
}
