/**
 * The names the ACME certificate covers: our host name always; and for each
 * local domain D, `mta-sts.D` (RFC 8461 §3.3: senders fetch the policy over
 * HTTPS from that name, so the certificate must name it) and `autoconfig.D`
 * (Thunderbird's lookup), but only when they resolve to the addresses our
 * host name has: the CA validates each name over http-01 against whatever
 * the name points to, and one name that is not ours would fail the order.
 */
import type { Resolver } from "../dns/resolver.ts";
import { listDomains } from "../store/accounts.ts";
import type { Store } from "../store/db.ts";

/** At most this many names in one certificate (Let's Encrypt allows 100). */
const MAX_NAMES = 100;

async function addressesOf(resolver: Resolver, name: string): Promise<string[]> {
  const [a, aaaa] = await Promise.all([resolver.a(name), resolver.aaaa(name)]);
  return [
    ...(a.kind === "ok" ? a.records : []),
    ...(aaaa.kind === "ok" ? aaaa.records : []),
  ].map((ip) => ip.toLowerCase());
}

/** The host name, then the names of local domains that point here. */
export async function acmeNames(
  hostname: string,
  store: Store,
  resolver: Resolver,
): Promise<string[]> {
  const ours = new Set(await addressesOf(resolver, hostname));
  const names = [hostname];
  if (ours.size === 0) return names;
  for (const { name: domain } of listDomains(store)) {
    if (!domain.includes(".")) continue; // localhost and other single labels get no certificates
    for (const name of [`mta-sts.${domain}`, `autoconfig.${domain}`]) {
      if (names.length >= MAX_NAMES || names.includes(name)) continue;
      const addresses = await addressesOf(resolver, name);
      if (addresses.length > 0 && addresses.every((ip) => ours.has(ip))) names.push(name);
    }
  }
  return names;
}
