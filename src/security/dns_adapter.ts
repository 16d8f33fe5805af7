/**
 * Our DNS client in the shape mailauth expects (that of node's
 * `dns.promises.resolve(name, type)`): records as arrays, and outcomes as
 * errors with node's codes, which mailauth maps to SPF/DKIM/DMARC results
 * (ENOTFOUND/ENODATA: none or permerror; the others: temperror).
 *
 * Every lookup of one message shares a deadline, so a slow DNS server can
 * hold a session only so long.
 */
import type { Resolver } from "../dns/resolver.ts";
import { RRType } from "../dns/wire.ts";

/** The resolver function mailauth calls. */
export type MailauthResolver = (name: string, type: string) => Promise<unknown[]>;

const TYPES: Record<string, number> = {
  A: RRType.A,
  AAAA: RRType.AAAA,
  MX: RRType.MX,
  TXT: RRType.TXT,
  PTR: RRType.PTR,
  CNAME: RRType.CNAME,
  NS: RRType.NS,
};

const CODES: Record<string, string> = {
  timeout: "ETIMEOUT",
  servfail: "ESERVFAIL",
  refused: "EREFUSED",
  malformed: "EBADRESP",
  network: "ECONNREFUSED",
};

function dnsError(code: string, name: string, type: string): Error {
  return Object.assign(new Error(`DNS ${type} lookup of ${name}: ${code}`), { code });
}

/** A mailauth resolver over `resolver` whose lookups all end by `signal`. */
export function mailauthResolver(resolver: Resolver, signal: AbortSignal): MailauthResolver {
  return async (name: string, type: string) => {
    const code = TYPES[type.toUpperCase()];
    if (code === undefined) throw dnsError("ENOTIMP", name, type);
    if (signal.aborted) throw dnsError("ETIMEOUT", name, type);
    const answer = await resolver.query(name, code, { signal });
    switch (answer.kind) {
      case "nxdomain":
        throw dnsError("ENOTFOUND", name, type);
      case "nodata":
        throw dnsError("ENODATA", name, type);
      case "error":
        throw dnsError(CODES[answer.reason] ?? "ESERVFAIL", name, type);
    }
    return answer.records.map((r) => {
      const d = r.data;
      switch (d.kind) {
        case "A":
        case "AAAA":
          return d.address;
        case "MX":
          return { exchange: d.exchange, priority: d.preference };
        case "TXT":
          return d.strings; // node gives the character-strings of each record; mailauth joins them
        case "PTR":
          return d.ptrdname;
        case "CNAME":
          return d.cname;
        case "NS":
          return d.nsdname;
        default:
          return "";
      }
    });
  };
}
