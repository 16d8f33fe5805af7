/**
 * What importing needs to know of one message from an mbox or a Maildir:
 * whether it is a message at all, its line ends made CRLF, the key that
 * finds it again (for an import that must not add what is already there),
 * and a date for it when its source gives none.
 */
import { headerSection, headerValue } from "./headers.ts";
import { parseRfc5322Date } from "./mbox_reader.ts";

const encoder = new TextEncoder();
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;
const DOT = 0x2e;

/** Whether the bytes from `start` to `end` begin with `>From ` (an mbox quoting left in a header). */
function isQuotedFromLine(m: Uint8Array, start: number, end: number): boolean {
  const text = ">From ";
  if (end - start < text.length) return false;
  for (let k = 0; k < text.length; k++) if (m[start + k] !== text.charCodeAt(k)) return false;
  return true;
}

/** Whether the line from `start` to `end` is a header field's first line: a name, then ":". */
function isFieldLine(m: Uint8Array, start: number, end: number): boolean {
  let i = start;
  // RFC 5322 §3.6.8 ftext: printable US-ASCII but ":"; obsolete syntax allows white space before it.
  while (i < end && m[i] > SP && m[i] < 0x7f && m[i] !== COLON) i++;
  if (i === start) return false;
  while (i < end && (m[i] === SP || m[i] === HT)) i++;
  return i < end && m[i] === COLON;
}

/**
 * Why `message` is not a message, or undefined when it is one: its header
 * (the lines up to the first empty line, or all of them when there is none)
 * must be header fields and their continuation lines. Text without a header
 * (a line that is no field before any empty line, so there is no separator
 * between header and body) and NUL bytes in the header are what it finds.
 * An empty message, a header without body and a body after an empty header
 * pass.
 */
export function brokenReason(message: Uint8Array): string | undefined {
  let pos = 0;
  let line = 0;
  while (pos < message.length) {
    const lf = message.indexOf(LF, pos);
    const next = lf < 0 ? message.length : lf + 1;
    let end = lf < 0 ? message.length : lf;
    if (end > pos && message[end - 1] === CR) end--;
    if (end === pos) return undefined; // the empty line that ends the header
    line++;
    const nul = message.subarray(pos, end).indexOf(0);
    if (nul >= 0) return `a NUL byte in header line ${line}`;
    const first = message[pos];
    if (first === SP || first === HT) {
      if (line === 1) return "it begins with white space instead of a header field";
    } else if (!isFieldLine(message, pos, end) && !isQuotedFromLine(message, pos, end)) {
      return `line ${line} is neither a header field nor the empty line that ends the header`;
    }
    pos = next;
  }
  return undefined;
}

/** The message with every LF that has no CR before it made CRLF (a lone CR stays); the same bytes when none. */
export function toCrlf(message: Uint8Array): Uint8Array {
  let bare = 0;
  for (let i = message.indexOf(LF); i >= 0; i = message.indexOf(LF, i + 1)) {
    if (i === 0 || message[i - 1] !== CR) bare++;
  }
  if (bare === 0) return message;
  const out = new Uint8Array(message.length + bare);
  let o = 0;
  let from = 0;
  for (let i = message.indexOf(LF); i >= 0; i = message.indexOf(LF, i + 1)) {
    if (i > 0 && message[i - 1] === CR) continue;
    out.set(message.subarray(from, i), o);
    o += i - from;
    out[o++] = CR;
    out[o++] = LF;
    from = i + 1;
  }
  out.set(message.subarray(from), o);
  return out;
}

/** Whether some line of the message starts with "." (POP3 must dot-stuff it). */
export function hasDotLines(message: Uint8Array): boolean {
  for (let i = message.indexOf(DOT); i >= 0; i = message.indexOf(DOT, i + 1)) {
    if (i === 0 || message[i - 1] === LF) return true;
  }
  return false;
}

/** The size of a message's body: what follows its header and the empty line after it. */
export function bodySize(message: Uint8Array): number {
  return message.length - headerSection(message).length;
}

/**
 * The key that says two messages are the same for an import: the
 * Message-ID and the body, so that bookkeeping fields a mail program added
 * to the header (Status, X-UID, ...) do not make a copy look new; for a
 * message without Message-ID, the whole message. It is a SHA-256 of those
 * (32 bytes), so a key costs the same memory for any message. (WebCrypto's,
 * not node:crypto's createHash, whose native hash objects pile up until the
 * garbage collector finalizes them: over thousands of messages, RSS grew.)
 */
export async function duplicateKey(message: Uint8Array): Promise<Uint8Array> {
  const id = headerValue(message, "Message-ID")?.replace(/\s+/g, "");
  const hashed = id ? message.subarray(headerSection(message).length) : message;
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", hashed as Uint8Array<ArrayBuffer>),
  );
  const label = encoder.encode(id ? `id\0${id}\0` : "raw\0");
  const keyed = new Uint8Array(label.length + digest.length);
  keyed.set(label);
  keyed.set(digest, label.length);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", keyed));
}

/** The date of the message's Date field, when it has one that parses. */
export function headerDate(message: Uint8Array): Date | undefined {
  const value = headerValue(message, "Date");
  return value === undefined ? undefined : parseRfc5322Date(value);
}
