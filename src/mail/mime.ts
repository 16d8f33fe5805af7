/**
 * The MIME structure of a raw message as byte offsets (RFC 2045, RFC 2046, RFC 2231).
 *
 * IMAP FETCH answers BODY[1.2], BODY[1.MIME] or BODY[2.HEADER] with slices of
 * the stored message, so it needs to know where each part's header and body
 * start and end in the raw bytes. No maintained library gives byte offsets of
 * MIME parts (postal-mime, mailparser and friends decode the content and drop
 * the positions), so this parser is ours. Where RFC 2046 leaves room it does
 * what Dovecot does, so that our BODYSTRUCTURE agrees with a server every
 * client has met: a boundary matches as a line prefix and the longest active
 * one wins; the line break before a boundary belongs to the boundary; a header
 * cut short by a boundary ends there; a missing close delimiter ends the part
 * at an enclosing boundary or at the end of the message.
 *
 * Invariants:
 * - parseMime() never throws: malformed input gives some structure, at worst
 *   one text/plain part covering the message.
 * - Every range satisfies 0 <= start <= end <= message.length; a part's body
 *   starts where its header ends; children lie inside their parent's body, in
 *   order, without overlapping.
 * - Nesting stops at MAX_NESTING levels and MAX_PARTS parts; a multipart or
 *   message part that is not opened because of that is marked `truncated`.
 */

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

/** Levels of multipart/message nesting that are opened (Dovecot's `max_nested_mime_parts`). */
export const MAX_NESTING = 100;
/** Parts created at most in one message (Dovecot's `max_total_mime_parts`). */
export const MAX_PARTS = 10000;

/** A byte range `[start, end)` into the message. */
export interface ByteRange {
  start: number;
  end: number;
}

/** One parameter as written (RFC 2045 §5.1): the name lower-cased, with RFC 2231 markers kept. */
export interface MimeParam {
  /** Lower-cased, e.g. `charset`, `filename*`, `title*1*`. */
  name: string;
  /** Unquoted, not decoded (RFC 2231 percent-encoding and charset prefixes stay). */
  value: string;
}

/** A parsed Content-Type (RFC 2045 §5.1). */
export interface ContentType {
  /** Lower-cased, e.g. `text`. */
  type: string;
  /** Lower-cased, e.g. `plain`. */
  subtype: string;
  /**
   * Parameters decoded (RFC 2231 §3-§5): names lower-cased without `*`
   * markers, continuations joined, charsets decoded to UTF-8; the first
   * plain occurrence wins, an RFC 2231 form wins over a plain one.
   */
  params: Map<string, string>;
  /** The parameters as written, in order. */
  rawParams: MimeParam[];
}

/** A parsed Content-Disposition (RFC 2183). */
export interface ContentDisposition {
  /** Lower-cased, e.g. `attachment`; may be empty when the field has only parameters. */
  type: string;
  /** Decoded as in {@linkcode ContentType.params}. */
  params: Map<string, string>;
  /** The parameters as written, in order. */
  rawParams: MimeParam[];
}

/** One MIME entity: a message, a body part of a multipart, or a message inside a message/rfc822 part. */
export interface MimePart {
  /**
   * The header: the message header for a message, the MIME header for a body
   * part; with the blank line that ends it, when there is one.
   */
  header: ByteRange;
  /** The body, up to (not including) the line break before the next boundary. */
  body: ByteRange;
  /**
   * The Content-Type; without one text/plain; charset=us-ascii, or
   * message/rfc822 directly inside multipart/digest (RFC 2046 §5.1.5); when
   * unparseable text/plain; charset=us-ascii (RFC 2045 §5.2).
   */
  contentType: ContentType;
  /** Content-Transfer-Encoding, lower-cased; `7bit` by default (RFC 2045 §6.1). */
  encoding: string;
  /** Content-ID (RFC 2045 §7), as written. */
  id?: string;
  /** Content-Description (RFC 2045 §8), as written (RFC 2047 words not decoded). */
  description?: string;
  /** Content-Disposition (RFC 2183). */
  disposition?: ContentDisposition;
  /** Content-Language tags (RFC 3282). */
  language?: string[];
  /** Content-Location (RFC 2557), as written. */
  location?: string;
  /** Content-MD5 (RFC 1864), as written. */
  md5?: string;
  /** Size of the body in octets. */
  octets: number;
  /** Lines of the body: the number of LF characters in it. */
  lines: number;
  /** multipart/*: the body parts; empty when the boundary is missing or never found. */
  parts?: MimePart[];
  /** message/rfc822 and message/global: the encapsulated message. */
  message?: MimePart;
  /** A multipart or message part left unopened because of MAX_NESTING or MAX_PARTS. */
  truncated?: boolean;
}

