/**
 * The DNS records a local domain should publish, from what the store and the
 * configuration know: our host name, the domain's active DKIM keys, and the
 * MTA-STS policy's id when MTA-STS is on. Shared by the API, the admin page
 * and `postino dns records`.
 */
import type { Config } from "../config.ts";
import { type DnsRecord, recordsToPublish } from "../dns/records_to_publish.ts";
import { mtaStsPolicy, mtaStsPolicyId } from "../security/mta_sts.ts";
import { dnsRecord } from "../security/dkim.ts";
import { isLocalDomain } from "../store/accounts.ts";
import { type Store, StoreError } from "../store/db.ts";
import { listDkimKeys } from "../store/dkim_keys.ts";

/** The records for `domain` (a local domain, normalised); `ips` are our public addresses if known. */
export async function domainRecords(
  store: Store,
  config: Config,
  domain: string,
  ips?: string[],
): Promise<DnsRecord[]> {
  if (!isLocalDomain(store, domain)) {
    throw new StoreError(`Domain ${domain} does not exist`, "not_found");
  }
  const dkim = listDkimKeys(store)
    .filter((k) => k.domain === domain && k.active)
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
    .map((k) => ({ selector: k.selector, record: dnsRecord(domain, k.selector, k).value }));
  const { mode, maxAgeSeconds } = config.mtaSts;
  const policyId = mode === "none" ? undefined : await mtaStsPolicyId(
    mtaStsPolicy({ mode, mx: [config.hostname], maxAgeSeconds }),
  );
  return recordsToPublish({
    domain,
    hostname: config.hostname,
    ips,
    dkim,
    mtaStsPolicyId: policyId,
  });
}
