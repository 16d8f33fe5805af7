/**
 * A small stub resolver client: sends queries to recursive name servers over
 * UDP, falls back to TCP for truncated replies, and reports each outcome
 * exactly (answer, NODATA, NXDOMAIN, or why it failed), which
 * `Deno.resolveDns` cannot.
 *
 * Invariants:
 * - Methods never throw for DNS outcomes; they return a {@link DnsAnswer}.
 * - Every query opens its own socket on a random source port with a random
 *   16-bit id (RFC 5452 §9.2), and accepts only a reply from the server it
 *   asked, with the same id and question; anything else is ignored.
 * - Every socket, timer and abort listener a query opens is released before
 *   its promise settles.
 */
import dgram from "node:dgram";
import net from "node:net";
import { DnsCache } from "./cache.ts";
import {
  decodeMessage,
  type DnsMessage,
  encodeQuery,
  formatIp,
  fullRcode,
  nameProblem,
  normalizeName,
  parseIp,
  Rcode,
  type ResourceRecord,
  RRClass,
  RRType,
  sameName,
  typeName,
} from "./wire.ts";

/** A name server address. */
export interface NameServer {
  host: string;
  port: number;
}

/** Options of {@link Resolver}. */
export interface ResolverOptions {
  /** Servers to ask, in order, by IP address. @default the `nameserver` lines of `resolvConfPath` */
  servers?: NameServer[];
  /** How long to wait for one reply from one server, in milliseconds. @default 2000 */
  timeoutMs?: number;
  /** How many rounds over the servers a query makes before giving up on timeouts. @default 2 */
  attempts?: number;
  /** Where to read servers from when `servers` is not given. @default "/etc/resolv.conf" */
  resolvConfPath?: string;
  /** Keep answers for their TTL (see cache.ts). @default false */
  cache?: boolean;
  /** The cache's clock, in milliseconds (tests). @default Date.now */
  now?: () => number;
}

/** Options of one query. */
export interface QueryOptions {
  /** Ends the query early; it then reports `{ kind: "error", reason: "timeout" }`. */
  signal?: AbortSignal;
  /**
   * Ends the query after this many milliseconds, likewise. Unlike a timeout
   * signal it costs nothing when the answer is cached.
   */
  limitMs?: number;
}

/** Why a query failed. */
export type DnsErrorReason = "timeout" | "servfail" | "refused" | "malformed" | "network";

/** The outcome of a query: records, an authoritative "nothing", or a failure. */
export type DnsAnswer<T = ResourceRecord> =
  | { kind: "ok"; records: T[] }
  /** The name exists but has no records of the asked type (RFC 2308 §2.2). */
  | { kind: "nodata"; negativeTtl?: number }
  /** The name does not exist (RFC 2308 §2.1). */
  | { kind: "nxdomain"; negativeTtl?: number }
  | { kind: "error"; reason: DnsErrorReason; detail: string };

