/**
 * The lexical reader of the IMAP command parser: the {@link Cursor} over the
 * parts of a command (atoms, strings, literals, numbers, sequence sets,
 * flags, lists) and the character classes and tables of RFC 9051 §9 that it
 * and the command parsers share.
 *
 * @module
 */
import type { Flag, SequenceSet } from "./command.ts";
import { ImapParseError } from "./command.ts";
import { decodeMutf7 } from "./mutf7.ts";

const MAX_NUMBER = 0xffff_ffff;
const MAX_NUMBER64 = 0x7fff_ffff_ffff_ffffn;
const decoder = new TextDecoder();

// RFC 9051 §9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
// quoted-specials / resp-specials.
const ATOM_SPECIALS = '(){ %*"\\]';

/** RFC 9051 §9: ATOM-CHAR. */
export function isAtomChar(c: string): boolean {
  const code = c.charCodeAt(0);
  return code > 0x20 && code < 0x7f && !ATOM_SPECIALS.includes(c);
}

/** RFC 9051 §9: ASTRING-CHAR = ATOM-CHAR / resp-specials. */
function isAstringChar(c: string): boolean {
  return c === "]" || isAtomChar(c);
}

/** RFC 9051 §9: list-char = ATOM-CHAR / list-wildcards / resp-specials. */
function isListChar(c: string): boolean {
  return c === "%" || c === "*" || c === "]" || isAtomChar(c);
}

/** RFC 9051 §9: tag = 1*<any ASTRING-CHAR except "+">. */
export function isTagChar(c: string): boolean {
  return c !== "+" && isAstringChar(c);
}

/** The words of a space-separated list. */
export function words(list: string): string[] {
  return list.split(" ");
}

export function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

/** Letters, digits, dots and dashes: FETCH item names and section texts. */
export function isNameChar(c: string): boolean {
  return isDigit(c) || c === "." || c === "-" || (c >= "A" && c <= "Z") ||
    (c >= "a" && c <= "z");
}

const SYSTEM_FLAGS = new Map(
  words("\\Answered \\Flagged \\Deleted \\Seen \\Draft \\Recent").map((f) => [f.toLowerCase(), f]),
);

export const MONTHS = words("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC");

