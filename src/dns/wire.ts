/**
 * DNS messages on the wire: encoding and decoding of the header, questions
 * and resource records (RFC 1035 §4), AAAA (RFC 3596) and the EDNS0 OPT
 * pseudo-record (RFC 6891).
 *
 * Invariants:
 * - Decoding never reads outside the given bytes and always terminates:
 *   every malformed input throws {@link DnsWireError}, nothing else.
 * - Names are dotted strings without the trailing dot; the root is `""`.
 *   Label bytes other than letters, digits and ordinary punctuation are
 *   escaped as in master files (RFC 1035 §5.1: `\.`, `\\`, `\DDD`), so a
 *   label holding a dot can never pass for two labels. Case is kept as sent;
 *   compare names with {@link sameName}. IDNs must be passed in as A-labels.
 * - Record data of the types this module knows is decoded into fields; any
 *   other type is kept as raw bytes (RFC 3597 §5) and encoded back unchanged.
 */

/** Resource record TYPE codes (RFC 1035 §3.2.2, RFC 3596 §2.1, RFC 6891 §6.1.1). */
export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  ANY: 255,
} as const;

/** The mnemonic of a known record type, such as `"MX"`. */
export type RRTypeName = keyof typeof RRType;

/** Resource record CLASS codes (RFC 1035 §3.2.4). */
export const RRClass = { IN: 1 } as const;

/** Response codes (RFC 1035 §4.1.1). */
export const Rcode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const;

/** Thrown for any message or name that cannot be decoded or encoded. */
export class DnsWireError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DnsWireError";
  }
}

/** The fixed 12-octet header (RFC 1035 §4.1.1, AD/CD from RFC 4035 §3.2). */
export interface DnsHeader {
  id: number;
  /** Set in responses. */
  qr: boolean;
  /** 0 for a standard query. */
  opcode: number;
  /** Authoritative answer. */
  aa: boolean;
  /** Truncated: the reply did not fit the UDP payload (RFC 1035 §4.2.1). */
  tc: boolean;
  /** Recursion desired. */
  rd: boolean;
  /** Recursion available. */
  ra: boolean;
  /** Authentic data (RFC 4035 §3.2.3). @default false */
  ad?: boolean;
  /** Checking disabled (RFC 4035 §3.2.2). @default false */
  cd?: boolean;
  /** The low 4 bits of the response code; see {@link fullRcode} for EDNS. */
  rcode: number;
}

/** One entry of the question section (RFC 1035 §4.1.2). */
export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

/** The start of authority fields (RFC 1035 §3.3.13). */
export interface SoaData {
  kind: "SOA";
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** Decoded RDATA, discriminated by `kind` (one per known type, `raw` for the rest). */
export type RecordData =
  | { kind: "A"; address: string }
  | { kind: "AAAA"; address: string }
  | { kind: "MX"; preference: number; exchange: string }
  /** RFC 2782; the target is never compressed on the wire. */
  | { kind: "SRV"; priority: number; weight: number; port: number; target: string }
  /** Each character-string of the record, decoded as UTF-8 (RFC 1035 §3.3.14). */
  | { kind: "TXT"; strings: string[] }
  | { kind: "CNAME"; cname: string }
  | { kind: "PTR"; ptrdname: string }
  | { kind: "NS"; nsdname: string }
  | SoaData
  | { kind: "raw"; bytes: Uint8Array };

/** A resource record (RFC 1035 §4.1.3); `type` is the numeric TYPE, `data` the decoded RDATA. */
export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  ttl: number;
  data: RecordData;
}

/** One EDNS option (RFC 6891 §6.1.2). */
export interface EdnsOption {
  code: number;
  data: Uint8Array;
}

/** The EDNS0 OPT pseudo-record, lifted out of the additional section (RFC 6891 §6.1). */
export interface EdnsInfo {
  /** The requestor's UDP payload size (the OPT record's CLASS). */
  udpSize: number;
  /** The upper 8 bits of the 12-bit response code. */
  extendedRcode: number;
  version: number;
  /** The DO bit (RFC 3225). */
  dnssecOk: boolean;
  options: EdnsOption[];
}

