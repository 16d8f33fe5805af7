/**
 * Writing mboxrd, the mbox variant that quotes reversibly (qmail's mbox(5);
 * the Library of Congress format description fdd000385). A mailbox is a
 * sequence of entries; each is a "From " separator line, the message with LF
 * line ends, and one empty line. A message line that matches `/^>*From /`
 * gets one more ">", so a reader of mboxrd takes exactly one ">" away from
 * such lines and gets every message back byte for byte (less the CR of its
 * CRLFs). Readers of the older mboxo take nothing away; what they see is the
 * quoted line, which is also what mboxo writers produce for a plain "From ".
 *
 * Invariants:
 * - The message is handled as bytes and never decoded: 8-bit bytes of any
 *   charset pass through unchanged.
 * - Only a CR immediately before an LF is dropped; a bare CR stays.
 * - An entry holds exactly one line beginning with "From ": its first.
 */

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
/** "From " as bytes. */
const FROM_ = [0x46, 0x72, 0x6f, 0x6d, 0x20];

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** What may not appear in the sender part of a From line: it would end the line or the field. */
const NOT_IN_SENDER = /[\s\p{Cc}]/gu;

const encoder = new TextEncoder();

/**
 * The "From " separator line for a message: `From SENDER DATE\n`, with the
 * envelope sender (`MAILER-DAEMON` for the null sender `""`, and any
 * whitespace or control character in it replaced by `_` so that the line
 * stays one line of three fields) and the date in asctime format
 * `Thu Dec  3 09:05:57 2026`, in UTC. Throws RangeError for an invalid date.
 */
export function mboxFromLine(sender: string, date: Date): string {
  if (Number.isNaN(date.getTime())) {
    throw new RangeError("Cannot write an mbox From line: invalid date");
  }
  // RFC 5321 §4.5.5: the null reverse-path of bounces; MAILER-DAEMON is the traditional stand-in.
  const who = sender === "" ? "MAILER-DAEMON" : sender.replace(NOT_IN_SENDER, "_");
  return `From ${who} ${asctime(date)}\n`;
}

/** `date` as C's asctime() writes it, in UTC: `Thu Dec  3 09:05:57 2026` (the day padded with a space). */
function asctime(date: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  const weekday = DAYS[date.getUTCDay()];
  const month = MONTHS[date.getUTCMonth()];
  const day = String(date.getUTCDate()).padStart(2, " ");
  const time = [date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()].map(two).join(":");
  return `${weekday} ${month} ${day} ${time} ${date.getUTCFullYear()}`;
}

/**
 * One message as an mboxrd entry: the {@link mboxFromLine}, the message with
 * CRLF turned into LF, every line matching `/^>*From /` given one more ">",
 * a final newline added when the last line has none, then one empty line.
 * An empty message has no lines, so its entry is the From line and the
 * empty line. Works on bytes: the message is never decoded.
 */
export function mboxrdEntry(message: Uint8Array, sender: string, date: Date): Uint8Array {
  const from = encoder.encode(mboxFromLine(sender, date));
  // Two passes over the lines, one to size the output and one to fill it, so a large
  // message is copied once and no intermediate list of lines is kept.
  let size = from.length + 1;
  forEachLine(message, (start, end, quote) => size += (quote ? 1 : 0) + (end - start) + 1);
  const out = new Uint8Array(size);
  out.set(from);
  let at = from.length;
  forEachLine(message, (start, end, quote) => {
    if (quote) out[at++] = GT;
    out.set(message.subarray(start, end), at);
    at += end - start;
    out[at++] = LF;
  });
  out[at] = LF;
  return out;
}

/**
 * Calls `visit` with each line of `message`: its content from `start` to
 * `end` (without the LF, and without the CR of a CRLF) and whether it needs
 * one more ">". A last line without LF is a line; an empty message has none.
 */
function forEachLine(
  message: Uint8Array,
  visit: (start: number, end: number, quote: boolean) => void,
): void {
  let start = 0;
  while (start < message.length) {
    let lf = message.indexOf(LF, start);
    if (lf < 0) lf = message.length;
    const end = lf < message.length && lf > start && message[lf - 1] === CR ? lf - 1 : lf;
    visit(start, end, isFromLine(message, start, end));
    start = lf + 1;
  }
}

/** True when the line from `start` to `end` matches `/^>*From /`. */
function isFromLine(message: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && message[i] === GT) i++;
  if (end - i < FROM_.length) return false;
  return FROM_.every((byte, k) => message[i + k] === byte);
}