/** An SRV record (RFC 2782); the target lower-cased without the final dot ("" for "."). */
export interface SrvRecord {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

/** An MX record; a null MX (RFC 7505) is `{ preference: 0, exchange: "" }`. */
export interface MxRecord {
  preference: number;
  /** Lower-cased, without a trailing dot. */
  exchange: string;
}

/** The default server when resolv.conf names none (as the resolver of glibc does). */
const FALLBACK_SERVER: NameServer = { host: "127.0.0.1", port: 53 };
/** glibc reads at most three name servers (MAXNS in resolv.h). */
const MAX_SERVERS = 3;
/** RFC 6891 §6.2.5 and the DNS flag day 2020 recommendation. */
const EDNS_UDP_SIZE = 1232;
/** How many CNAME records a chain in one answer may have. */
const MAX_CNAME_HOPS = 8;

type DnsError = Extract<DnsAnswer, { kind: "error" }>;
/** What one exchange with one server gave: a matching reply, or why there was none. */
type Exchange = { kind: "reply"; msg: DnsMessage } | DnsError;

/** Parses the `nameserver` lines of a resolv.conf(5) file (the first three), port 53. */
export function parseResolvConf(text: string): NameServer[] {
  const servers: NameServer[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/[#;].*$/, "").trim();
    const [keyword, address] = line.split(/\s+/);
    if (keyword !== "nameserver" || address === undefined) continue;
    // A link-local IPv6 server may carry a zone ("fe80::1%eth0"); the socket API takes it as is.
    if (!parseIp(address.replace(/%.*$/, ""))) continue;
    servers.push({ host: address, port: 53 });
    if (servers.length === MAX_SERVERS) break;
  }
  return servers;
}

/** The name a PTR query for an address asks (RFC 1035 §3.5, RFC 3596 §2.5); undefined if not an IP. */
export function reverseName(ip: string): string | undefined {
  const bytes = parseIp(ip);
  if (!bytes) return undefined;
  if (bytes.length === 4) return `${[...bytes].reverse().join(".")}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (const b of bytes) nibbles.push((b >> 4).toString(16), (b & 0xf).toString(16));
  return `${nibbles.reverse().join(".")}.ip6.arpa`;
}

/** A DNS stub resolver client; see the module comment. */
export class Resolver {
  readonly #configured?: NameServer[];
  readonly #timeoutMs: number;
  readonly #attempts: number;
  readonly #resolvConfPath: string;
  #servers?: Promise<NameServer[]>;
  readonly #cache?: DnsCache<DnsAnswer>;
  /** Lookups on the wire, by question: the same question asked meanwhile waits for the same answer. */
  readonly #inFlight = new Map<string, SharedLookup>();

  constructor(options: ResolverOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#attempts = options.attempts ?? 2;
    this.#resolvConfPath = options.resolvConfPath ?? "/etc/resolv.conf";
    if (options.cache) this.#cache = new DnsCache({ now: options.now });
    if (!(this.#timeoutMs > 0)) throw new RangeError(`Invalid DNS timeout: ${this.#timeoutMs}`);
    if (!Number.isInteger(this.#attempts) || this.#attempts < 1) {
      throw new RangeError(`Invalid number of DNS attempts: ${this.#attempts}`);
    }
    if (options.servers) {
      if (options.servers.length === 0) throw new RangeError("Invalid DNS servers: empty list");
      for (const { host, port } of options.servers) {
        // Looking a server's name up would need DNS (or the system resolver) first.
        if (!parseIp(host.replace(/%.*$/, ""))) {
          throw new RangeError(`Invalid DNS server: ${host} (expected an IP address)`);
        }
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          throw new RangeError(`Invalid DNS server port: ${port}`);
        }
      }
      this.#configured = options.servers.map(({ host, port }) => ({ host, port }));
    }
  }

  /** The servers this resolver asks; reads resolv.conf on first use when none were given. */
  servers(): Promise<NameServer[]> {
    this.#servers ??= this.#configured
      ? Promise.resolve(this.#configured)
      : Deno.readTextFile(this.#resolvConfPath).then(
        (text) => parseResolvConf(text),
        () => [],
      ).then((list) => list.length > 0 ? list : [FALLBACK_SERVER]);
    return this.#servers;
  }

  /**
   * Asks for records of one type. `ok` holds only records of that type owned by
   * the name or by the end of a CNAME chain in the answer (at most 8 links).
   */
  query(name: string, type: number, options: QueryOptions = {}): Promise<DnsAnswer> {
    const signal = options.signal;
    const qname = normalizeName(name);
    const problem = nameProblem(qname);
    if (problem !== undefined) return Promise.resolve(error("malformed", problem));
    const key = `${type}|${qname}`;
    const cached = this.#cache?.get(key);
    if (cached) return Promise.resolve(cached);
    let shared = this.#inFlight.get(key);
    if (!shared) {
      const controller = new AbortController();
      const forget = () => {
        if (this.#inFlight.get(key) === shared) this.#inFlight.delete(key);
      };
      const answer = this.#lookup(qname, type, controller.signal).then((result) => {
        forget();
        if (result.kind === "ok") {
          this.#cache?.set(key, result, Math.min(...result.records.map((r) => r.ttl)), false);
        } else if (result.kind !== "error") {
          this.#cache?.set(key, result, result.negativeTtl, true);
        }
        return result;
      });
      shared = { answer, controller, forget, waiting: 0 };
      this.#inFlight.set(key, shared);
    }
    return join(shared, signal, options.limitMs, `${qname} ${typeName(type)}`);
  }

  async #lookup(qname: string, type: number, signal?: AbortSignal): Promise<DnsAnswer> {
    const what = `${qname} ${typeName(type)}`;
    if (signal?.aborted) return aborted(what);
    const servers = await this.servers();
    // Servers that answered with an error are not asked again; their error wins over a timeout.
    const answered = new Map<number, DnsError>();
    let lastFailure: DnsError = error("timeout", `No DNS server answered for ${what}`);
    for (let attempt = 0; attempt < this.#attempts; attempt++) {
      for (let i = 0; i < servers.length; i++) {
        if (answered.has(i)) continue;
        if (signal?.aborted) return aborted(what);
        const result = await this.#ask(servers[i], qname, type, signal);
        if (result.kind !== "error") return result;
        if (signal?.aborted) return aborted(what);
        if (result.reason === "timeout" || result.reason === "network") lastFailure = result;
        else answered.set(i, result);
      }
      if (answered.size === servers.length) break;
    }
    return [...answered.values()].pop() ?? lastFailure;
  }

  /** MX records sorted by preference (ties keep the server's order); see {@link MxRecord}. */
  async mx(name: string, options?: QueryOptions): Promise<DnsAnswer<MxRecord>> {
    const answer = mapRecords(
      await this.query(name, RRType.MX, options),
      (d) =>
        d.kind === "MX"
          ? { preference: d.preference, exchange: normalizeName(d.exchange) }
          : undefined,
    );
    if (answer.kind === "ok") answer.records.sort((x, y) => x.preference - y.preference);
    return answer;
  }

  /** SRV records (RFC 2782), by priority; a target of "." means the service is not offered. */
  async srv(name: string, options?: QueryOptions): Promise<DnsAnswer<SrvRecord>> {
    const answer = mapRecords(
      await this.query(name, RRType.SRV, options),
      (d) =>
        d.kind === "SRV"
          ? {
            priority: d.priority,
            weight: d.weight,
            port: d.port,
            target: normalizeName(d.target),
          }
          : undefined,
    );
    if (answer.kind === "ok") answer.records.sort((x, y) => x.priority - y.priority);
    return answer;
  }

  /** IPv4 addresses as dotted quads. */
  async a(name: string, options?: QueryOptions): Promise<DnsAnswer<string>> {
    return mapRecords(
      await this.query(name, RRType.A, options),
      (d) => d.kind === "A" ? d.address : undefined,
    );
  }

  /** IPv6 addresses in RFC 5952 text form. */
  async aaaa(name: string, options?: QueryOptions): Promise<DnsAnswer<string>> {
    return mapRecords(
      await this.query(name, RRType.AAAA, options),
      (d) => d.kind === "AAAA" ? d.address : undefined,
    );
  }

  /** TXT records, each one's character-strings joined without a separator (RFC 7208 §3.3). */
  async txt(name: string, options?: QueryOptions): Promise<DnsAnswer<string>> {
    return mapRecords(
      await this.query(name, RRType.TXT, options),
      (d) => d.kind === "TXT" ? d.strings.join("") : undefined,
    );
  }

  /** Names of an address from its in-addr.arpa or ip6.arpa PTR records, lower-cased. */
  async ptr(ip: string, options?: QueryOptions): Promise<DnsAnswer<string>> {
    const name = reverseName(ip);
    if (name === undefined) return error("malformed", `Cannot build PTR name: invalid IP ${ip}`);
    return mapRecords(
      await this.query(name, RRType.PTR, options),
      (d) => d.kind === "PTR" ? normalizeName(d.ptrdname) : undefined,
    );
  }

  /** One question to one server: UDP, then TCP when truncated (RFC 1035 §4.2.1, RFC 7766 §5). */
  async #ask(
    server: NameServer,
    name: string,
    type: number,
    signal: AbortSignal | undefined,
  ): Promise<DnsAnswer> {
    const ask = { server, name, type, timeoutMs: this.#timeoutMs, signal };
    let result = await exchangeUdp(ask, EDNS_UDP_SIZE);
    // RFC 6891 §7: a server that does not know EDNS may answer FORMERR without an OPT record.
    if (
      result.kind === "reply" && result.msg.header.rcode === Rcode.FORMERR && !result.msg.edns
    ) {
      result = await exchangeUdp(ask, undefined);
    }
    if (result.kind === "reply" && result.msg.header.tc) result = await exchangeTcp(ask);
    if (result.kind === "error") return result;
    return interpret(result.msg, name, type);
  }
}

/** One lookup on the wire and the callers waiting for it. */
interface SharedLookup {
  answer: Promise<DnsAnswer>;
  /** Stops the lookup once every caller has given up on it. */
  controller: AbortController;
  /** Lets the next caller start a new lookup. */
  forget(): void;
  /** Callers still waiting (those without a signal never give up). */
  waiting: number;
}

/** The shared answer, or a timeout as soon as this caller's `signal` aborts or `limitMs` passes. */
function join(
  shared: SharedLookup,
  signal: AbortSignal | undefined,
  limitMs: number | undefined,
  what: string,
): Promise<DnsAnswer> {
  if (signal?.aborted) return Promise.resolve(aborted(what));
  shared.waiting++;
  if (!signal && limitMs === undefined) return shared.answer;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (answer: DnsAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener("abort", giveUp);
      resolve(answer);
    };
    const giveUp = () => {
      if (settled) return;
      if (--shared.waiting === 0) {
        shared.forget();
        shared.controller.abort();
      }
      settle(aborted(what));
    };
    const timer = limitMs === undefined ? undefined : setTimeout(giveUp, limitMs);
    signal?.addEventListener("abort", giveUp, { once: true });
    shared.answer.then(settle);
  });
}