/** One header field with its place in the message (RFC 5322 §2.2). */
export interface HeaderField {
  /** The name as written, without trailing white space (the whole line when it has no colon). */
  name: string;
  /**
   * The value, unfolded: line breaks removed, the white space after them kept,
   * the white space after the colon dropped (all of it, or one character when
   * the value is nothing but white space). Bytes read as UTF-8.
   */
  value: string;
  /** Whether the first line had a colon; lines without one are kept, as fields without value. */
  colon: boolean;
  /** The field's bytes, from its name to the line break that ends its last line (included). */
  start: number;
  end: number;
}

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

/**
 * Bytes as text, as UTF-8 (invalid sequences become U+FFFD; ASCII is the same
 * either way). TextDecoder throughout: building ASCII strings by hand with
 * String.fromCharCode(...bytes) was 25 times slower and a third of tokenizing.
 */
export function decodeText(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** The fields of a header section (RFC 5322 §2.2): each with its continuation lines. */
export function splitHeader(message: Uint8Array, range: ByteRange): HeaderField[] {
  const fields: HeaderField[] = [];
  const end = Math.min(range.end, message.length);
  let pos = Math.max(0, range.start);
  while (pos < end) {
    // A blank line ends the header section.
    if (message[pos] === LF || (message[pos] === CR && message[pos + 1] === LF && pos + 1 < end)) {
      break;
    }
    const start = pos;
    let lineEnd = lineEndOf(message, pos, end);
    const lines: [number, number][] = [[pos, contentEnd(message, pos, lineEnd)]];
    pos = lineEnd;
    // Continuation lines start with white space (RFC 5322 §2.2.3).
    while (pos < end && (message[pos] === 0x20 || message[pos] === 0x09)) {
      lineEnd = lineEndOf(message, pos, end);
      lines.push([pos, contentEnd(message, pos, lineEnd)]);
      pos = lineEnd;
    }
    fields.push(fieldOf(message, start, pos, lines));
  }
  return fields;
}

function lineEndOf(message: Uint8Array, pos: number, end: number): number {
  const nl = message.indexOf(LF, pos);
  return nl < 0 || nl >= end ? end : nl + 1;
}

/** Where a line's content ends: before its LF or CRLF. */
function contentEnd(message: Uint8Array, start: number, lineEnd: number): number {
  let e = lineEnd;
  if (e > start && message[e - 1] === LF) {
    e--;
    if (e > start && message[e - 1] === CR) e--;
  }
  return e;
}

function fieldOf(
  message: Uint8Array,
  start: number,
  end: number,
  lines: [number, number][],
): HeaderField {
  const [first, firstEnd] = lines[0];
  const colonAt = message.subarray(first, firstEnd).indexOf(0x3a);
  if (colonAt < 0) {
    return {
      name: decodeText(message.subarray(first, firstEnd)),
      value: "",
      colon: false,
      start,
      end,
    };
  }
  let nameEnd = first + colonAt;
  while (nameEnd > first && (message[nameEnd - 1] === 0x20 || message[nameEnd - 1] === 0x09)) {
    nameEnd--;
  }
  let valueStart = first + colonAt + 1;
  let v = valueStart;
  while (v < firstEnd && (message[v] === 0x20 || message[v] === 0x09)) v++;
  if (v < firstEnd) valueStart = v;
  else if (valueStart < firstEnd) valueStart++; // only white space: drop one character, as Dovecot
  let value = decodeText(message.subarray(valueStart, firstEnd));
  for (let i = 1; i < lines.length; i++) {
    value += decodeText(message.subarray(lines[i][0], lines[i][1]));
  }
  return {
    name: decodeText(message.subarray(first, nameEnd)),
    value,
    colon: true,
    start,
    end,
  };
}

/** Where a scan stopped: at a boundary line of level `level` of the stack, or at the end (`level` -1). */
interface Stop {
  at: number;
  level: number;
  close: boolean;
}

interface Context {
  message: Uint8Array;
  /** Positions of all LF characters, ascending. */
  lf: Uint32Array;
  /** Active boundaries, outermost first, as bytes without the leading `--`. */
  stack: Uint8Array[];
  parts: number;
}

/**
 * The MIME structure of `message`: the root is the message itself; multiparts
 * have `parts`, message/rfc822 and message/global parts have `message`.
 */
export function parseMime(message: Uint8Array): MimePart {
  try {
    const ctx: Context = { message, lf: lineFeeds(message), stack: [], parts: 0 };
    return parsePart(ctx, 0, 0, false).part;
  } catch {
    // Not expected; the last line of defence for the "never throws" promise.
    return fallbackPart(message);
  }
}

function lineFeeds(message: Uint8Array): Uint32Array {
  let count = 0;
  for (let i = message.indexOf(LF); i >= 0; i = message.indexOf(LF, i + 1)) count++;
  const lf = new Uint32Array(count);
  let n = 0;
  for (let i = message.indexOf(LF); i >= 0; i = message.indexOf(LF, i + 1)) lf[n++] = i;
  return lf;
}

/** Index of the first entry of `lf` that is >= pos. */
function lowerBound(lf: Uint32Array, pos: number): number {
  let lo = 0;
  let hi = lf.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (lf[mid] < pos) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function countLines(ctx: Context, range: ByteRange): number {
  return lowerBound(ctx.lf, range.end) - lowerBound(ctx.lf, range.start);
}

/** The start of the line after the one containing `pos`. */
function nextLine(ctx: Context, pos: number): number {
  const i = lowerBound(ctx.lf, pos);
  return i < ctx.lf.length ? ctx.lf[i] + 1 : ctx.message.length;
}

/**
 * The boundary that the line at `pos` opens, if any. RFC 2046 §5.1.1: a
 * boundary line is `--` boundary; like Dovecot we match it as a prefix of the
 * line, and the longest matching active boundary wins (the innermost on ties).
 */
function boundaryAt(ctx: Context, pos: number): Stop | undefined {
  const m = ctx.message;
  if (m[pos] !== DASH || m[pos + 1] !== DASH) return undefined;
  let best = -1;
  for (let level = ctx.stack.length - 1; level >= 0; level--) {
    const b = ctx.stack[level];
    if (best >= 0 && b.length <= ctx.stack[best].length) continue;
    if (pos + 2 + b.length > m.length) continue;
    let same = true;
    for (let i = 0; i < b.length; i++) {
      if (m[pos + 2 + i] !== b[i]) {
        same = false;
        break;
      }
    }
    if (same) best = level;
  }
  if (best < 0) return undefined;
  const after = pos + 2 + ctx.stack[best].length;
  return { at: pos, level: best, close: m[after] === DASH && m[after + 1] === DASH };
}

/** The first boundary line at or after the line start `from`, or the end of the message. */
function nextBoundary(ctx: Context, from: number): Stop {
  const end: Stop = { at: ctx.message.length, level: -1, close: false };
  if (ctx.stack.length === 0) return end;
  let pos = from;
  for (let i = lowerBound(ctx.lf, from); pos < ctx.message.length; i++) {
    const stop = boundaryAt(ctx, pos);
    if (stop) return stop;
    if (i >= ctx.lf.length) break;
    pos = ctx.lf[i] + 1;
  }
  return end;
}

/** Where a body that starts at `start` ends: before the line break that precedes the boundary. */
function bodyEnd(ctx: Context, start: number, stop: Stop): number {
  if (stop.level < 0) return ctx.message.length;
  let end = stop.at;
  if (end > start && ctx.message[end - 1] === LF) {
    end--;
    if (end > start && ctx.message[end - 1] === CR) end--;
  }
  return end;
}

/**
 * The header starting at `start`: up to and including the blank line
 * (`blank` is where that line starts), or up to a boundary line (the line
 * break before it then belongs to the boundary, and the body is empty), or to
 * the end of the message.
 */
function scanHeader(ctx: Context, start: number): { end: number; blank?: number; stop?: Stop } {
  const m = ctx.message;
  let pos = start;
  let lineBreak = 0;
  for (let i = lowerBound(ctx.lf, start);; i++) {
    if (pos >= m.length) return { end: m.length };
    if (ctx.stack.length > 0) {
      const stop = boundaryAt(ctx, pos);
      if (stop) return { end: pos - lineBreak, stop };
    }
    if (m[pos] === LF) return { end: pos + 1, blank: pos };
    if (m[pos] === CR && m[pos + 1] === LF) return { end: pos + 2, blank: pos };
    if (i >= ctx.lf.length) return { end: m.length };
    const nl = ctx.lf[i];
    lineBreak = nl > pos && m[nl - 1] === CR ? 2 : 1;
    pos = nl + 1;
  }
}

/** What parsing an entity found: the part, where it stopped, and how far its parent's body reaches. */
interface Parsed {
  part: MimePart;
  stop: Stop;
  /**
   * The end of the part's bytes as its parent counts them: the body's end,
   * or the boundary line itself when the header was cut short by it (the
   * line break before the boundary then belongs to the parent, as in Dovecot).
   */
  tail: number;
}

/**
 * One entity starting at `start`: a body part of a multipart (`inPart`), or
 * a message (the root, or the content of a message/rfc822 part).
 */
function parsePart(
  ctx: Context,
  start: number,
  depth: number,
  inDigest: boolean,
  inPart = false,
): Parsed {
  ctx.parts++;
  const head = scanHeader(ctx, start);
  const part: MimePart = {
    header: { start, end: head.end },
    body: { start: head.end, end: head.end },
    ...describe(splitHeader(ctx.message, { start, end: head.end }), inDigest, !inPart),
    octets: 0,
    lines: 0,
  };
  const { type, subtype } = part.contentType;
  const kind = type === "multipart"
    ? "multipart"
    : type === "message" && (subtype === "rfc822" || subtype === "global")
    ? "message"
    : "leaf";
  const canOpen = depth + 1 < MAX_NESTING && ctx.parts < MAX_PARTS;
  const boundaryText = kind === "multipart" ? part.contentType.params.get("boundary") : undefined;
  const boundary = boundaryText === undefined || boundaryText === "" || /[\r\n]/.test(boundaryText)
    ? undefined
    : utf8Encoder.encode(boundaryText);
  let cut = head.stop;
  if (!cut && head.blank !== undefined && ctx.stack.length > 0) {
    // A boundary right after the blank line takes that line as its line break
    // (Dovecot), unless it is the part's own first boundary.
    const own = kind === "multipart" && boundary && canOpen;
    if (own) ctx.stack.push(boundary);
    const next = boundaryAt(ctx, head.end);
    if (own) ctx.stack.pop();
    if (next && next.level < ctx.stack.length) {
      cut = next;
      part.header.end = head.blank;
    }
  }
  const bodyStart = part.header.end;
  part.body = { start: bodyStart, end: bodyStart };
  let stop: Stop;
  let inner = bodyStart; // how far the last child or the message inside reaches
  if (cut) {
    // The header was cut short by a boundary: nothing more belongs to this part.
    stop = cut;
    if (kind === "multipart") part.parts = [];
    if (kind === "message" && canOpen) {
      ctx.parts++;
      part.message = { ...emptyPart(bodyStart), ...describe([], false) };
    } else if (kind === "message") part.truncated = true;
  } else if (kind === "multipart") {
    if (!boundary) {
      part.parts = [];
      stop = nextBoundary(ctx, bodyStart);
    } else if (!canOpen) {
      part.truncated = true;
      stop = nextBoundary(ctx, bodyStart);
    } else {
      ({ stop, inner } = parseMultipart(ctx, part, boundary, depth, subtype === "digest"));
    }
  } else if (kind === "message") {
    if (canOpen) {
      const child = parsePart(ctx, bodyStart, depth + 1, false);
      part.message = child.part;
      stop = child.stop;
      inner = child.tail;
    } else {
      part.truncated = true;
      stop = nextBoundary(ctx, bodyStart);
    }
  } else {
    stop = nextBoundary(ctx, bodyStart);
  }
  part.body.end = Math.max(bodyEnd(ctx, bodyStart, stop), inner);
  part.octets = part.body.end - part.body.start;
  part.lines = countLines(ctx, part.body);
  return { part, stop, tail: cut ? cut.at : part.body.end };
}

/**
 * RFC 2046 §5.1: the preamble, the body parts between the delimiters, the
 * epilogue. Returns where the multipart stopped and, when an enclosing
 * boundary ended it, how far its last part reaches.
 */
function parseMultipart(
  ctx: Context,
  part: MimePart,
  boundary: Uint8Array,
  depth: number,
  digest: boolean,
): { stop: Stop; inner: number } {
  const level = ctx.stack.length;
  ctx.stack.push(boundary);
  const parts: MimePart[] = [];
  part.parts = parts;
  let stop = nextBoundary(ctx, part.body.start); // the preamble is ignored
  let inner = part.body.start;
  while (stop.level === level && !stop.close) {
    if (ctx.parts >= MAX_PARTS) {
      // No more parts: what is left is skipped like an epilogue.
      ctx.stack.length = level;
      return { stop: nextBoundary(ctx, nextLine(ctx, stop.at)), inner };
    }
    const child = parsePart(ctx, nextLine(ctx, stop.at), depth + 1, digest, true);
    parts.push(child.part);
    stop = child.stop;
    inner = child.tail;
  }
  ctx.stack.length = level;
  if (stop.level === level) {
    // The close delimiter: the epilogue runs to an enclosing boundary or the end.
    // The delimiter line keeps its own line break (Dovecot), so an empty
    // epilogue does not give it away to the enclosing boundary.
    const epilogue = nextLine(ctx, stop.at);
    return { stop: nextBoundary(ctx, epilogue), inner: epilogue };
  }
  // An enclosing boundary, or the end of the message, without our close delimiter.
  return { stop, inner };
}

function emptyPart(at: number): Pick<MimePart, "header" | "body" | "octets" | "lines"> {
  return { header: { start: at, end: at }, body: { start: at, end: at }, octets: 0, lines: 0 };
}

function fallbackPart(message: Uint8Array): MimePart {
  let end = message.length;
  for (let i = message.indexOf(LF); i >= 0; i = message.indexOf(LF, i + 1)) {
    if (message[i + 1] === LF) {
      end = i + 2;
      break;
    }
    if (message[i + 1] === CR && message[i + 2] === LF) {
      end = i + 3;
      break;
    }
  }
  if (message[0] === LF) end = 1;
  let lines = 0;
  for (let i = message.indexOf(LF, end); i >= 0; i = message.indexOf(LF, i + 1)) lines++;
  return {
    header: { start: 0, end },
    body: { start: end, end: message.length },
    ...describe([], false),
    octets: message.length - end,
    lines,
  };
}

type Description = Pick<
  MimePart,
  | "contentType"
  | "encoding"
  | "id"
  | "description"
  | "disposition"
  | "language"
  | "location"
  | "md5"
>;

/**
 * The Content-* fields of a header; the first of each kind counts. In a
 * message (not a body part) they count only with MIME-Version or Content-Type
 * present (RFC 2045 §4; Dovecot looks for either).
 */
function describe(fields: HeaderField[], inDigest: boolean, message = false): Description {
  const seen = new Set<string>();
  const d: Description = {
    contentType: inDigest ? mediaType("message", "rfc822", []) : textPlain(),
    encoding: "7bit",
  };
  if (
    message && !fields.some((f) => f.colon && /^(mime-version|content-type)$/i.test(f.name))
  ) {
    return d;
  }
  for (const field of fields) {
    const name = field.name.toLowerCase();
    if (!field.colon || !name.startsWith("content-") || seen.has(name)) continue;
    seen.add(name);
    switch (name) {
      case "content-type":
        d.contentType = parseContentType(field.value) ?? textPlain();
        break;
      case "content-transfer-encoding":
        d.encoding = parseEncoding(field.value);
        break;
      case "content-id":
        d.id = field.value;
        break;
      case "content-description":
        d.description = field.value;
        break;
      case "content-disposition":
        d.disposition = parseContentDisposition(field.value);
        break;
      case "content-language":
        d.language = parseLanguage(field.value);
        break;
      case "content-location":
        d.location = field.value;
        break;
      case "content-md5":
        d.md5 = field.value;
        break;
    }
  }
  return d;
}

function textPlain(): ContentType {
  return mediaType("text", "plain", [{ name: "charset", value: "us-ascii" }]);
}

function mediaType(type: string, subtype: string, rawParams: MimeParam[]): ContentType {
  return { type, subtype, rawParams, params: decodeParams(rawParams) };
}

// RFC 2045 §5.1: token := 1*<any (US-ASCII) CHAR except SPACE, CTLs, or tspecials>.
const TSPECIALS = '()<>@,;:\\"/[]?=';

function isTokenChar(c: string, allow8bit: boolean): boolean {
  const code = c.charCodeAt(0);
  if (code >= 0x80) return allow8bit;
  return code > 0x20 && code < 0x7f && !TSPECIALS.includes(c);
}

/** A small lexer for structured MIME field values (RFC 822 §3.3 with RFC 2045's tspecials). */
class Lexer {
  pos = 0;
  constructor(readonly text: string) {}

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  peek(): string {
    return this.text[this.pos] ?? "";
  }

  /** Skips white space and (nested) comments. */
  skipCfws(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos];
      if (c === " " || c === "\t" || c === "\r" || c === "\n") {
        this.pos++;
      } else if (c === "(") {
        let depth = 0;
        while (this.pos < t.length) {
          const d = t[this.pos++];
          if (d === "\\") this.pos++;
          else if (d === "(") depth++;
          else if (d === ")" && --depth === 0) break;
        }
      } else {
        break;
      }
    }
  }

  token(allow8bit = false): string {
    const start = this.pos;
    while (this.pos < this.text.length && isTokenChar(this.text[this.pos], allow8bit)) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** A quoted-string after its opening quote has been seen; unterminated ones run to the end. */
  quoted(): string {
    let out = "";
    this.pos++;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos++];
      if (c === '"') return out;
      if (c === "\\" && this.pos < this.text.length) out += this.text[this.pos++];
      else out += c;
    }
    return out;
  }

  skipPast(c: string): void {
    while (this.pos < this.text.length) {
      const d = this.text[this.pos];
      if (d === '"') this.quoted();
      else {
        this.pos++;
        if (d === c) return;
      }
    }
  }
}

