/**
 * Flags in an mbox: mbox has no place for them but the message's header,
 * where mutt, Dovecot and Python's `mailbox` keep them in `Status:` (R read,
 * O old) and `X-Status:` (A answered, F flagged, T draft, D deleted), and
 * Dovecot keeps keywords in `X-Keywords:`. These fields are the mailbox's
 * bookkeeping, not part of the message: export writes them at the end of the
 * header and import takes them out again, so a message comes back byte for
 * byte (a message that carried such a field of its own loses it).
 *
 * Flags are IMAP names here (`\Seen`, ...), keywords as written.
 */
import { headerSection, removeFields } from "./headers.ts";

/** The fields that hold an mbox message's flags and keywords. */
export const STATUS_FIELDS: readonly string[] = ["Status", "X-Status", "X-Keywords"];

const encoder = new TextEncoder();

/** X-Status letters and the flags they stand for, in the order they are written (as Dovecot). */
const X_STATUS: [string, string][] = [
  ["A", "\\Answered"],
  ["F", "\\Flagged"],
  ["T", "\\Draft"],
  ["D", "\\Deleted"],
];

/** What an IMAP keyword may not contain (RFC 9051 atom-specials, and `\` at its start). */
// deno-lint-ignore no-control-regex
const NOT_ATOM = /[\s(){%*"\\\]\x00-\x1f\x7f]/;

/**
 * The message with its Status, X-Status and X-Keywords fields taken out,
 * and the flags and keywords they held. The same bytes when it has none.
 */
export function takeMboxStatus(
  message: Uint8Array,
): { message: Uint8Array; flags: string[]; keywords: string[] } {
  const letters = new Set<string>();
  const keywords: string[] = [];
  const stripped = removeFields(message, STATUS_FIELDS, (value, name) => {
    if (name === "X-Keywords") {
      for (const k of value.split(/[\s,]+/)) {
        if (k !== "" && !NOT_ATOM.test(k) && !keywords.includes(k)) keywords.push(k);
      }
    } else {
      for (const c of value.toUpperCase()) letters.add(c);
    }
    return true;
  });
  const flags: string[] = [];
  if (letters.has("R")) flags.push("\\Seen");
  for (const [letter, flag] of X_STATUS) if (letters.has(letter)) flags.push(flag);
  return { message: stripped, flags, keywords };
}

/**
 * The message with fields that say its flags and keywords (IMAP names) added
 * at the end of its header, any such fields it had taken out first:
 * `Status: RO` (read) or `Status: O`, `X-Status:` when answered, flagged,
 * a draft or deleted, `X-Keywords:` when it has keywords. New lines end in
 * CRLF, as the stored message's.
 */
export function withMboxStatus(
  message: Uint8Array,
  flags: readonly string[],
  keywords: readonly string[],
): Uint8Array {
  const base = removeFields(message, STATUS_FIELDS, () => true);
  const has = (flag: string) => flags.some((f) => f.toLowerCase() === flag.toLowerCase());
  let fields = `Status: ${has("\\Seen") ? "RO" : "O"}\r\n`;
  const x = X_STATUS.filter(([, flag]) => has(flag)).map(([letter]) => letter).join("");
  if (x !== "") fields += `X-Status: ${x}\r\n`;
  if (keywords.length > 0) fields += `X-Keywords: ${keywords.join(" ")}\r\n`;
  const head = headerSection(base);
  // Before the empty line that ends the header; after the header when there is no such line.
  let at = head.length;
  if (at >= 2 && head[at - 2] === 0x0d && head[at - 1] === 0x0a && endsInBlank(head)) at -= 2;
  else if (at >= 1 && head[at - 1] === 0x0a && endsInBlank(head)) at -= 1;
  const needBreak = at > 0 && base[at - 1] !== 0x0a;
  const insert = encoder.encode((needBreak ? "\r\n" : "") + fields);
  const out = new Uint8Array(base.length + insert.length);
  out.set(base.subarray(0, at));
  out.set(insert, at);
  out.set(base.subarray(at), at + insert.length);
  return out;
}

/** True when a header section ends with its empty line (it has a body after it, or an empty one). */
function endsInBlank(head: Uint8Array): boolean {
  const n = head.length;
  if (n === 1) return head[0] === 0x0a;
  if (n === 2 && head[0] === 0x0d && head[1] === 0x0a) return true;
  if (head[n - 1] !== 0x0a) return false;
  // The line before the final LF (or CRLF) is empty: preceded by another LF.
  const before = head[n - 2] === 0x0d ? n - 3 : n - 2;
  return before >= 0 && head[before] === 0x0a;
}
