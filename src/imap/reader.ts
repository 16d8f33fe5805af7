/**
 * Reads one complete IMAP command off a {@link Connection}: the command line
 * and every literal it announces (RFC 9051 §2.2.1, §4.3), with the caps a
 * server needs against a client that sends too much.
 *
 * Invariants:
 * - A synchronising literal (`{n}`) is read only after `onContinuation()`
 *   (the session writes "+ Ready for literal data"), exactly once per
 *   literal; a literal over the cap gets no continuation, so the client never
 *   sends it (RFC 9051 §4.3, RFC 7888 §4).
 * - A non-synchronising literal (`{n+}`, RFC 7888) is read without a
 *   continuation. One over the cap, or one sent when LITERAL+ is not on, is
 *   still on its way: it is discarded as it streams in, never held, and so is
 *   the rest of the command, so its bytes are never taken for commands.
 * - At most `maxLine` octets of a line and `maxCommand` octets of a whole
 *   command are held; an over-long line is read to its end and dropped.
 * - End of input anywhere, even inside a literal, gives null: the partial
 *   command is dropped.
 */
import { type Connection, ConnectionClosed } from "../net/connection.ts";
import { isTagChar } from "./parse.ts";

/** A command as read: text (UTF-8 decoded) alternating with literal bytes. */
export interface CommandParts {
  /**
   * `parts[0]`, `parts[2]`, ... are the text of the command line and of the
   * continuations after each literal, without CRLF; a text part followed by
   * a literal still ends in its marker (`{5}`, `{5+}`, `~{5}`). `parts[1]`,
   * `parts[3]`, ... are the literals' bytes. The last part is always text.
   */
  parts: (string | Uint8Array)[];
}

/** A line was longer than `maxLine` (or the command longer than `maxCommand`): answer BAD. */
export interface CommandTooLong {
  tooLong: true;
  /** The command's tag, when the start of the line held a valid one. */
  tag?: string;
}

/**
 * A literal larger than `maxLiteral` (or than what is left of `maxCommand`):
 * answer `NO [TOOBIG]` (or BAD). A synchronising one was not sent by the
 * client; a non-synchronising one has been read and discarded.
 */
export interface LiteralTooLarge {
  literalTooLarge: true;
  tag?: string;
  /** The size the client announced. */
  size: number;
}

/** A non-synchronising literal although LITERAL+ is off: read, discarded, answer BAD. */
export interface LiteralPlusRefused {
  literalPlusRefused: true;
  tag?: string;
  size: number;
}

/** What {@link readCommand} returns: a command to parse, or why there is none. */
export type RawCommand = CommandParts | CommandTooLong | LiteralTooLarge | LiteralPlusRefused;

