/**
 * DNS blocklists (RFC 5782): the name to ask about an address, what the
 * answer means, and a lookup of one address on several lists at once.
 * Shared by the MX listener (`spam.dnsbl`) and `postino check`.
 */
import { type DnsAnswer, type QueryOptions, type Resolver, reverseName } from "./resolver.ts";

/** The name to ask a DNSBL about an address (RFC 5782 §2.1 and §2.4). */
export function dnsblName(ip: string, zone: string): string | undefined {
  const reverse = reverseName(ip);
  if (!reverse) return undefined;
  return `${reverse.replace(/\.(in-addr|ip6)\.arpa$/, "")}.${zone}`;
}

/** What a blocklist's answer about an address means. */
export type DnsblVerdict = "clear" | "listed" | "refused" | "unknown";

/**
 * Reads a blocklist's answer: NXDOMAIN (or no A record) is not listed; an
 * address in 127.0.0.0/8 is a listing (RFC 5782 §2.1), except 127.255.255.x,
 * which Spamhaus gives when it will not answer (a public or open resolver,
 * too many queries); anything else, or a failed lookup, says nothing.
 */
export function dnsblVerdict(
  answer: DnsAnswer<string>,
): { verdict: DnsblVerdict; codes: string[] } {
  if (answer.kind === "nxdomain" || answer.kind === "nodata") {
    return { verdict: "clear", codes: [] };
  }
  if (answer.kind === "error") return { verdict: "unknown", codes: [] };
  const codes = answer.records;
  if (codes.some((c) => c.startsWith("127.") && !c.startsWith("127.255.255."))) {
    return { verdict: "listed", codes };
  }
  if (codes.some((c) => c.startsWith("127.255.255."))) return { verdict: "refused", codes };
  return { verdict: codes.length ? "unknown" : "clear", codes };
}

/** A listing of an address on one blocklist. */
export interface DnsblListing {
  zone: string;
  /** The A records the list answered (its reason codes). */
  codes: string[];
}

/**
 * Asks every zone about `ip` at once; gives the listings (empty when on
 * none). A list that fails or refuses to answer lists nothing.
 */
export async function dnsblListings(
  resolver: Resolver,
  ip: string,
  zones: readonly string[],
  options: QueryOptions = {},
): Promise<DnsblListing[]> {
  const found = await Promise.all(zones.map(async (zone) => {
    const name = dnsblName(ip, zone);
    if (!name) return undefined;
    const { verdict, codes } = dnsblVerdict(await resolver.a(name, options));
    return verdict === "listed" ? { zone, codes } : undefined;
  }));
  return found.filter((l): l is DnsblListing => l !== undefined);
}