/** True when `day` exists in `month` (0-based) of `year`. */
export function validDay(year: number, month: number, day: number): boolean {
  return day >= 1 && day <= new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/**
 * A position in the parts of a command: text parts (strings) alternate with
 * literal bytes, and a literal's marker ends the text part before it.
 */
export class Cursor {
  readonly #parts: readonly (string | Uint8Array)[];
  readonly utf8: boolean;
  #index = 0;
  #text: string;
  #pos = 0;
  tag: string | undefined;
  command = "command";

  constructor(parts: readonly (string | Uint8Array)[], utf8: boolean) {
    const ok = parts.length % 2 === 1 &&
      parts.every((p, i) => i % 2 === 0 ? typeof p === "string" : p instanceof Uint8Array);
    if (!ok) throw new ImapParseError("Cannot parse command: text and literals out of order");
    this.#parts = parts;
    this.#text = parts[0] as string;
    this.utf8 = utf8;
  }

  /** An error about the command being parsed, with its tag. */
  fail(what: string): ImapParseError {
    return new ImapParseError(`Cannot parse ${this.command}: ${what}`, this.tag);
  }

  /** "missing X" at the end of the input, else "invalid X" with what stands there. */
  bad(what: string): ImapParseError {
    if (this.#pos >= this.#text.length) return this.fail(`missing ${what}`);
    return this.fail(`invalid ${what} at ${this.snippet()}`);
  }

  /** A short, escaped excerpt of the input at the cursor, for messages. */
  snippet(): string {
    return JSON.stringify(this.#text.slice(this.#pos, this.#pos + 20));
  }

  /** True at the end of the last text part. */
  get atEnd(): boolean {
    return this.#pos >= this.#text.length && this.#index === this.#parts.length - 1;
  }

  peek(offset = 0): string {
    return this.#text[this.#pos + offset] ?? "";
  }

  skip(n = 1): void {
    this.#pos += n;
  }

  /** Consumes `ch` or fails. */
  expect(ch: string): void {
    if (this.peek() !== ch) {
      throw this.#pos >= this.#text.length
        ? this.fail(`missing "${ch}"`)
        : this.fail(`expected "${ch}" at ${this.snippet()}`);
    }
    this.#pos++;
  }

  /** Consumes one space or fails. */
  sp(): void {
    if (this.peek() === " ") {
      this.#pos++;
      return;
    }
    throw this.#pos >= this.#text.length || this.peek() === ")"
      ? this.fail("missing argument")
      : this.fail(`expected a space at ${this.snippet()}`);
  }

  /** Consumes one space if there is one. */
  trySp(): boolean {
    if (this.peek() !== " ") return false;
    this.#pos++;
    return true;
  }

  /** Fails unless the whole command has been read. */
  end(): void {
    if (!this.atEnd) throw this.fail(`unexpected ${this.snippet()} after the arguments`);
  }

  /** Reads the longest run of characters that satisfy `pred` (possibly empty). */
  take(pred: (c: string) => boolean): string {
    const start = this.#pos;
    while (this.#pos < this.#text.length && pred(this.#text[this.#pos])) this.#pos++;
    return this.#text.slice(start, this.#pos);
  }

  /** RFC 9051 §9: atom = 1*ATOM-CHAR. */
  atom(what: string): string {
    const a = this.take(isAtomChar);
    if (a === "") throw this.bad(what);
    return a;
  }

  /** An atom, upper-cased: a keyword. */
  word(what: string): string {
    return this.atom(what).toUpperCase();
  }

  /** The keyword at the cursor, upper-cased, without consuming it ("" if none). */
  peekWord(): string {
    let end = this.#pos;
    while (end < this.#text.length && isAtomChar(this.#text[end])) end++;
    return this.#text.slice(this.#pos, end).toUpperCase();
  }

  /** Consumes `word` (case-insensitive) when it stands at the cursor as a whole atom. */
  tryWord(word: string): boolean {
    if (this.peekWord() !== word) return false;
    this.#pos += word.length;
    return true;
  }

  /**
   * A literal (RFC 9051 §4.3): the marker ending this text part and the bytes
   * of the next part. `binary` allows literal8 (`~{n}`, RFC 3516).
   */
  literal(binary: boolean): Uint8Array {
    const m = /^(~?)\{(\d+)(\+?)\}$/.exec(this.#text.slice(this.#pos));
    if (m === null) throw this.fail(`invalid literal at ${this.snippet()}`);
    if (m[1] !== "" && !binary) throw this.fail("literal8 is not allowed here");
    const bytes = this.#parts[this.#index + 1];
    if (!(bytes instanceof Uint8Array)) throw this.fail("missing literal data");
    if (BigInt(m[2]) !== BigInt(bytes.length)) throw this.fail("literal size mismatch");
    this.#index += 2;
    this.#text = this.#parts[this.#index] as string;
    this.#pos = 0;
    return bytes;
  }

  /** RFC 9051 §9: quoted = DQUOTE *QUOTED-CHAR DQUOTE. */
  quoted(): string {
    this.expect('"');
    let out = "";
    for (;;) {
      const c = this.#text[this.#pos++];
      if (c === undefined) throw this.fail("unterminated quoted string");
      if (c === '"') return out;
      if (c === "\\") {
        const escaped = this.#text[this.#pos++];
        if (escaped !== '"' && escaped !== "\\") {
          throw this.fail("invalid escape in quoted string");
        }
        out += escaped;
      } else if (c === "\r" || c === "\n" || c === "\0") {
        throw this.fail("invalid character in quoted string");
      } else {
        out += c;
      }
    }
  }

  /** RFC 9051 §9: string = quoted / literal; a literal decoded as UTF-8. */
  string(what: string): string {
    const c = this.peek();
    if (c === '"') return this.quoted();
    if (c !== "{" && !(c === "~" && this.peek(1) === "{")) throw this.bad(what);
    const bytes = this.literal(false);
    // CHAR8 = %x01-ff: a literal string holds no NUL.
    if (bytes.includes(0)) throw this.fail(`NUL in ${what}`);
    return decoder.decode(bytes);
  }

  /** RFC 9051 §9: astring = 1*ASTRING-CHAR / string. */
  astring(what: string): string {
    const c = this.peek();
    if (c === '"' || c === "{" || (c === "~" && this.peek(1) === "{")) return this.string(what);
    const s = this.take(isAstringChar);
    if (s === "") throw this.bad(what);
    return s;
  }

  /** RFC 9051 §9: nstring = string / nil. */
  nstring(what: string): string | null {
    if (this.tryWord("NIL")) return null;
    return this.string(what);
  }

  /** A mailbox name in the session's encoding, as a JavaScript string. */
  decodeName(s: string): string {
    if (this.utf8) return s;
    try {
      return decodeMutf7(s);
    } catch {
      throw this.fail(`invalid mailbox name ${JSON.stringify(s.slice(0, 40))}`);
    }
  }

  /** RFC 9051 §9: mailbox = "INBOX" / astring; INBOX in any case is "INBOX". */
  mailbox(): string {
    const name = this.astring("mailbox name");
    if (name.toUpperCase() === "INBOX") return "INBOX";
    return this.decodeName(name);
  }

  /** RFC 9051 §9: list-mailbox = 1*list-char / string. */
  listMailbox(): string {
    const c = this.peek();
    if (c === '"' || c === "{") return this.decodeName(this.string("mailbox pattern"));
    const s = this.take(isListChar);
    if (s === "") throw this.bad("mailbox pattern");
    return this.decodeName(s);
  }

  /** Digits as a bigint, at most `max`; `nz`: not zero, no leading zero (digit-nz *DIGIT). */
  #digits(what: string, max: bigint, nz: boolean): bigint {
    const d = this.take(isDigit);
    if (d === "") throw this.bad(what);
    if (nz && d[0] === "0") throw this.fail(`invalid ${what} ${d.slice(0, 24)}`);
    const n = d.length > 20 ? max + 1n : BigInt(d);
    if (n > max) throw this.fail(`${what} out of range: ${d.slice(0, 24)}`);
    return n;
  }

  /** RFC 9051 §9: nz-number (1 to 2^32-1). */
  nzNumber(what: string): number {
    return Number(this.#digits(what, BigInt(MAX_NUMBER), true));
  }

  /** RFC 9051 §9: number64, as a JavaScript number (refused above 2^53-1). */
  number64(what: string, nz = false): number {
    return Number(this.#digits(what, BigInt(Number.MAX_SAFE_INTEGER), nz));
  }

  /** RFC 7162 §7: mod-sequence-value (1 to 2^63-1), or mod-sequence-valzer with `zero`. */
  modseq(what: string, zero = false): bigint {
    if (zero && this.peek() === "0" && !isDigit(this.peek(1))) {
      this.#pos++;
      return 0n;
    }
    return this.#digits(what, MAX_NUMBER64, true);
  }

  /**
   * RFC 9051 §9: sequence-set, with `$` (RFC 5182). `plain`: no `*` and no
   * `$` (QRESYNC known-uids and seq-match-data, RFC 7162 §3.2.5).
   */
  sequenceSet(plain = false): SequenceSet {
    if (this.peek() === "$" && !plain) {
      this.#pos++;
      if (this.peek() === "," || this.peek() === ":") throw this.bad("sequence set");
      return { ranges: [], saved: true };
    }
    const ranges: SequenceSet["ranges"] = [];
    for (;;) {
      const from = this.#seqNumber(plain);
      let to = from;
      if (this.peek() === ":") {
        this.#pos++;
        to = this.#seqNumber(plain);
      }
      ranges.push({ from, to });
      if (this.peek() !== ",") return { ranges };
      this.#pos++;
    }
  }

  #seqNumber(plain: boolean): number | "*" {
    if (this.peek() === "*" && !plain) {
      this.#pos++;
      return "*";
    }
    return this.nzNumber("sequence set");
  }

  /** RFC 9051 §9: flag, with system flags in their canonical case. */
  flag(): Flag {
    if (this.peek() === "\\") {
      this.#pos++;
      const name = this.atom("flag");
      return SYSTEM_FLAGS.get("\\" + name.toLowerCase()) ?? "\\" + name;
    }
    return this.atom("flag");
  }

  /** RFC 9051 §9: flag-list = "(" [flag *(SP flag)] ")". */
  flagList(): Flag[] {
    this.expect("(");
    const flags: Flag[] = [];
    if (this.peek() !== ")") {
      do flags.push(this.flag()); while (this.trySp());
    }
    this.expect(")");
    return flags;
  }

  /** `"(" item *(SP item) ")"`, items read by `item`; `empty`: "()" is allowed. */
  list<T>(item: () => T, empty = false): T[] {
    this.expect("(");
    const items: T[] = [];
    if (!(empty && this.peek() === ")")) {
      do items.push(item()); while (this.trySp());
    }
    this.expect(")");
    return items;
  }
}
