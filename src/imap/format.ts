/**
 * Writing IMAP data (RFC 9051 §4): strings as atoms, quoted strings or
 * literals as their content requires, NIL, mailbox names, flag lists, dates.
 */
import { encodeMutf7 } from "./mutf7.ts";

const encoder = new TextEncoder();
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** A string as a quoted string when it can be one, else as a literal (8-bit, CR/LF, long). */
export function imapString(value: string): string {
  if (value.length <= 1024 && /^[\x20-\x7e]*$/.test(value)) {
    return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  }
  return `{${encoder.encode(value).length}}\r\n${value}`;
}

/** A string or NIL. */
export function nstring(value: string | undefined | null): string {
  return value === undefined || value === null ? "NIL" : imapString(value);
}

/** A mailbox name or other astring: an atom when it can be one, else a string. */
export function astring(value: string): string {
  // RFC 9051 §9 ASTRING-CHAR: printable ASCII but for atom-specials (resp-specials allowed).
  return /^[!#$&'+-[^-z|}~]+$/.test(value) ? value : imapString(value);
}

/** A mailbox name as the client wants it: UTF-8 (IMAP4rev2, `utf8`) or modified UTF-7. */
export function mailboxName(name: string, utf8: boolean): string {
  return astring(utf8 ? name : encodeMutf7(name));
}

/** A parenthesised flag list. */
export function flagList(flags: string[]): string {
  return `(${flags.join(" ")})`;
}

/** An INTERNALDATE date-time (RFC 9051 §9 date-time): `"02-Mar-2026 10:00:00 +0000"`. */
export function imapDateTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `"${pad(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${
    pad(d.getUTCHours())
  }:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000"`;
}

/** A sequence set of sorted numbers in its shortest form: `1:3,7,9:10`. */
export function compactSet(numbers: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < numbers.length;) {
    let j = i;
    while (j + 1 < numbers.length && numbers[j + 1] === numbers[j] + 1) j++;
    parts.push(i === j ? String(numbers[i]) : `${numbers[i]}:${numbers[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}
