/**
 * Where mail for a domain goes (RFC 5321 §5.1): its MX hosts in order of
 * preference, equals in random order; the domain itself when it has no MX
 * (implicit MX); nowhere for a null MX (RFC 7505) or a domain that does not
 * exist, which bounce at once. DNS trouble is temporary: try again later.
 */
import { isIP } from "node:net";
import type { Resolver } from "../dns/resolver.ts";

/** One host to try, with its addresses in the order to try them. */
export interface MxHost {
  name: string;
  addresses: string[];
}

/** The outcome of routing a domain. */
export type Destination =
  | { kind: "hosts"; hosts: MxHost[] }
  | { kind: "permanent"; status: string; reason: string }
  | { kind: "temporary"; reason: string };

/** Shuffles in place (Fisher-Yates). */
function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** MX records sorted by preference, with equal preferences shuffled (RFC 5321 §5.1). */
export function orderMx<T extends { preference: number }>(records: T[]): T[] {
  const byPreference = new Map<number, T[]>();
  for (const r of records) {
    byPreference.set(r.preference, [...(byPreference.get(r.preference) ?? []), r]);
  }
  return [...byPreference.keys()].sort((a, b) => a - b).flatMap((p) =>
    shuffle(byPreference.get(p)!)
  );
}

/** The IPv4 then IPv6 addresses of a host; undefined fields say why there are none. */
async function addresses(
  resolver: Resolver,
  host: string,
): Promise<{ addresses: string[]; temporary?: string }> {
  if (isIP(host)) return { addresses: [host] };
  const [a, aaaa] = await Promise.all([resolver.a(host), resolver.aaaa(host)]);
  const found = [
    ...(a.kind === "ok" ? a.records : []),
    ...(aaaa.kind === "ok" ? aaaa.records : []),
  ];
  const trouble = [a, aaaa].find((r) => r.kind === "error");
  return {
    addresses: found,
    temporary: found.length === 0 && trouble?.kind === "error"
      ? `DNS lookup of ${host} failed: ${trouble.reason}`
      : undefined,
  };
}

/** Routes `domain` (an A-label domain or an address literal such as `[192.0.2.1]`). */
export async function resolveDestination(resolver: Resolver, domain: string): Promise<Destination> {
  const literal = /^\[(?:ipv6:)?([^\]]+)\]$/i.exec(domain);
  if (literal) {
    return isIP(literal[1])
      ? { kind: "hosts", hosts: [{ name: literal[1], addresses: [literal[1]] }] }
      : { kind: "permanent", status: "5.1.2", reason: `Bad address literal ${domain}` };
  }
  const mx = await resolver.mx(domain);
  if (mx.kind === "error") {
    return { kind: "temporary", reason: `MX lookup for ${domain} failed: ${mx.reason}` };
  }
  if (mx.kind === "nxdomain") {
    return { kind: "permanent", status: "5.1.2", reason: `Domain ${domain} does not exist` };
  }
  let names: string[];
  if (mx.kind === "nodata") {
    names = [domain]; // RFC 5321 §5.1: no MX, so the domain's own address
  } else {
    // RFC 7505 §3: a single MX "." of preference 0 says the domain takes no mail.
    if (mx.records.some((r) => r.exchange === "")) {
      return {
        kind: "permanent",
        status: "5.1.10",
        reason: `Domain ${domain} accepts no mail (null MX)`,
      };
    }
    names = orderMx(mx.records).map((r) => r.exchange);
  }
  const hosts: MxHost[] = [];
  const troubles: string[] = [];
  for (const name of names) {
    const found = await addresses(resolver, name);
    if (found.addresses.length > 0) hosts.push({ name, addresses: found.addresses });
    else if (found.temporary) troubles.push(found.temporary);
  }
  if (hosts.length > 0) return { kind: "hosts", hosts };
  if (troubles.length > 0) return { kind: "temporary", reason: troubles[0] };
  return {
    kind: "permanent",
    status: "5.1.2",
    reason: mx.kind === "nodata"
      ? `Domain ${domain} has no MX and no address`
      : `No MX host of ${domain} has an address`,
  };
}