/** A whole DNS message. The OPT record, if any, is in `edns`, never in `additionals`. */
export interface DnsMessage {
  header: DnsHeader;
  questions: DnsQuestion[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
  edns?: EdnsInfo;
}

/** Options of {@link encodeMessage}. */
export interface EncodeOptions {
  /** Use compression pointers for repeated names (RFC 1035 §4.1.4). @default true */
  compress?: boolean;
}

/** Options of {@link encodeQuery}. */
export interface QueryEncodeOptions {
  /** Add an OPT record advertising this UDP payload size (RFC 6891 §6.2.5). */
  edns?: number;
  /** Ask for recursion. @default true */
  recursionDesired?: boolean;
}

/** RFC 1035 §2.3.4: a label holds at most 63 octets, a name at most 255 on the wire. */
const MAX_LABEL = 63;
const MAX_NAME = 255;
/** More pointers than a 255-octet name could ever need means a loop. */
const MAX_POINTERS = 127;
const HEADER_SIZE = 12;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** The mnemonic of a type code, or `TYPE<n>` for unknown ones (RFC 3597 §5). */
export function typeName(type: number): string {
  for (const [name, code] of Object.entries(RRType)) if (code === type) return name;
  return `TYPE${type}`;
}

/** Compares two names as DNS does: ASCII case-insensitive, a trailing dot ignored (RFC 4343). */
export function sameName(a: string, b: string): boolean {
  return normalizeName(a) === normalizeName(b);
}

/** Lower-cases a name (ASCII only) and drops one trailing dot, but not an escaped one. */
export function normalizeName(name: string): string {
  const lower = name.replace(/[A-Z]/g, (c) => c.toLowerCase());
  if (!lower.endsWith(".")) return lower;
  const backslashes = /\\*$/.exec(lower.slice(0, -1))![0].length;
  return backslashes % 2 === 0 ? lower.slice(0, -1) : lower;
}

/** The full 12-bit response code: the header's 4 bits plus EDNS's upper 8 (RFC 6891 §6.1.3). */
export function fullRcode(msg: DnsMessage): number {
  return ((msg.edns?.extendedRcode ?? 0) << 4) | msg.header.rcode;
}

// ---------------------------------------------------------------------------
// Addresses

/** Parses an IPv4 or IPv6 address into 4 or 16 octets; undefined if it is neither. */
export function parseIp(text: string): Uint8Array | undefined {
  return text.includes(":") ? parseIpv6(text) : parseIpv4(text);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(parts[i])) return undefined;
    const n = Number(parts[i]);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i];
      if (i === pieces.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        if (!v4) return undefined;
        out.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) {
        out.push(parseInt(p, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  const head = groups(halves[0]);
  const tail = halves.length === 2 ? groups(halves[1]) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Formats 4 octets as dotted quad, 16 as RFC 5952 §4 text (IPv4-mapped as `::ffff:a.b.c.d`). */
export function formatIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) throw new DnsWireError(`Cannot format address: ${bytes.length} octets`);
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // RFC 5952 §5: IPv4-mapped addresses keep their dotted tail.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${bytes.subarray(12).join(".")}`;
  }
  // RFC 5952 §4.2: shorten the longest run of two or more zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLen).join(":")}`;
}

// ---------------------------------------------------------------------------
// Names

