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
  // Most lookups of inbound mail end in "no such record"; a stack trace for each costs more
  // than the lookup from the cache, and nobody reads it.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return Object.assign(new Error(`DNS ${type} lookup of ${name}: ${code}`), { code });
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Limits of the lookups of one message. */
export interface LookupBudget {
  /** Every lookup ends by then. */
  signal: AbortSignal;
  /**
   * One lookup may take at most this long, so that one name whose server
   * never answers cannot use up the whole budget of the message.
   */
  perLookupMs?: number;
}

/** A mailauth resolver over `resolver` whose lookups all end within `budget`. */
export function mailauthResolver(resolver: Resolver, budget: LookupBudget): MailauthResolver {
  const { signal } = budget;
  // A name that timed out is not asked again for the same message.
  const timedOut = new Set<string>();
  return async (name: string, type: string) => {
    const code = TYPES[type.toUpperCase()];
    if (code === undefined) throw dnsError("ENOTIMP", name, type);
    const key = `${type}|${name.toLowerCase()}`;
    if (timedOut.has(key)) throw dnsError("ETIMEOUT", name, type);
    // No early check of `signal`: answers the resolver has cached come back even after it.
    const answer = await resolver.query(name, code, { signal, limitMs: budget.perLookupMs });
    switch (answer.kind) {
      case "nxdomain":
        throw dnsError("ENOTFOUND", name, type);
      case "nodata":
        throw dnsError("ENODATA", name, type);
      case "error":
        if (answer.reason === "timeout") timedOut.add(key);
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
