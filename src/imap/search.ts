/**
 * SEARCH (RFC 9051 §6.4.4): evaluates a search key over the messages of the
 * selected mailbox. Flags, sizes, dates and uids come from the entries; a
 * message body is read only when a key needs it (headers, body, text, sent
 * dates), once per message.
 */
import { decodeEncodedWords } from "../mail/encoded_words.ts";
import { headerSection } from "../mail/headers.ts";
import type { Entry } from "../store/entries.ts";
import { FLAG_SEEN } from "../store/mailboxes.ts";
import { SYSTEM_FLAGS } from "../store/entries.ts";
import type { SearchKey } from "./command.ts";

/** What a key is evaluated against. */
export interface Candidate {
  entry: Entry;
  seq: number;
  recent: boolean;
  /** The message, read on first use. */
  body: () => Uint8Array;
}

/** Uid and message-number sets resolved by the session before evaluation. */
export interface ResolvedSets {
  /** For each `seq` or `uid` key (by identity), the uids it names. */
  sets: Map<SearchKey, Set<number>>;
}

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder();

/** The day of a date as "YYYY-MM-DD" (UTC; RFC 9051 disregards time and zone). */
function day(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DATE_AS_WRITTEN = /^\s*(?:[a-z]+\s*,\s*)?(\d{1,2})\s+([a-z]{3})[a-z]*\s+(\d{2,4})\b/i;

/**
 * The day of a Date header as its writer wrote it, YYYY-MM-DD: SENT* keys
 * disregard time and timezone (RFC 9051 §6.4.4), so "Thu, 05 Mar 2026
 * 22:30 -0500" is the 5th even though it is the 6th in UTC. Two-digit years
 * as RFC 5322 §4.3 reads them.
 */
export function writtenDay(value: string): string | undefined {
  const m = DATE_AS_WRITTEN.exec(value);
  if (m) {
    const month = MONTHS.indexOf(m[2].toLowerCase());
    let year = Number(m[3]);
    if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
    else if (m[3].length === 3) year += 1900;
    if (month >= 0 && Number(m[1]) >= 1 && Number(m[1]) <= 31) {
      return `${year}-${String(month + 1).padStart(2, "0")}-${m[1].padStart(2, "0")}`;
    }
  }
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : day(ms);
}

/** The text of a message's headers, unfolded, with encoded-words decoded, by lower-case name. */
function headers(message: Uint8Array): Map<string, string[]> {
  const text = utf8.decode(headerSection(message)).replace(/\r?\n[ \t]+/g, " ");
  const map = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    map.set(name, [...(map.get(name) ?? []), decodeEncodedWords(line.slice(colon + 1).trim())]);
  }
  return map;
}

/** Evaluates keys for one message, parsing its headers at most once. */
class Evaluation {
  readonly #c: Candidate;
  readonly #sets: ResolvedSets;
  #headers?: Map<string, string[]>;
  #bodyText?: string;

  constructor(c: Candidate, sets: ResolvedSets) {
    this.#c = c;
    this.#sets = sets;
  }

  #header(name: string): string[] {
    this.#headers ??= headers(this.#c.body());
    return this.#headers.get(name) ?? [];
  }

  #text(): string {
    if (this.#bodyText === undefined) {
      const message = this.#c.body();
      const head = headerSection(message).length;
      // Bodies may be any charset; latin1 keeps every byte, and ASCII text matches either way.
      this.#bodyText = latin1.decode(message.subarray(head)).toLowerCase();
    }
    return this.#bodyText;
  }

  test(key: SearchKey): boolean {
    const e = this.#c.entry;
    switch (key.op) {
      case "all":
        return true;
      case "and":
        return key.keys.every((k) => this.test(k));
      case "or":
        return this.test(key.left) || this.test(key.right);
      case "not":
        return !this.test(key.key);
      case "seq":
      case "uid":
        return this.#sets.sets.get(key)?.has(e.uid) ?? false;
      case "flag": {
        const bit = SYSTEM_FLAGS.get(key.flag.toLowerCase());
        const has = bit !== undefined
          ? (e.flags & bit) !== 0
          : key.flag.toLowerCase() === "\\recent"
          ? this.#c.recent
          : e.keywords.some((k) => k.toLowerCase() === key.flag.toLowerCase());
        return has === key.has;
      }
      case "new":
        return this.#c.recent && (e.flags & FLAG_SEEN) === 0;
      case "old":
        return !this.#c.recent;
      case "recent":
        return this.#c.recent;
      case "before":
        return day(e.internalDate) < key.date;
      case "on":
        return day(e.internalDate) === key.date;
      case "since":
        return day(e.internalDate) >= key.date;
      case "sentbefore":
      case "senton":
      case "sentsince": {
        const d = writtenDay(this.#header("date")[0] ?? "");
        if (d === undefined) return false;
        return key.op === "sentbefore"
          ? d < key.date
          : key.op === "senton"
          ? d === key.date
          : d >= key.date;
      }
      case "larger":
        return e.size > key.size;
      case "smaller":
        return e.size < key.size;
      case "header": {
        const values = this.#header(key.name.toLowerCase());
        const wanted = key.value.toLowerCase();
        // RFC 9051 §6.4.4: an empty string matches every message that has the field.
        return values.some((v) => v.toLowerCase().includes(wanted));
      }
      case "body":
        return this.#text().includes(key.value.toLowerCase());
      case "text": {
        const wanted = key.value.toLowerCase();
        return [...(this.#headers ??= headers(this.#c.body())).values()].flat()
          .some((v) => v.toLowerCase().includes(wanted)) || this.#text().includes(wanted);
      }
      case "modseq":
        return BigInt(e.modseq) >= key.modseq;
    }
  }
}

/** True when the message matches `key`. */
export function matches(key: SearchKey, candidate: Candidate, sets: ResolvedSets): boolean {
  return new Evaluation(candidate, sets).test(key);
}

/** Every `seq` and `uid` key of a tree, so the session can resolve their sets first. */
export function setKeys(key: SearchKey): Extract<SearchKey, { op: "seq" | "uid" }>[] {
  switch (key.op) {
    case "seq":
    case "uid":
      return [key];
    case "and":
      return key.keys.flatMap(setKeys);
    case "or":
      return [...setKeys(key.left), ...setKeys(key.right)];
    case "not":
      return setKeys(key.key);
    default:
      return [];
  }
}

/** True when `key` has a MODSEQ key anywhere (then SEARCH answers with MODSEQ, RFC 7162 §3.1.5). */
export function usesModseq(key: SearchKey): boolean {
  switch (key.op) {
    case "modseq":
      return true;
    case "and":
      return key.keys.some(usesModseq);
    case "or":
      return usesModseq(key.left) || usesModseq(key.right);
    case "not":
      return usesModseq(key.key);
    default:
      return false;
  }
}

/** True when evaluating `key` needs the message (headers or body), not just the entry. */
export function needsBody(key: SearchKey): boolean {
  switch (key.op) {
    case "and":
      return key.keys.some(needsBody);
    case "or":
      return needsBody(key.left) || needsBody(key.right);
    case "not":
      return needsBody(key.key);
    case "header":
    case "body":
    case "text":
    case "sentbefore":
    case "senton":
    case "sentsince":
      return true;
    default:
      return false;
  }
}