/** Splits a dotted name into label octets, resolving `\.`, `\\` and `\DDD` escapes. */
function nameToLabels(name: string): Uint8Array[] {
  if (name === "" || name === ".") return [];
  const labels: Uint8Array[] = [];
  let current: number[] = [];
  let wire = 1;
  let endsWithDot = false;
  const finish = () => {
    if (current.length === 0) throw new DnsWireError(`Cannot encode name ${name}: empty label`);
    if (current.length > MAX_LABEL) {
      throw new DnsWireError(`Cannot encode name ${name}: label longer than ${MAX_LABEL} octets`);
    }
    wire += current.length + 1;
    labels.push(Uint8Array.from(current));
    current = [];
  };
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    endsWithDot = c === 0x2e;
    if (c === 0x2e) {
      finish();
    } else if (c === 0x5c) {
      const digits = /^[0-9]{3}/.exec(name.slice(i + 1));
      if (digits) {
        const value = Number(digits[0]);
        if (value > 255) throw new DnsWireError(`Cannot encode name ${name}: bad escape`);
        current.push(value);
        i += 3;
      } else if (i + 1 < name.length) {
        current.push(name.charCodeAt(++i));
        if (current[current.length - 1] > 0x7f) {
          throw new DnsWireError(`Cannot encode name ${name}: non-ASCII character`);
        }
      } else {
        throw new DnsWireError(`Cannot encode name ${name}: dangling backslash`);
      }
    } else if (c > 0x7f) {
      throw new DnsWireError(
        `Cannot encode name ${name}: non-ASCII character (pass IDNs as A-labels)`,
      );
    } else {
      current.push(c);
    }
  }
  // A trailing dot ends the name; otherwise what is left over is the last label.
  if (!endsWithDot) finish();
  if (wire > MAX_NAME) {
    throw new DnsWireError(`Cannot encode name ${name}: longer than ${MAX_NAME} octets`);
  }
  return labels;
}