function error(reason: DnsErrorReason, detail: string): DnsError {
  return { kind: "error", reason, detail };
}

function aborted(what: string): DnsError {
  return error("timeout", `DNS query for ${what} aborted`);
}

/** Converts the records of an ok answer; other outcomes pass through. */
function mapRecords<T>(
  answer: DnsAnswer,
  convert: (data: ResourceRecord["data"]) => T | undefined,
): DnsAnswer<T> {
  if (answer.kind !== "ok") return answer;
  const records: T[] = [];
  for (const rr of answer.records) {
    const value = convert(rr.data);
    if (value !== undefined) records.push(value);
  }
  return { kind: "ok", records };
}

/** Turns a matching reply into an outcome: rcode first, then the answer's CNAME chain. */
function interpret(msg: DnsMessage, name: string, type: number): DnsAnswer {
  const rcode = fullRcode(msg);
  const what = `${name} ${typeName(type)}`;
  switch (rcode) {
    case Rcode.NOERROR:
      break;
    // RFC 6604 §2: with NXDOMAIN the last name of any CNAME chain does not exist.
    case Rcode.NXDOMAIN:
      return negative("nxdomain", msg);
    case Rcode.SERVFAIL:
      return error("servfail", `DNS server failed for ${what} (SERVFAIL)`);
    case Rcode.REFUSED:
      return error("refused", `DNS server refused ${what} (REFUSED)`);
    case Rcode.NOTIMP:
      return error("refused", `DNS server does not implement ${what} (NOTIMP)`);
    case Rcode.FORMERR:
      return error("malformed", `DNS server rejected the query for ${what} (FORMERR)`);
    default:
      return error("servfail", `DNS server answered ${what} with rcode ${rcode}`);
  }
  let current = name;
  for (let hops = 0;; hops++) {
    const records = msg.answers.filter((rr) =>
      rr.class === RRClass.IN && (type === RRType.ANY || rr.type === type) &&
      sameName(rr.name, current)
    );
    if (records.length > 0) return { kind: "ok", records };
    if (type === RRType.CNAME) break;
    const link = msg.answers.find((rr) =>
      rr.class === RRClass.IN && rr.data.kind === "CNAME" && sameName(rr.name, current)
    );
    if (!link || link.data.kind !== "CNAME") break;
    if (hops === MAX_CNAME_HOPS) {
      return error("malformed", `CNAME chain for ${what} longer than ${MAX_CNAME_HOPS}`);
    }
    current = link.data.cname;
  }
  return negative("nodata", msg);
}