/** Options of {@link readCommand}. */
export interface ReadCommandOptions {
  /** Longest line (each part between literals), in octets, CRLF excluded. */
  maxLine: number;
  /** Largest literal, in octets (the APPENDLIMIT). */
  maxLiteral: number;
  /** Accept non-synchronising literals `{n+}` (LITERAL+ advertised, RFC 7888). */
  literalPlus: boolean;
  /** Called before a synchronising literal is read: writes the "+" continuation. */
  onContinuation: () => Promise<void>;
  /**
   * Largest whole command, lines and literals together, in octets.
   * @default maxLiteral + 65536
   */
  maxCommand?: number;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
/** Octets of an over-long line kept at its end, enough for any literal marker. */
const TAIL = 64;
const SLACK = 64 * 1024;
const decoder = new TextDecoder();
// RFC 9051 §9: literal = "{" number64 ["+"] "}" CRLF; literal8 = "~{" number64 ["+"] "}" CRLF.
const MARKER = /~?\{(\d+)(\+?)\}$/;

/**
 * Reads one command with its literals. Returns null at end of input; throws
 * what the connection throws (timeout, shutdown while waiting for a command).
 */
export async function readCommand(
  conn: Connection,
  options: ReadCommandOptions,
): Promise<RawCommand | null> {
  const maxCommand = options.maxCommand ?? options.maxLiteral + SLACK;
  const parts: (string | Uint8Array)[] = [];
  let total = 0;
  let tag: string | undefined;
  for (let first = true;; first = false) {
    const line = await readLine(
      conn,
      Math.max(0, Math.min(options.maxLine, maxCommand - total)),
      first,
    );
    if (line === null) return null;
    if (first) tag = tagOf(line.bytes, line.tooLong);
    const marker = markerOf(line.tail);
    if (line.tooLong) return await drain(conn, marker, { tooLong: true, tag });
    total += line.bytes.length + 2;
    parts.push(decoder.decode(line.bytes));
    if (marker === null) return { parts };
    const size = marker.size;
    if (marker.nonSync && !options.literalPlus) {
      return await drain(conn, marker, { literalPlusRefused: true, tag, size });
    }
    if (size > options.maxLiteral || total + size > maxCommand) {
      return await drain(conn, marker, { literalTooLarge: true, tag, size });
    }
    if (!marker.nonSync) await options.onContinuation();
    const bytes = await readBytes(conn, size);
    if (bytes === null) return null;
    parts.push(bytes);
    total += size;
  }
}

/** A literal marker at the end of a line. */
interface Marker {
  size: number;
  nonSync: boolean;
}

/** The literal marker `line` ends with, or null. */
function markerOf(tail: Uint8Array): Marker | null {
  let text = "";
  for (const b of tail) text += String.fromCharCode(b);
  const m = MARKER.exec(text);
  return m === null ? null : { size: Number(m[1]), nonSync: m[2] === "+" };
}

/**
 * After a refusal: discards what the client sends anyway, that is every
 * non-synchronising literal and the line after it, until a line ends without
 * a marker or with a synchronising one (the client waits for a continuation
 * that will not come). Returns `result`, or null at end of input.
 */
async function drain<T extends RawCommand>(
  conn: Connection,
  marker: Marker | null,
  result: T,
): Promise<T | null> {
  while (marker !== null && marker.nonSync) {
    if (!await discard(conn, marker.size)) return null;
    const line = await readLine(conn, 0, false);
    if (line === null) return null;
    marker = markerOf(line.tail);
  }
  return result;
}

/** A line as read by {@link readLine}. */
interface RawLine {
  /** The line without terminator; only its first `max` octets when `tooLong`. */
  bytes: Uint8Array;
  tooLong: boolean;
  /** The last octets of the whole line (at most {@link TAIL}). */
  tail: Uint8Array;
}

/**
 * Reads a line ending in CRLF or a bare LF. An over-long line is read to its
 * end without holding it: its first `max` octets and its last few are kept.
 * Only the wait for the first octet of a command counts as between commands.
 */
async function readLine(conn: Connection, max: number, first: boolean): Promise<RawLine | null> {
  let scanned = 0;
  let head: Uint8Array | undefined;
  let tail: Uint8Array = new Uint8Array(0);
  let started = false;
  for (;;) {
    const view = conn.peek();
    const lf = view.indexOf(LF, scanned);
    if (lf >= 0) {
      const end = lf > 0 && view[lf - 1] === CR ? lf - 1 : lf;
      const body = view.subarray(0, end);
      const tooLong = head !== undefined || body.length > max;
      const bytes = head ?? body.slice(0, Math.min(body.length, max));
      tail = keepTail(tail, body);
      conn.consume(lf + 1);
      return { bytes, tooLong, tail };
    }
    if (view.length > 0) started = true;
    if (view.length > max + 1 || (head !== undefined && view.length > 1)) {
      head ??= view.slice(0, max);
      // Keep the last octet: it may be the CR of a CRLF split across reads.
      tail = keepTail(tail, view.subarray(0, view.length - 1));
      conn.consume(view.length - 1);
      scanned = 1;
    } else {
      scanned = view.length;
    }
    if (!await conn.fill({ betweenCommands: first && !started })) return null;
  }
}

/** The last {@link TAIL} octets of `tail` followed by `more`. */
function keepTail(tail: Uint8Array, more: Uint8Array): Uint8Array {
  if (more.length >= TAIL) return more.slice(more.length - TAIL);
  const keep = Math.min(tail.length, TAIL - more.length);
  const out = new Uint8Array(keep + more.length);
  out.set(tail.subarray(tail.length - keep));
  out.set(more, keep);
  return out;
}

/** Reads exactly `n` octets, or null at end of input. */
async function readBytes(conn: Connection, n: number): Promise<Uint8Array | null> {
  try {
    return await conn.readExact(n);
  } catch (err) {
    if (err instanceof ConnectionClosed) return null;
    throw err;
  }
}

/** Reads and drops `n` octets as they arrive; false at end of input. */
async function discard(conn: Connection, n: number): Promise<boolean> {
  let left = n;
  while (left > 0) {
    const take = Math.min(conn.peek().length, left);
    conn.consume(take);
    left -= take;
    if (left > 0 && !await conn.fill()) return false;
  }
  return true;
}

/**
 * The tag at the start of a line (RFC 9051 §9: tag = 1*<any ASTRING-CHAR
 * except "+">), when it is valid and complete; `truncated`: the line was cut,
 * so a tag must end in a space within what is left.
 */
function tagOf(line: Uint8Array, truncated: boolean): string | undefined {
  let end = line.indexOf(SP);
  if (end < 0) {
    if (truncated) return undefined;
    end = line.length;
  }
  if (end === 0) return undefined;
  let tag = "";
  for (let i = 0; i < end; i++) {
    const c = String.fromCharCode(line[i]);
    if (!isTagChar(c)) return undefined;
    tag += c;
  }
  return tag;
}