/** Renders label octets as text, escaping what a master file would (RFC 1035 §5.1). */
function labelToText(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    if (b === 0x2e || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b > 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\${b.toString().padStart(3, "0")}`;
  }
  return out;
}

/** Checks that a name can be encoded; returns the problem, or undefined when it is fine. */
export function nameProblem(name: string): string | undefined {
  try {
    nameToLabels(name);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

// ---------------------------------------------------------------------------
// Encoding

/** A growing output buffer with name compression state. */
class Writer {
  #buf = new Uint8Array(512);
  #view = new DataView(this.#buf.buffer);
  length = 0;
  /** Offsets of name suffixes already written, keyed by their exact text. */
  #names = new Map<string, number>();

  constructor(readonly compress: boolean) {}

  #grow(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.length + n));
    next.set(this.#buf.subarray(0, this.length));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.#grow(1);
    this.#buf[this.length++] = v;
  }

  u16(v: number): void {
    this.#grow(2);
    this.#view.setUint16(this.length, v);
    this.length += 2;
  }

  u32(v: number): void {
    this.#grow(4);
    this.#view.setUint32(this.length, v >>> 0);
    this.length += 4;
  }

  bytes(b: Uint8Array): void {
    this.#grow(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }

  setU16(at: number, v: number): void {
    this.#view.setUint16(at, v);
  }

  /**
   * Writes a name; with `compress` (and `mayCompress`: RFC 3597 §4 keeps
   * names in newer types' data whole), a suffix seen before becomes a pointer
   * (RFC 1035 §4.1.4).
   */
  name(name: string, mayCompress = true): void {
    const labels = nameToLabels(name);
    for (let i = 0; i < labels.length; i++) {
      const key = labels.slice(i).map(labelToText).join(".");
      const seen = this.#names.get(key);
      if (this.compress && mayCompress && seen !== undefined) {
        this.u16(0xc000 | seen);
        return;
      }
      if (this.length < 0x4000 && seen === undefined) this.#names.set(key, this.length);
      this.u8(labels[i].length);
      this.bytes(labels[i]);
    }
    this.u8(0);
  }

  result(): Uint8Array {
    return this.#buf.slice(0, this.length);
  }
}

/** Character-strings are at most 255 octets (RFC 1035 §3.3). */
function writeCharacterString(w: Writer, text: string): void {
  const bytes = utf8.encode(text);
  if (bytes.length > 255) {
    throw new DnsWireError(`Cannot encode TXT string: ${bytes.length} octets exceeds 255`);
  }
  w.u8(bytes.length);
  w.bytes(bytes);
}

function writeAddress(w: Writer, address: string, octets: 4 | 16): void {
  const bytes = parseIp(address);
  if (!bytes || bytes.length !== octets) {
    throw new DnsWireError(
      `Cannot encode address: ${address} is not an IPv${octets === 4 ? 4 : 6} address`,
    );
  }
  w.bytes(bytes);
}

/** The type code each data kind must be encoded with. */
const KIND_TYPE: Record<Exclude<RecordData["kind"], "raw">, number> = {
  A: RRType.A,
  AAAA: RRType.AAAA,
  MX: RRType.MX,
  SRV: RRType.SRV,
  TXT: RRType.TXT,
  CNAME: RRType.CNAME,
  PTR: RRType.PTR,
  NS: RRType.NS,
  SOA: RRType.SOA,
};

function writeRecord(w: Writer, rr: ResourceRecord): void {
  const d = rr.data;
  if (rr.type === RRType.OPT) throw new DnsWireError("Cannot encode OPT record: use edns");
  if (d.kind !== "raw" && KIND_TYPE[d.kind] !== rr.type) {
    throw new DnsWireError(`Cannot encode record: type ${rr.type} does not match data ${d.kind}`);
  }
  w.name(rr.name);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lengthAt = w.length;
  w.u16(0);
  // RFC 3597 §4: only the RFC 1035 types may have compressed names in their RDATA.
  switch (d.kind) {
    case "A":
      writeAddress(w, d.address, 4);
      break;
    case "AAAA":
      writeAddress(w, d.address, 16);
      break;
    case "MX":
      w.u16(d.preference);
      w.name(d.exchange);
      break;
    case "SRV":
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      w.name(d.target, false);
      break;
    case "TXT":
      for (const s of d.strings) writeCharacterString(w, s);
      break;
    case "CNAME":
      w.name(d.cname);
      break;
    case "PTR":
      w.name(d.ptrdname);
      break;
    case "NS":
      w.name(d.nsdname);
      break;
    case "SOA":
      w.name(d.mname);
      w.name(d.rname);
      for (const n of [d.serial, d.refresh, d.retry, d.expire, d.minimum]) w.u32(n);
      break;
    case "raw":
      w.bytes(d.bytes);
      break;
  }
  const rdlength = w.length - lengthAt - 2;
  if (rdlength > 0xffff) throw new DnsWireError(`Cannot encode record: ${rdlength} octets of data`);
  w.setU16(lengthAt, rdlength);
}

/** Encodes a whole message (RFC 1035 §4.1); the OPT record from `edns` goes last. */
export function encodeMessage(msg: DnsMessage, options: EncodeOptions = {}): Uint8Array {
  const w = new Writer(options.compress ?? true);
  const h = msg.header;
  const opt = msg.edns;
  if (opt && (opt.extendedRcode > 0xff || opt.version > 0xff)) {
    throw new DnsWireError("Cannot encode OPT record: extended rcode or version above 255");
  }
  if (h.rcode > 0xf) {
    throw new DnsWireError(`Cannot encode header rcode ${h.rcode}: put bits above 4 in edns`);
  }
  w.u16(h.id & 0xffff);
  w.u16(
    (h.qr ? 0x8000 : 0) | ((h.opcode & 0xf) << 11) | (h.aa ? 0x0400 : 0) | (h.tc ? 0x0200 : 0) |
      (h.rd ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) | (h.ad ? 0x0020 : 0) | (h.cd ? 0x0010 : 0) |
      (h.rcode & 0xf),
  );
  w.u16(msg.questions.length);
  w.u16(msg.answers.length);
  w.u16(msg.authorities.length);
  w.u16(msg.additionals.length + (opt ? 1 : 0));
  for (const q of msg.questions) {
    w.name(q.name);
    w.u16(q.type);
    w.u16(q.class);
  }
  for (const rr of msg.answers) writeRecord(w, rr);
  for (const rr of msg.authorities) writeRecord(w, rr);
  for (const rr of msg.additionals) writeRecord(w, rr);
  if (opt) {
    // RFC 6891 §6.1.2-3: root owner, CLASS = UDP size, TTL = ext rcode | version | DO | Z.
    w.u8(0);
    w.u16(RRType.OPT);
    w.u16(opt.udpSize);
    w.u32((opt.extendedRcode << 24) | (opt.version << 16) | (opt.dnssecOk ? 0x8000 : 0));
    const lengthAt = w.length;
    w.u16(0);
    for (const o of opt.options) {
      w.u16(o.code);
      w.u16(o.data.length);
      w.bytes(o.data);
    }
    w.setU16(lengthAt, w.length - lengthAt - 2);
  }
  return w.result();
}

/** Encodes a standard query for one name and type, class IN (RFC 1035 §4.1). */
export function encodeQuery(
  id: number,
  name: string,
  type: number,
  options: QueryEncodeOptions = {},
): Uint8Array {
  const header: DnsHeader = {
    id,
    qr: false,
    opcode: 0,
    aa: false,
    tc: false,
    rd: options.recursionDesired ?? true,
    ra: false,
    rcode: 0,
  };
  const edns: EdnsInfo | undefined = options.edns === undefined ? undefined : {
    udpSize: options.edns,
    extendedRcode: 0,
    version: 0,
    dnssecOk: false,
    options: [],
  };
  return encodeMessage({
    header,
    questions: [{ name, type, class: RRClass.IN }],
    answers: [],
    authorities: [],
    additionals: [],
    edns,
  });
}

// ---------------------------------------------------------------------------
// Decoding

function fail(detail: string): never {
  throw new DnsWireError(`Cannot decode DNS message: ${detail}`);
}

/** A bounds-checked cursor over the message. */
class Reader {
  readonly view: DataView;
  pos = 0;

  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  need(n: number, end: number, what: string): void {
    if (this.pos + n > end) fail(`${what} runs past the end`);
  }

  u8(end: number, what: string): number {
    this.need(1, end, what);
    return this.buf[this.pos++];
  }

  u16(end: number, what: string): number {
    this.need(2, end, what);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(end: number, what: string): number {
    this.need(4, end, what);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  bytes(n: number, end: number, what: string): Uint8Array {
    this.need(n, end, what);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /**
   * Reads a possibly compressed name (RFC 1035 §4.1.4). The octets in place must
   * end before `end`; pointers may go anywhere in the message, but at most
   * {@link MAX_POINTERS} of them, and the expanded name stays within 255 octets.
   */
  name(end: number): string {
    const buf = this.buf;
    let pos = this.pos;
    let limit = end;
    let after = -1;
    let pointers = 0;
    let wire = 1;
    const labels: string[] = [];
    for (;;) {
      if (pos >= limit) fail("name runs past the end");
      const len = buf[pos];
      if (len === 0) {
        if (after < 0) after = pos + 1;
        break;
      }
      const tag = len & 0xc0;
      if (tag === 0xc0) {
        if (pos + 1 >= limit) fail("compression pointer runs past the end");
        const target = ((len & 0x3f) << 8) | buf[pos + 1];
        if (after < 0) after = pos + 2;
        if (++pointers > MAX_POINTERS) fail("too many compression pointers (a loop)");
        if (target >= buf.length) fail(`compression pointer to ${target} past the end`);
        pos = target;
        limit = buf.length;
        continue;
      }
      // RFC 1035 §4.1.4: 0x40 and 0x80 are reserved; as lengths they would exceed 63.
      if (tag !== 0) fail(`label length ${len} exceeds ${MAX_LABEL} octets`);
      wire += len + 1;
      if (wire > MAX_NAME) fail(`name exceeds ${MAX_NAME} octets`);
      if (pos + 1 + len > limit) fail("label runs past the end");
      labels.push(labelToText(buf.subarray(pos + 1, pos + 1 + len)));
      pos += 1 + len;
    }
    this.pos = after;
    return labels.join(".");
  }
}

function readRecordData(r: Reader, type: number, cls: number, end: number): RecordData {
  const length = end - r.pos;
  const what = "record data";
  let data: RecordData;
  switch (type) {
    case RRType.A:
    case RRType.AAAA: {
      const octets = type === RRType.A ? 4 : 16;
      if (cls !== RRClass.IN) return { kind: "raw", bytes: r.bytes(length, end, what) };
      if (length !== octets) fail(`${typeName(type)} record with ${length} octets of data`);
      const address = formatIp(r.bytes(octets, end, what));
      data = type === RRType.A ? { kind: "A", address } : { kind: "AAAA", address };
      break;
    }
    case RRType.MX: {
      const preference = r.u16(end, what);
      data = { kind: "MX", preference, exchange: r.name(end) };
      break;
    }
    case RRType.SRV: {
      const [priority, weight, port] = [0, 0, 0].map(() => r.u16(end, what));
      data = { kind: "SRV", priority, weight, port, target: r.name(end) };
      break;
    }
    case RRType.TXT: {
      const strings: string[] = [];
      while (r.pos < end) {
        const n = r.u8(end, what);
        strings.push(utf8Decoder.decode(r.bytes(n, end, "TXT character-string")));
      }
      data = { kind: "TXT", strings };
      break;
    }
    case RRType.CNAME:
      data = { kind: "CNAME", cname: r.name(end) };
      break;
    case RRType.PTR:
      data = { kind: "PTR", ptrdname: r.name(end) };
      break;
    case RRType.NS:
      data = { kind: "NS", nsdname: r.name(end) };
      break;
    case RRType.SOA: {
      const mname = r.name(end);
      const rname = r.name(end);
      const [serial, refresh, retry, expire, minimum] = [0, 0, 0, 0, 0].map(() => r.u32(end, what));
      data = { kind: "SOA", mname, rname, serial, refresh, retry, expire, minimum };
      break;
    }
    default:
      return { kind: "raw", bytes: r.bytes(length, end, what) };
  }
  if (r.pos !== end) fail(`${typeName(type)} record data shorter than its length`);
  return data;
}

function readEdns(r: Reader, cls: number, ttl: number, end: number): EdnsInfo {
  const options: EdnsOption[] = [];
  while (r.pos < end) {
    const code = r.u16(end, "EDNS option");
    const n = r.u16(end, "EDNS option");
    options.push({ code, data: r.bytes(n, end, "EDNS option") });
  }
  return {
    udpSize: cls,
    extendedRcode: ttl >>> 24,
    version: (ttl >>> 16) & 0xff,
    dnssecOk: (ttl & 0x8000) !== 0,
    options,
  };
}

/** Decodes a message; throws {@link DnsWireError} for anything malformed (RFC 1035 §4.1). */
export function decodeMessage(bytes: Uint8Array): DnsMessage {
  if (bytes.length < HEADER_SIZE) {
    fail(`${bytes.length} octets is shorter than the ${HEADER_SIZE}-octet header`);
  }
  const r = new Reader(bytes);
  const total = bytes.length;
  const id = r.u16(total, "header");
  const flags = r.u16(total, "header");
  const header: DnsHeader = {
    id,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    ad: (flags & 0x0020) !== 0,
    cd: (flags & 0x0010) !== 0,
    rcode: flags & 0xf,
  };
  const counts = [0, 0, 0, 0].map(() => r.u16(total, "header"));
  const msg: DnsMessage = { header, questions: [], answers: [], authorities: [], additionals: [] };
  for (let i = 0; i < counts[0]; i++) {
    const name = r.name(total);
    msg.questions.push({ name, type: r.u16(total, "question"), class: r.u16(total, "question") });
  }
  const sections = [msg.answers, msg.authorities, msg.additionals];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s + 1]; i++) {
      const name = r.name(total);
      const type = r.u16(total, "record header");
      const cls = r.u16(total, "record header");
      const ttl = r.u32(total, "record header");
      const rdlength = r.u16(total, "record header");
      const end = r.pos + rdlength;
      if (end > total) fail(`record data length ${rdlength} runs past the end`);
      if (type === RRType.OPT) {
        // RFC 6891 §6.1.1: one OPT, in the additional section, owned by the root.
        if (s !== 2) fail("OPT record outside the additional section");
        if (msg.edns) fail("more than one OPT record");
        if (name !== "") fail("OPT record not owned by the root");
        msg.edns = readEdns(r, cls, ttl, end);
        continue;
      }
      sections[s].push({ name, type, class: cls, ttl, data: readRecordData(r, type, cls, end) });
    }
  }
  return msg;
}