/** A negative answer, with its cache lifetime when the reply gave one. */
function negative(kind: "nxdomain" | "nodata", msg: DnsMessage): DnsAnswer {
  const ttl = negativeTtl(msg);
  return ttl === undefined ? { kind } : { kind, negativeTtl: ttl };
}

/** RFC 2308 §5: a negative answer lives for the lesser of the SOA's TTL and its MINIMUM. */
function negativeTtl(msg: DnsMessage): number | undefined {
  const soa = msg.authorities.find((rr) => rr.data.kind === "SOA");
  return soa?.data.kind === "SOA" ? Math.min(soa.ttl, soa.data.minimum) : undefined;
}

/** What an exchange needs to know. */
interface Ask {
  server: NameServer;
  name: string;
  type: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0];
}

/** Whether a decoded message answers our query (RFC 5452 §9.1: id, question, response bit). */
function matches(msg: DnsMessage, id: number, ask: Ask): boolean {
  if (!msg.header.qr || msg.header.id !== id || msg.header.opcode !== 0) return false;
  if (msg.questions.length === 0) {
    // Some servers drop the question from error replies; an answer must carry it.
    return msg.header.rcode !== Rcode.NOERROR && msg.header.rcode !== Rcode.NXDOMAIN;
  }
  const q = msg.questions[0];
  return msg.questions.length === 1 && q.type === ask.type && q.class === RRClass.IN &&
    sameName(q.name, ask.name);
}

