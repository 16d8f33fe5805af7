/**
 * A DNS server for tests: answers from a small zone on 127.0.0.1, over UDP and
 * TCP on the same port, so a {@link Resolver} or `postino serve --dns` can be
 * pointed at it instead of the system resolver.
 *
 * Names not in the zone get NXDOMAIN; names in the zone without the asked type
 * get NODATA (NOERROR, empty answer); CNAMEs are chased inside the zone as a
 * recursive server would. Per-name behaviours simulate failures.
 *
 * ```ts
 * await using dns = await startDnsStub({ "example.test": { MX: [{ preference: 10, exchange: "mx.example.test" }] } });
 * const resolver = new Resolver({ servers: [dns] });
 * ```
 *
 * @module
 */
import dgram from "node:dgram";
import { once } from "node:events";
import {
  decodeMessage,
  type DnsMessage,
  encodeMessage,
  normalizeName,
  Rcode,
  type ResourceRecord,
  RRClass,
  RRType,
  typeName,
} from "../../src/dns/wire.ts";

/** The records of one name. */
export interface ZoneEntry {
  A?: string[];
  AAAA?: string[];
  MX?: { preference: number; exchange: string }[];
  SRV?: { priority: number; weight: number; port: number; target: string }[];
  /**
   * One entry per record. A string longer than 255 octets is split into
   * several character-strings; an array gives the character-strings as they are.
   */
  TXT?: (string | string[])[];
  CNAME?: string;
  PTR?: string[];
  NS?: string[];
}

/** Names (case-insensitive, no trailing dot needed) to their records. */
export type Zone = Record<string, ZoneEntry>;

/**
 * A zone holding `records` as `postino dns records --json` gives them
 * (values in zone-file form: `10 mail.example.test.`), added to `zone`.
 */
export function zoneFromRecords(
  records: readonly { name: string; type: string; value: string }[],
  zone: Zone = {},
): Zone {
  for (const r of records) {
    const e = zone[r.name] ??= {};
    const [a, b, c, d] = r.value.split(" ");
    if (r.type === "A") (e.A ??= []).push(r.value);
    if (r.type === "AAAA") (e.AAAA ??= []).push(r.value);
    if (r.type === "TXT") (e.TXT ??= []).push(r.value);
    if (r.type === "MX") (e.MX ??= []).push({ preference: Number(a), exchange: b });
    if (r.type === "CNAME") e.CNAME = r.value;
    if (r.type === "SRV") {
      (e.SRV ??= []).push({ priority: Number(a), weight: Number(b), port: Number(c), target: d });
    }
  }
  return zone;
}

/**
 * How the stub treats queries for one name:
 * - `answer`: from the zone (the default);
 * - `servfail` / `refused`: that rcode, over UDP and TCP;
 * - `drop`: never answers;
 * - `truncate`: over UDP, an empty reply with TC set; over TCP, the answer;
 * - `stray`: over UDP, first a reply with the wrong id, one for another
 *   question, a runt datagram and a reply from another port, all claiming
 *   192.0.2.66, then the real answer;
 * - `garbage`: over UDP and TCP, a reply with the right id that does not decode.
 */
export type StubBehaviour =
  | "answer"
  | "servfail"
  | "refused"
  | "drop"
  | "truncate"
  | "stray"
  | "garbage";

/** Options of {@link startDnsStub}. */
export interface DnsStubOptions {
  /** Behaviour per name; change later with `behave`. */
  behaviours?: Record<string, StubBehaviour>;
  /** TTL of every record. @default 300 */
  ttl?: number;
  /**
   * With a value above 0, negative answers (NXDOMAIN, NODATA) carry an SOA
   * whose TTL and MINIMUM are this, so resolvers may cache them (RFC 2308);
   * without, they carry none and are not cached. @default 0
   */
  negativeTtl?: number;
}

/** One query the stub received. */
export interface LoggedQuery {
  /** As asked, lower-cased, without a trailing dot. */
  name: string;
  /** The type mnemonic, such as `"MX"`, or `TYPE<n>`. */
  type: string;
  transport: "udp" | "tcp";
}