/** RFC 2045 §5.1 `type "/" subtype *(";" parameter)`; undefined when type or subtype is not a token. */
export function parseContentType(value: string): ContentType | undefined {
  const lex = new Lexer(value);
  lex.skipCfws();
  const type = lex.token();
  lex.skipCfws();
  if (type === "" || lex.peek() !== "/") return undefined;
  lex.pos++;
  lex.skipCfws();
  const subtype = lex.token();
  if (subtype === "") return undefined;
  return mediaType(type.toLowerCase(), subtype.toLowerCase(), parseParams(lex));
}

/** RFC 2183 §2 `disposition-type *(";" disposition-parm)`; undefined for an empty field. */
export function parseContentDisposition(value: string): ContentDisposition | undefined {
  const lex = new Lexer(value);
  lex.skipCfws();
  if (lex.done) return undefined;
  const type = lex.token().toLowerCase();
  const rawParams = parseParams(lex);
  return { type, rawParams, params: decodeParams(rawParams) };
}

/** Parameters after the type (`;` name `=` value), skipping what cannot be read. */
function parseParams(lex: Lexer): MimeParam[] {
  const params: MimeParam[] = [];
  for (;;) {
    lex.skipCfws();
    if (lex.done) return params;
    if (lex.peek() !== ";") {
      lex.skipPast(";");
      continue;
    }
    lex.pos++;
    lex.skipCfws();
    const name = lex.token();
    lex.skipCfws();
    if (name === "" || lex.peek() !== "=") continue;
    lex.pos++;
    lex.skipCfws();
    // Values are tokens or quoted strings; raw 8-bit in tokens is common enough to accept.
    const value = lex.peek() === '"' ? lex.quoted() : lex.token(true);
    if (value === "" && lex.text[lex.pos - 1] !== '"') continue;
    params.push({ name: name.toLowerCase(), value });
  }
}