function sameHost(a: string, b: string): boolean {
  const x = parseIp(a.replace(/%.*$/, ""));
  const y = parseIp(b.replace(/%.*$/, ""));
  if (!x || !y) return a === b;
  // An IPv4 server may show up as an IPv4-mapped address on a dual-stack socket.
  const norm = (v: Uint8Array) =>
    v.length === 16 && formatIp(v).startsWith("::ffff:") ? v.subarray(12) : v;
  const [p, q] = [norm(x), norm(y)];
  return p.length === q.length && p.every((v, i) => v === q[i]);
}

/** An open exchange: how to release it, and what to report if its time runs out. */
interface Transport {
  /** Releases the socket and calls `done` once it is closed. */
  close(done: () => void): void;
  /** A better report than a plain timeout, if the transport has one. */
  timeoutResult?(): Exchange | undefined;
}

/**
 * Runs one exchange bounded by the per-try timer and the caller's signal.
 * The promise settles only after the transport is closed and the timer and
 * abort listener are gone.
 */
function bounded(
  ask: Ask,
  start: (finish: (result: Exchange) => void) => Transport,
): Promise<Exchange> {
  return new Promise((resolve) => {
    let result: Exchange | undefined;
    let transport: Transport | undefined;
    const what = `${ask.name} ${typeName(ask.type)}`;
    const onAbort = () => finish(aborted(what));
    const timer = setTimeout(() => {
      const late = transport?.timeoutResult?.();
      finish(
        late ??
          error("timeout", `No reply from ${hostPort(ask.server)} within ${ask.timeoutMs} ms`),
      );
    }, ask.timeoutMs);
    function finish(r: Exchange): void {
      if (result) return;
      result = r;
      clearTimeout(timer);
      ask.signal?.removeEventListener("abort", onAbort);
      transport?.close(() => resolve(r));
    }
    ask.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      transport = start(finish);
    } catch (e) {
      finish(error("network", `Cannot reach ${hostPort(ask.server)}: ${(e as Error).message}`));
      return resolve(result!);
    }
    // `start` may have finished the exchange before its transport existed.
    if (result) transport.close(() => resolve(result!));
  });
}