/** A running stub. */
export interface DnsStub extends AsyncDisposable {
  readonly host: "127.0.0.1";
  readonly port: number;
  /** `127.0.0.1:PORT`, as `--dns` takes it. */
  readonly address: string;
  /** Every query received, in order. */
  readonly queries: LoggedQuery[];
  /** Replaces the records of a name; `undefined` removes the name (it becomes NXDOMAIN). */
  set(name: string, records: ZoneEntry | undefined): void;
  /** Changes how a name is treated; `undefined` goes back to `answer`. */
  behave(name: string, behaviour: StubBehaviour | undefined): void;
  close(): Promise<void>;
}

/** The address answers of the `stray` behaviour claim; a client that believes one is broken. */
export const STRAY_ADDRESS = "192.0.2.66";
/** Largest UDP reply without EDNS (RFC 1035 §4.2.1). */
const CLASSIC_UDP_SIZE = 512;
const MAX_CHASE = 16;

const utf8 = new TextEncoder();

/** Splits text into character-strings of at most 255 octets, not cutting a UTF-8 sequence. */
function splitCharacterStrings(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let size = 0;
  for (const ch of text) {
    const n = utf8.encode(ch).length;
    if (size + n > 255) {
      out.push(current);
      [current, size] = ["", 0];
    }
    current += ch;
    size += n;
  }
  out.push(current);
  return out;
}

/** The zone's records of one type for one name, as resource records. */
function recordsOf(name: string, entry: ZoneEntry, type: number, ttl: number): ResourceRecord[] {
  const rr = (t: number, data: ResourceRecord["data"]): ResourceRecord => ({
    name,
    type: t,
    class: RRClass.IN,
    ttl,
    data,
  });
  switch (type) {
    case RRType.A:
      return (entry.A ?? []).map((address) => rr(type, { kind: "A", address }));
    case RRType.AAAA:
      return (entry.AAAA ?? []).map((address) => rr(type, { kind: "AAAA", address }));
    case RRType.MX:
      return (entry.MX ?? []).map((mx) => rr(type, { kind: "MX", ...mx }));
    case RRType.SRV:
      return (entry.SRV ?? []).map((srv) => rr(type, { kind: "SRV", ...srv }));
    case RRType.TXT:
      return (entry.TXT ?? []).map((t) =>
        rr(type, { kind: "TXT", strings: typeof t === "string" ? splitCharacterStrings(t) : t })
      );
    case RRType.CNAME:
      return entry.CNAME === undefined ? [] : [rr(type, { kind: "CNAME", cname: entry.CNAME })];
    case RRType.PTR:
      return (entry.PTR ?? []).map((ptrdname) => rr(type, { kind: "PTR", ptrdname }));
    case RRType.NS:
      return (entry.NS ?? []).map((nsdname) => rr(type, { kind: "NS", nsdname }));
    default:
      return [];
  }
}