/** RFC 2045 §6.1: one token, lower-cased; `7bit` when absent or unreadable. */
function parseEncoding(value: string): string {
  const lex = new Lexer(value);
  lex.skipCfws();
  const token = lex.token().toLowerCase();
  lex.skipCfws();
  return token !== "" && lex.done ? token : "7bit";
}

/** RFC 3282 `1#Language-tag`, read as atoms separated by commas (as Dovecot does). */
function parseLanguage(value: string): string[] | undefined {
  const lex = new Lexer(value);
  const tags: string[] = [];
  for (;;) {
    lex.skipCfws();
    const start = lex.pos;
    while (!lex.done && /[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]/.test(lex.peek())) lex.pos++;
    if (lex.pos === start) break;
    tags.push(lex.text.slice(start, lex.pos));
    lex.skipCfws();
    if (lex.peek() !== ",") break;
    lex.pos++;
  }
  return tags.length > 0 ? tags : undefined;
}

/**
 * Decodes parameters (RFC 2231 §3-§5): `name*0`, `name*1*` ... continuations
 * are joined in order, extended (`*`) segments are percent-decoded and read in
 * the charset named by the first segment (UTF-8 when none or unknown).
 */
export function decodeParams(rawParams: MimeParam[]): Map<string, string> {
  const plain = new Map<string, string>();
  const segments = new Map<string, { index: number; extended: boolean; value: string }[]>();
  for (const { name, value } of rawParams) {
    const m = /^([^*]+)\*(?:(\d+)(\*?))?$/.exec(name);
    if (!m) {
      if (!plain.has(name)) plain.set(name, value);
      continue;
    }
    const list = segments.get(m[1]) ?? [];
    list.push({
      index: m[2] === undefined ? 0 : Number(m[2]),
      extended: m[2] === undefined || m[3] === "*",
      value,
    });
    segments.set(m[1], list);
  }
  const decoded = new Map(plain);
  for (const [name, list] of segments) {
    list.sort((a, b) => a.index - b.index);
    const bytes: number[] = [];
    let charset = "";
    list.forEach((segment, i) => {
      let value = segment.value;
      if (!segment.extended) {
        bytes.push(...utf8Encoder.encode(value));
        return;
      }
      if (i === 0) {
        // RFC 2231 §4: charset'language'value, on the first segment only.
        const q1 = value.indexOf("'");
        const q2 = q1 < 0 ? -1 : value.indexOf("'", q1 + 1);
        if (q2 >= 0) {
          charset = value.slice(0, q1);
          value = value.slice(q2 + 1);
        }
      }
      for (let j = 0; j < value.length; j++) {
        const hex = value[j] === "%" ? value.slice(j + 1, j + 3) : "";
        if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
          bytes.push(parseInt(hex, 16));
          j += 2;
        } else {
          bytes.push(...utf8Encoder.encode(value[j]));
        }
      }
    });
    decoded.set(name, decodeCharset(new Uint8Array(bytes), charset));
  }
  return decoded;
}

function decodeCharset(bytes: Uint8Array, charset: string): string {
  try {
    return new TextDecoder(charset || "utf-8").decode(bytes);
  } catch {
    return utf8.decode(bytes);
  }
}