function hostPort(server: NameServer): string {
  return server.host.includes(":")
    ? `[${server.host}]:${server.port}`
    : `${server.host}:${server.port}`;
}

/** Sends the query over UDP from a fresh random port and waits for the matching reply. */
function exchangeUdp(ask: Ask, edns: number | undefined): Promise<Exchange> {
  const id = randomId();
  const query = encodeQuery(id, ask.name, ask.type, { edns });
  const family = ask.server.host.includes(":") ? "udp6" : "udp4";
  return bounded(ask, (finish) => {
    const socket = dgram.createSocket(family);
    /** A reply with our id that did not decode: reported if nothing better arrives in time. */
    let malformed: string | undefined;
    socket.on(
      "error",
      (e) => finish(error("network", `UDP to ${hostPort(ask.server)}: ${e.message}`)),
    );
    socket.on("message", (bytes: Uint8Array, rinfo: { address: string; port: number }) => {
      if (rinfo.port !== ask.server.port || !sameHost(rinfo.address, ask.server.host)) return;
      let msg: DnsMessage;
      try {
        msg = decodeMessage(bytes);
      } catch (e) {
        if (bytes.length >= 2 && ((bytes[0] << 8) | bytes[1]) === id) {
          malformed = (e as Error).message;
        }
        return;
      }
      if (matches(msg, id, ask)) finish({ kind: "reply", msg });
    });
    socket.bind(0, () => {
      socket.send(query, ask.server.port, ask.server.host, (e) => {
        if (e) finish(error("network", `UDP to ${hostPort(ask.server)}: ${e.message}`));
      });
    });
    return {
      close(done) {
        socket.removeAllListeners("message");
        socket.on("error", () => {});
        try {
          socket.close(done);
        } catch {
          done(); // already closed
        }
      },
      timeoutResult: () =>
        malformed === undefined ? undefined : error(
          "malformed",
          `UDP reply from ${hostPort(ask.server)}: ${malformed}`,
        ),
    };
  });
}

/** Sends the query over TCP with its 2-octet length prefix (RFC 1035 §4.2.2, RFC 7766). */
function exchangeTcp(ask: Ask): Promise<Exchange> {
  const id = randomId();
  const query = encodeQuery(id, ask.name, ask.type, { edns: EDNS_UDP_SIZE });
  const where = hostPort(ask.server);
  return bounded(ask, (finish) => {
    const socket = net.connect({ host: ask.server.host, port: ask.server.port });
    let closed = false;
    let onClosed: (() => void) | undefined;
    let buffer = new Uint8Array(0);
    socket.on("connect", () => {
      const framed = new Uint8Array(query.length + 2);
      framed[0] = query.length >> 8;
      framed[1] = query.length & 0xff;
      framed.set(query, 2);
      socket.write(framed);
    });
    socket.on("data", (chunk: Uint8Array) => {
      const next = new Uint8Array(buffer.length + chunk.length);
      next.set(buffer);
      next.set(chunk, buffer.length);
      buffer = next;
      // RFC 7766 §7: replies may come in any order; skip any that is not ours.
      while (buffer.length >= 2) {
        const length = (buffer[0] << 8) | buffer[1];
        if (buffer.length < length + 2) return;
        const frame = buffer.slice(2, length + 2);
        buffer = buffer.slice(length + 2);
        let msg: DnsMessage;
        try {
          msg = decodeMessage(frame);
        } catch (e) {
          if (length >= 2 && ((frame[0] << 8) | frame[1]) === id) {
            finish(error("malformed", `TCP reply from ${where}: ${(e as Error).message}`));
          }
          continue;
        }
        if (matches(msg, id, ask)) return finish({ kind: "reply", msg });
      }
    });
    socket.on("error", (e) => finish(error("network", `TCP to ${where}: ${e.message}`)));
    socket.on("close", () => {
      closed = true;
      finish(error("network", `TCP connection to ${where} closed before a reply`));
      onClosed?.();
    });
    return {
      close(done) {
        if (closed) return done();
        onClosed = done;
        socket.destroy();
      },
    };
  });
}