/** Starts a stub on 127.0.0.1, UDP and TCP on one port number. */
export async function startDnsStub(zone: Zone, options: DnsStubOptions = {}): Promise<DnsStub> {
  const ttl = options.ttl ?? 300;
  const negativeTtl = options.negativeTtl ?? 0;
  const records = new Map<string, ZoneEntry>();
  for (const [name, entry] of Object.entries(zone)) records.set(normalizeName(name), entry);
  const behaviours = new Map<string, StubBehaviour>();
  for (const [name, b] of Object.entries(options.behaviours ?? {})) {
    behaviours.set(normalizeName(name), b);
  }
  const queries: LoggedQuery[] = [];

  /** The reply to a query, or undefined to stay silent. */
  function reply(query: DnsMessage, transport: "udp" | "tcp"): DnsMessage | undefined {
    const header = {
      id: query.header.id,
      qr: true,
      opcode: query.header.opcode,
      aa: false,
      tc: false,
      rd: query.header.rd,
      ra: true,
      rcode: Rcode.NOERROR as number,
    };
    const edns = query.edns
      ? { udpSize: 1232, extendedRcode: 0, version: 0, dnssecOk: false, options: [] }
      : undefined;
    const msg: DnsMessage = {
      header,
      questions: query.questions,
      answers: [],
      authorities: [],
      additionals: [],
      edns,
    };
    const q = query.questions[0];
    if (query.header.qr || query.questions.length !== 1) {
      header.rcode = Rcode.FORMERR;
      return msg;
    }
    const asked = normalizeName(q.name);
    queries.push({ name: asked, type: typeName(q.type), transport });
    const behaviour = behaviours.get(asked) ?? "answer";
    if (behaviour === "drop") return undefined;
    if (behaviour === "servfail") header.rcode = Rcode.SERVFAIL;
    else if (behaviour === "refused") header.rcode = Rcode.REFUSED;
    else if (behaviour === "truncate" && transport === "udp") header.tc = true;
    else {
      // Chase CNAMEs inside the zone, as a recursive server would (RFC 1034 §4.3.2).
      let current = asked;
      for (let i = 0; i < MAX_CHASE; i++) {
        const entry = records.get(current);
        if (!entry) {
          header.rcode = Rcode.NXDOMAIN;
          break;
        }
        const found = recordsOf(current, entry, q.type, ttl);
        if (found.length > 0 || entry.CNAME === undefined || q.type === RRType.CNAME) {
          msg.answers.push(...found);
          break;
        }
        msg.answers.push(...recordsOf(current, entry, RRType.CNAME, ttl));
        current = normalizeName(entry.CNAME);
      }
      const negative = header.rcode === Rcode.NXDOMAIN || msg.answers.length === 0;
      if (negative && negativeTtl > 0) {
        msg.authorities.push({
          name: "",
          type: RRType.SOA,
          class: RRClass.IN,
          ttl: negativeTtl,
          data: {
            kind: "SOA",
            mname: "stub.test",
            rname: "hostmaster.stub.test",
            serial: 1,
            refresh: 3600,
            retry: 600,
            expire: 86400,
            minimum: negativeTtl,
          },
        });
      }
    }
    return msg;
  }

  /** Encodes a reply; over UDP, one too big for the client becomes an empty TC reply. */
  function encodeReply(query: DnsMessage, msg: DnsMessage, transport: "udp" | "tcp"): Uint8Array {
    const bytes = encodeMessage(msg);
    const limit = Math.max(CLASSIC_UDP_SIZE, query.edns?.udpSize ?? 0);
    if (transport === "tcp" || bytes.length <= limit) return bytes;
    return encodeMessage({ ...msg, header: { ...msg.header, tc: true }, answers: [] });
  }

  /** Bytes that start with the query's id and then stop mid-question. */
  function garbageFor(query: DnsMessage): Uint8Array {
    const bytes = new Uint8Array(14);
    bytes[0] = query.header.id >> 8;
    bytes[1] = query.header.id & 0xff;
    bytes[2] = 0x81; // QR, RD
    bytes[5] = 1; // QDCOUNT 1, but no question follows
    return bytes;
  }

  // Bind UDP on a free port, then TCP on the same number; retry if TCP's is taken.
  let udp: dgram.Socket | undefined;
  let tcp: Deno.TcpListener | undefined;
  for (let tries = 0; tries < 20 && !tcp; tries++) {
    const socket = dgram.createSocket("udp4");
    socket.bind(0, "127.0.0.1");
    await once(socket, "listening");
    try {
      tcp = Deno.listen({ hostname: "127.0.0.1", port: socket.address().port });
      udp = socket;
    } catch (e) {
      await new Promise<void>((resolve) => socket.close(() => resolve()));
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    }
  }
  if (!udp || !tcp) throw new Error("Cannot start DNS stub: no port free for both UDP and TCP");
  const port = udp.address().port;

  // A second socket, so that `stray` can send from another source port.
  const other = dgram.createSocket("udp4");
  other.bind(0, "127.0.0.1");
  await once(other, "listening");

  const pending = new Set<Promise<void>>();
  function track(p: Promise<void>): void {
    pending.add(p);
    p.finally(() => pending.delete(p));
  }
  function send(socket: dgram.Socket, bytes: Uint8Array, to: dgram.RemoteInfo): void {
    track(
      new Promise((resolve) => socket.send(bytes, to.port, to.address, () => resolve())),
    );
  }

  const server = udp;
  server.on("message", (bytes: Uint8Array, from: dgram.RemoteInfo) => {
    let query: DnsMessage;
    try {
      query = decodeMessage(bytes);
    } catch {
      return;
    }
    const msg = reply(query, "udp");
    if (!msg) return;
    const behaviour = behaviours.get(normalizeName(query.questions[0]?.name ?? ""));
    if (behaviour === "garbage") return send(server, garbageFor(query), from);
    if (behaviour === "stray") {
      const fake: DnsMessage = {
        ...msg,
        answers: [{
          name: query.questions[0].name,
          type: RRType.A,
          class: RRClass.IN,
          ttl,
          data: { kind: "A", address: STRAY_ADDRESS },
        }],
      };
      const wrongId = { ...fake, header: { ...fake.header, id: (fake.header.id + 1) & 0xffff } };
      const otherQuestion = {
        ...fake,
        questions: [{ ...query.questions[0], name: "other.invalid" }],
        answers: [{ ...fake.answers[0], name: "other.invalid" }],
      };
      send(server, encodeMessage(wrongId), from);
      send(server, encodeMessage(otherQuestion), from);
      send(server, new Uint8Array([fake.header.id >> 8, fake.header.id & 0xff, 0x81]), from);
      send(other, encodeMessage(fake), from);
    }
    send(server, encodeReply(query, msg, "udp"), from);
  });

  const conns = new Set<Deno.TcpConn>();
  async function serveTcp(conn: Deno.TcpConn): Promise<void> {
    let buffer = new Uint8Array(0);
    const chunk = new Uint8Array(4096);
    try {
      for (;;) {
        const n = await conn.read(chunk);
        if (n === null) return;
        const next = new Uint8Array(buffer.length + n);
        next.set(buffer);
        next.set(chunk.subarray(0, n), buffer.length);
        buffer = next;
        while (buffer.length >= 2 && buffer.length >= 2 + ((buffer[0] << 8) | buffer[1])) {
          const length = (buffer[0] << 8) | buffer[1];
          const frame = buffer.slice(2, 2 + length);
          buffer = buffer.slice(2 + length);
          let query: DnsMessage;
          try {
            query = decodeMessage(frame);
          } catch {
            return;
          }
          const msg = reply(query, "tcp");
          if (!msg) continue;
          const behaviour = behaviours.get(normalizeName(query.questions[0]?.name ?? ""));
          const bytes = behaviour === "garbage"
            ? garbageFor(query)
            : encodeReply(query, msg, "tcp");
          const framed = new Uint8Array(bytes.length + 2);
          framed[0] = bytes.length >> 8;
          framed[1] = bytes.length & 0xff;
          framed.set(bytes, 2);
          for (let written = 0; written < framed.length;) {
            written += await conn.write(framed.subarray(written));
          }
        }
      }
    } catch {
      // The client went away or the stub is closing.
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch {
        // Already closed by close().
      }
    }
  }
  const listener = tcp;
  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        conns.add(conn);
        track(serveTcp(conn));
      }
    } catch {
      // The listener was closed.
    }
  })();

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= (async () => {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed meanwhile.
        }
      }
      await accepting;
      await Promise.all([...pending]);
      await Promise.all([server, other].map((s) => new Promise<void>((r) => s.close(() => r()))));
    })();
    return closing;
  }

  return {
    host: "127.0.0.1",
    port,
    address: `127.0.0.1:${port}`,
    queries,
    set(name, entry) {
      if (entry === undefined) records.delete(normalizeName(name));
      else records.set(normalizeName(name), entry);
    },
    behave(name, behaviour) {
      if (behaviour === undefined) behaviours.delete(normalizeName(name));
      else behaviours.set(normalizeName(name), behaviour);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
