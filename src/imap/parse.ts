/**
 * The IMAP command parser: pure, from the parts {@link readCommand} read to
 * the {@link Command} types of `command.ts`, after the formal syntax of RFC
 * 9051 §9 and of the extensions Postino offers (CONDSTORE/QRESYNC RFC 7162,
 * LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, ESEARCH RFC 4731, SEARCHRES
 * RFC 5182, LITERAL+ RFC 7888, BINARY RFC 3516, ID RFC 2971, UTF8=ACCEPT
 * RFC 6855). Anything else is an {@link ImapParseError}, which the session
 * answers with BAD.
 *
 * Tokens are separated by exactly one space, as the grammar says; keywords
 * are case-insensitive; nesting is bounded, so no input can exhaust the stack.
 *
 * @module
 */
import type {
  AppendArgs,
  Command,
  FetchArgs,
  FetchItem,
  Flag,
  ListArgs,
  SearchArgs,
  SearchKey,
  SearchReturn,
  Section,
  SelectArgs,
  SequenceSet,
  StoreArgs,
} from "./command.ts";
import { ImapParseError } from "./command.ts";
import { decodeMutf7 } from "./mutf7.ts";

/** Options of {@link parseCommand}. */
export interface ParseOptions {
  /**
   * Mailbox names are UTF-8 (UTF8=ACCEPT enabled, or IMAP4rev2 selected);
   * otherwise they are modified UTF-7 and decoded here (RFC 3501 §5.1.3).
   * @default false
   */
  utf8?: boolean;
}

/** How deep search keys may nest (parentheses, NOT, OR) before the parser refuses. */
export const MAX_SEARCH_DEPTH = 100;

const MAX_NUMBER = 0xffff_ffff;
const MAX_NUMBER64 = 0x7fff_ffff_ffff_ffffn;
const decoder = new TextDecoder();

// RFC 9051 §9: atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards /
// quoted-specials / resp-specials.
const ATOM_SPECIALS = '(){ %*"\\]';

/** RFC 9051 §9: ATOM-CHAR. */
function isAtomChar(c: string): boolean {
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
function words(list: string): string[] {
  return list.split(" ");
}

function isDigit(c: string): boolean {
  return c >= "0" && c <= "9";
}

/** Letters, digits, dots and dashes: FETCH item names and section texts. */
function isNameChar(c: string): boolean {
  return isDigit(c) || c === "." || c === "-" || (c >= "A" && c <= "Z") ||
    (c >= "a" && c <= "z");
}

const SYSTEM_FLAGS = new Map(
  words("\\Answered \\Flagged \\Deleted \\Seen \\Draft \\Recent").map((f) => [f.toLowerCase(), f]),
);

const MONTHS = words("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC");

// RFC 9051 §6.3.11, RFC 7162 §3.1.6 (HIGHESTMODSEQ), RFC 7889 §5 (APPENDLIMIT), RFC 3501 (RECENT).
const STATUS_ITEMS = new Set(
  words("MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT"),
);
const SEARCH_RETURNS = new Set(words("MIN MAX ALL COUNT SAVE"));
const LIST_SELECT = new Set(words("SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE"));
const LIST_RETURN = new Set(words("SUBSCRIBED CHILDREN SPECIAL-USE"));

/** FETCH macros (RFC 9051 §6.4.5). */
const FETCH_MACROS: Record<string, string[]> = {
  ALL: words("FLAGS INTERNALDATE RFC822.SIZE ENVELOPE"),
  FAST: words("FLAGS INTERNALDATE RFC822.SIZE"),
  FULL: words("FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY"),
};

/** FETCH items without a section (RFC 9051 §9 fetch-att). */
const SIMPLE_FETCH_ITEMS = new Set([
  ...words("UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE MODSEQ"),
  ...words("RFC822 RFC822.HEADER RFC822.TEXT"),
]);

/** Search keys that test a system flag: key -> [flag, has]. */
const FLAG_KEYS: Record<string, [Flag, boolean]> = {
  ANSWERED: ["\\Answered", true],
  DELETED: ["\\Deleted", true],
  DRAFT: ["\\Draft", true],
  FLAGGED: ["\\Flagged", true],
  SEEN: ["\\Seen", true],
  UNANSWERED: ["\\Answered", false],
  UNDELETED: ["\\Deleted", false],
  UNDRAFT: ["\\Draft", false],
  UNFLAGGED: ["\\Flagged", false],
  UNSEEN: ["\\Seen", false],
};

/** Search keys that take a date. */
const DATE_KEYS = new Set(["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"]);
/** Search keys that are a header search on a fixed field. */
const HEADER_KEYS = new Set(["BCC", "CC", "FROM", "SUBJECT", "TO"]);

/**
 * A position in the parts of a command: text parts (strings) alternate with
 * literal bytes, and a literal's marker ends the text part before it.
 */
class Cursor {
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

/**
 * Parses one command read by `readCommand()`. Throws {@link ImapParseError},
 * with the tag when it could be read, for anything malformed.
 */
export function parseCommand(
  raw: { parts: (string | Uint8Array)[] },
  options: ParseOptions = {},
): Command {
  const c = new Cursor(raw.parts, options.utf8 ?? false);
  if (c.atEnd) throw new ImapParseError("Cannot parse command: empty line");
  const tag = c.take(isTagChar);
  if (tag === "" || (c.peek() !== " " && !c.atEnd)) {
    throw new ImapParseError("Cannot parse command: invalid tag");
  }
  c.tag = tag;
  if (!c.trySp()) throw c.fail("missing command name");
  let name = c.word("command name");
  if (name === "UID" && c.trySp()) name += " " + c.word("command name");
  const handler = Object.hasOwn(HANDLERS, name) ? HANDLERS[name] : undefined;
  if (handler === undefined) {
    throw new ImapParseError(`Unknown command ${name.slice(0, 40)}`, tag);
  }
  c.command = name;
  const command = handler(c, tag, name);
  c.end();
  return command;
}

type Handler = (c: Cursor, tag: string, name: string) => Command;

/** Commands without arguments (RFC 9051 §6.1.x, §6.3.13, §6.4.x; RFC 3501 CHECK; RFC 2342). */
function noArguments(_c: Cursor, tag: string, name: string): Command {
  return { tag, name: name as "NOOP" };
}

const HANDLERS: Record<string, Handler> = {
  CAPABILITY: noArguments,
  NOOP: noArguments,
  LOGOUT: noArguments,
  STARTTLS: noArguments,
  CHECK: noArguments,
  CLOSE: noArguments,
  UNSELECT: noArguments,
  EXPUNGE: noArguments,
  IDLE: noArguments,
  NAMESPACE: noArguments,
  LOGIN: parseLogin,
  AUTHENTICATE: parseAuthenticate,
  ENABLE: parseEnable,
  ID: parseId,
  SELECT: parseSelect,
  EXAMINE: parseSelect,
  CREATE: parseMailboxCommand,
  DELETE: parseMailboxCommand,
  SUBSCRIBE: parseMailboxCommand,
  UNSUBSCRIBE: parseMailboxCommand,
  RENAME: parseRename,
  LIST: parseList,
  LSUB: parseLsub,
  STATUS: parseStatus,
  APPEND: parseAppend,
  "UID EXPUNGE": parseUidExpunge,
  SEARCH: parseSearch,
  "UID SEARCH": parseSearch,
  FETCH: parseFetch,
  "UID FETCH": parseFetch,
  STORE: parseStore,
  "UID STORE": parseStore,
  COPY: parseCopy,
  "UID COPY": parseCopy,
  MOVE: parseCopy,
  "UID MOVE": parseCopy,
};

/** RFC 9051 §6.2.3: LOGIN SP userid SP password. */
function parseLogin(c: Cursor, tag: string): Command {
  c.sp();
  const user = c.astring("user name");
  c.sp();
  const password = c.astring("password");
  return { tag, name: "LOGIN", user, password };
}

/** RFC 9051 §6.2.2, RFC 4959: AUTHENTICATE SP auth-type [SP (base64 / "=")]. */
function parseAuthenticate(c: Cursor, tag: string): Command {
  c.sp();
  const mechanism = c.word("mechanism");
  if (!c.trySp()) return { tag, name: "AUTHENTICATE", mechanism };
  const response = c.take((ch) => /[A-Za-z0-9+/=]/.test(ch));
  const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  if (response === "") throw c.bad("initial response");
  if (response !== "=" && !base64.test(response)) throw c.fail("invalid initial response");
  return {
    tag,
    name: "AUTHENTICATE",
    mechanism,
    initialResponse: response === "=" ? "" : response,
  };
}

/** RFC 9051 §6.3.1: ENABLE 1*(SP capability). */
function parseEnable(c: Cursor, tag: string): Command {
  const capabilities: string[] = [];
  do {
    c.sp();
    capabilities.push(c.word("capability"));
  } while (c.peek() === " ");
  return { tag, name: "ENABLE", capabilities };
}

/** RFC 2971 §4: ID SP ("(" [string SP nstring *(SP string SP nstring)] ")" / nil). */
function parseId(c: Cursor, tag: string): Command {
  c.sp();
  if (c.tryWord("NIL")) return { tag, name: "ID", params: null };
  const params = c.list((): [string, string | null] => {
    const key = c.string("ID field");
    c.sp();
    return [key, c.nstring("ID value")];
  }, true);
  return { tag, name: "ID", params };
}

/** RFC 9051 §6.3.2-3, RFC 7162 §3.1.8 and §3.2.5: SELECT/EXAMINE mailbox [SP "(" params ")"]. */
function parseSelect(c: Cursor, tag: string, name: string): Command {
  c.sp();
  const args: SelectArgs = { mailbox: c.mailbox(), condstore: false };
  if (c.trySp()) {
    c.list(() => {
      const param = c.word("select parameter");
      if (param === "CONDSTORE") {
        args.condstore = true;
      } else if (param === "QRESYNC") {
        c.sp();
        args.qresync = parseQresync(c);
      } else {
        throw c.fail(`unknown select parameter ${param.slice(0, 40)}`);
      }
    });
  }
  return { tag, name: name as "SELECT", args };
}

/**
 * RFC 7162 §7: "(" uidvalidity SP mod-sequence-value [SP known-uids]
 * [SP seq-match-data] ")", seq-match-data = "(" known-sequence-set SP known-uid-set ")".
 */
function parseQresync(c: Cursor): NonNullable<SelectArgs["qresync"]> {
  c.expect("(");
  const uidvalidity = c.nzNumber("UIDVALIDITY");
  c.sp();
  const qresync: NonNullable<SelectArgs["qresync"]> = { uidvalidity, modseq: c.modseq("modseq") };
  if (c.trySp() && c.peek() !== "(") {
    qresync.knownUids = c.sequenceSet(true);
    if (!c.trySp()) {
      c.expect(")");
      return qresync;
    }
  }
  if (c.peek() === "(") {
    c.skip();
    const seqs = c.sequenceSet(true);
    c.sp();
    const uids = c.sequenceSet(true);
    c.expect(")");
    qresync.match = { seqs, uids };
  }
  c.expect(")");
  return qresync;
}

/** RFC 9051 §6.3.4-5, §6.3.7-8: CREATE/DELETE/SUBSCRIBE/UNSUBSCRIBE SP mailbox. */
function parseMailboxCommand(c: Cursor, tag: string, name: string): Command {
  c.sp();
  return { tag, name: name as "CREATE", mailbox: c.mailbox() };
}

/** RFC 9051 §6.3.6: RENAME SP mailbox SP mailbox. */
function parseRename(c: Cursor, tag: string): Command {
  c.sp();
  const from = c.mailbox();
  c.sp();
  return { tag, name: "RENAME", from, to: c.mailbox() };
}

/**
 * RFC 9051 §6.3.9, RFC 5258 §3, RFC 5819: LIST [SP list-select-opts] SP
 * mailbox SP mbox-or-pat [SP list-return-opts].
 */
function parseList(c: Cursor, tag: string): Command {
  c.sp();
  const args: ListArgs = { reference: "", patterns: [], select: [], returns: [] };
  if (c.peek() === "(") {
    args.select = c.list(() => {
      const option = c.word("selection option");
      if (!LIST_SELECT.has(option)) {
        throw c.fail(`unknown selection option ${option.slice(0, 40)}`);
      }
      return option;
    }, true);
    // RFC 5258 §3: RECURSIVEMATCH needs a base option to apply to.
    if (
      args.select.includes("RECURSIVEMATCH") &&
      !args.select.some((o) => o === "SUBSCRIBED" || o === "SPECIAL-USE")
    ) {
      throw c.fail("RECURSIVEMATCH without a base selection option");
    }
    c.sp();
  }
  args.reference = c.decodeName(c.astring("reference"));
  c.sp();
  args.patterns = c.peek() === "(" ? c.list(() => c.listMailbox()) : [c.listMailbox()];
  if (c.trySp()) {
    if (!c.tryWord("RETURN")) throw c.bad("LIST return options");
    c.sp();
    c.list(() => {
      const option = c.word("return option");
      if (option === "STATUS") {
        c.sp();
        args.status = parseStatusItems(c);
      } else if (LIST_RETURN.has(option)) {
        args.returns.push(option);
      } else {
        throw c.fail(`unknown return option ${option.slice(0, 40)}`);
      }
    }, true);
  }
  return { tag, name: "LIST", args };
}

/** RFC 3501 §6.3.9: LSUB SP mailbox SP list-mailbox. */
function parseLsub(c: Cursor, tag: string): Command {
  c.sp();
  const reference = c.decodeName(c.astring("reference"));
  c.sp();
  return { tag, name: "LSUB", reference, pattern: c.listMailbox() };
}

/** RFC 9051 §6.3.11: "(" status-att *(SP status-att) ")", upper-cased. */
function parseStatusItems(c: Cursor): string[] {
  return c.list(() => {
    const item = c.word("status item");
    if (!STATUS_ITEMS.has(item)) throw c.fail(`unknown status item ${item.slice(0, 40)}`);
    return item;
  });
}

/** RFC 9051 §6.3.11: STATUS SP mailbox SP "(" status-att *(SP status-att) ")". */
function parseStatus(c: Cursor, tag: string): Command {
  c.sp();
  const mailbox = c.mailbox();
  c.sp();
  return { tag, name: "STATUS", mailbox, items: parseStatusItems(c) };
}

/**
 * RFC 9051 §6.3.12: APPEND SP mailbox [SP flag-list] [SP date-time] SP
 * literal; literal8 (RFC 3516 §4.4) and, with UTF8=ACCEPT, "UTF8" SP "("
 * literal8 ")" (RFC 6855 §4).
 */
function parseAppend(c: Cursor, tag: string): Command {
  c.sp();
  const args: Partial<AppendArgs> & { mailbox: string } = { mailbox: c.mailbox() };
  c.sp();
  args.flags = [];
  if (c.peek() === "(") {
    args.flags = c.flagList();
    c.sp();
  }
  if (c.peek() === '"') {
    args.date = parseDateTime(c);
    c.sp();
  }
  if (c.peek() === "{" || c.peek() === "~") {
    const binary = c.peek() === "~";
    args.message = c.literal(true);
    if (binary) args.binary = true;
  } else if (c.utf8 && c.tryWord("UTF8")) {
    c.sp();
    c.expect("(");
    if (c.peek() !== "~") throw c.bad("literal8");
    args.message = c.literal(true);
    args.binary = true;
    c.expect(")");
  } else {
    throw c.bad("message literal");
  }
  return { tag, name: "APPEND", args: args as AppendArgs };
}

/** RFC 9051 §9: date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE. */
function parseDateTime(c: Cursor): Date {
  const text = c.quoted();
  const m = /^([ \d]?\d)-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(text);
  const month = m ? MONTHS.indexOf(m[2].toUpperCase()) : -1;
  if (m === null || month < 0) throw c.fail(`invalid date-time ${JSON.stringify(text)}`);
  const [day, year, hour, minute, second, zh, zm] = [1, 3, 4, 5, 6, 8, 9].map((i) =>
    Number(m[i].trim())
  );
  if (
    !validDay(year, month, day) || hour > 23 || minute > 59 || second > 60 || zm > 59
  ) {
    throw c.fail(`invalid date-time ${JSON.stringify(text)}`);
  }
  const offset = (m[7] === "-" ? -1 : 1) * (zh * 60 + zm);
  return new Date(Date.UTC(year, month, day, hour, minute, second) - offset * 60_000);
}

/** True when `day` exists in `month` (0-based) of `year`. */
function validDay(year: number, month: number, day: number): boolean {
  return day >= 1 && day <= new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/** RFC 9051 §6.4.3, RFC 4315 §2.1: UID EXPUNGE SP sequence-set. */
function parseUidExpunge(c: Cursor, tag: string): Command {
  c.sp();
  return { tag, name: "UID EXPUNGE", set: c.sequenceSet() };
}

/** RFC 9051 §6.4.7-8: COPY/MOVE SP sequence-set SP mailbox (and their UID forms). */
function parseCopy(c: Cursor, tag: string, name: string): Command {
  c.sp();
  const set = c.sequenceSet();
  c.sp();
  return { tag, name: name as "COPY", set, mailbox: c.mailbox() };
}

/**
 * RFC 9051 §6.4.4, RFC 4731 §3: SEARCH [SP "RETURN" SP "(" [opts] ")"]
 * [SP "CHARSET" SP charset] 1*(SP search-key).
 */
function parseSearch(c: Cursor, tag: string, name: string): Command {
  c.sp();
  const args: Partial<SearchArgs> = {};
  if (c.tryWord("RETURN")) {
    c.sp();
    args.returns = c.list(() => {
      const option = c.word("return option");
      if (!SEARCH_RETURNS.has(option)) {
        throw c.fail(`unknown return option ${option.slice(0, 40)}`);
      }
      return option as SearchReturn;
    }, true);
    c.sp();
  }
  if (c.tryWord("CHARSET")) {
    c.sp();
    args.charset = (c.peek() === '"' ? c.quoted() : c.atom("charset")).toUpperCase();
    c.sp();
  }
  const keys = [parseSearchKey(c, 1)];
  while (c.trySp()) keys.push(parseSearchKey(c, 1));
  args.key = keys.length === 1 ? keys[0] : { op: "and", keys };
  return { tag, name: name as "SEARCH", args: args as SearchArgs };
}

/** RFC 9051 §6.4.4 and §9 search-key; `depth` counts enclosing groups, NOT and OR. */
function parseSearchKey(c: Cursor, depth: number): SearchKey {
  if (depth > MAX_SEARCH_DEPTH) throw c.fail("search keys nested too deeply");
  const first = c.peek();
  if (first === "(") {
    c.skip();
    const keys = [parseSearchKey(c, depth + 1)];
    while (c.trySp()) keys.push(parseSearchKey(c, depth + 1));
    c.expect(")");
    return keys.length === 1 ? keys[0] : { op: "and", keys };
  }
  if (isDigit(first) || first === "*" || first === "$") return { op: "seq", set: c.sequenceSet() };
  const key = c.word("search key");
  if (Object.hasOwn(FLAG_KEYS, key)) {
    const [flag, has] = FLAG_KEYS[key];
    return { op: "flag", flag, has };
  }
  switch (key) {
    case "ALL":
      return { op: "all" };
    case "NEW":
    case "OLD":
    case "RECENT":
      return { op: key.toLowerCase() as "new" };
    case "KEYWORD":
    case "UNKEYWORD":
      c.sp();
      return { op: "flag", flag: c.atom("keyword"), has: key === "KEYWORD" };
    case "LARGER":
    case "SMALLER":
      c.sp();
      return { op: key === "LARGER" ? "larger" : "smaller", size: c.number64("size") };
    case "BODY":
    case "TEXT":
      c.sp();
      return { op: key === "BODY" ? "body" : "text", value: c.astring("search string") };
    case "HEADER": {
      c.sp();
      const name = c.astring("header field name").toUpperCase();
      c.sp();
      return { op: "header", name, value: c.astring("search string") };
    }
    case "UID":
      c.sp();
      return { op: "uid", set: c.sequenceSet() };
    case "NOT":
      c.sp();
      return { op: "not", key: parseSearchKey(c, depth + 1) };
    case "OR": {
      c.sp();
      const left = parseSearchKey(c, depth + 1);
      c.sp();
      return { op: "or", left, right: parseSearchKey(c, depth + 1) };
    }
    case "MODSEQ":
      return parseModseqKey(c);
  }
  if (HEADER_KEYS.has(key)) {
    c.sp();
    return { op: "header", name: key, value: c.astring("search string") };
  }
  if (DATE_KEYS.has(key)) {
    c.sp();
    return { op: key.toLowerCase() as "since", date: parseSearchDate(c) };
  }
  throw c.fail(`unknown search key ${key.slice(0, 40)}`);
}

/**
 * RFC 7162 §7: "MODSEQ" [SP entry-name SP entry-type-req] SP
 * mod-sequence-valzer; entry-name = DQUOTE "/flags/" attr-flag DQUOTE.
 */
function parseModseqKey(c: Cursor): SearchKey {
  c.sp();
  if (c.peek() === '"') {
    const entry = c.quoted();
    if (!entry.toLowerCase().startsWith("/flags/") || entry.length === 7) {
      throw c.fail(`invalid MODSEQ entry name ${JSON.stringify(entry.slice(0, 40))}`);
    }
    c.sp();
    const type = c.word("MODSEQ entry type");
    if (type !== "PRIV" && type !== "SHARED" && type !== "ALL") {
      throw c.fail(`invalid MODSEQ entry type ${type.slice(0, 40)}`);
    }
    c.sp();
  }
  return { op: "modseq", modseq: c.modseq("modseq", true) };
}

/** RFC 9051 §9: date = date-text / DQUOTE date-text DQUOTE, as "YYYY-MM-DD". */
function parseSearchDate(c: Cursor): string {
  const text = c.peek() === '"' ? c.quoted() : c.take(isAtomChar);
  const m = /^(\d\d?)-([A-Za-z]{3})-(\d{4})$/.exec(text);
  const month = m ? MONTHS.indexOf(m[2].toUpperCase()) : -1;
  if (m === null || month < 0 || !validDay(Number(m[3]), month, Number(m[1]))) {
    throw text === "" ? c.bad("date") : c.fail(`invalid date ${JSON.stringify(text)}`);
  }
  return `${m[3]}-${String(month + 1).padStart(2, "0")}-${m[1].padStart(2, "0")}`;
}

/**
 * RFC 9051 §6.4.5, RFC 7162 §3.1.4 and §3.2.6: FETCH SP sequence-set SP
 * ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")
 * [SP "(" fetch-modifier *(SP fetch-modifier) ")"].
 */
function parseFetch(c: Cursor, tag: string, name: string): Command {
  c.sp();
  const set = c.sequenceSet();
  c.sp();
  let items: FetchItem[];
  const macro = c.peekWord();
  if (c.peek() === "(") {
    items = c.list(() => parseFetchItem(c));
  } else if (Object.hasOwn(FETCH_MACROS, macro)) {
    c.tryWord(macro);
    items = FETCH_MACROS[macro].map((item) => ({ item }) as FetchItem);
  } else {
    items = [parseFetchItem(c)];
  }
  const args: FetchArgs = { set, items };
  if (c.trySp()) {
    c.list(() => {
      const modifier = c.word("fetch modifier");
      if (modifier === "CHANGEDSINCE") {
        c.sp();
        args.changedSince = c.modseq("CHANGEDSINCE");
      } else if (modifier === "VANISHED") {
        args.vanished = true;
      } else {
        throw c.fail(`unknown fetch modifier ${modifier.slice(0, 40)}`);
      }
    });
  }
  // RFC 7162 §3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE.
  if (args.vanished && (name !== "UID FETCH" || args.changedSince === undefined)) {
    throw c.fail("VANISHED needs UID FETCH and CHANGEDSINCE");
  }
  return { tag, name: name as "FETCH", args };
}

/** RFC 9051 §9: fetch-att. */
function parseFetchItem(c: Cursor): FetchItem {
  const name = c.take(isNameChar).toUpperCase();
  if (name === "") throw c.bad("fetch item");
  if (SIMPLE_FETCH_ITEMS.has(name) || (name === "BODY" && c.peek() !== "[")) {
    return { item: name as "UID" };
  }
  switch (name) {
    case "BODY":
    case "BODY.PEEK": {
      const section = parseSection(c);
      return withPartial(c, { item: "BODY[]", section, peek: name === "BODY.PEEK" });
    }
    case "BINARY":
    case "BINARY.PEEK": {
      const section = parseBinarySection(c);
      return withPartial(c, { item: "BINARY[]", section, peek: name === "BINARY.PEEK" });
    }
    case "BINARY.SIZE":
      return { item: "BINARY.SIZE[]", section: parseBinarySection(c), peek: false };
  }
  throw c.fail(`unknown fetch item ${name.slice(0, 40)}`);
}

/** RFC 9051 §9: partial = "<" number64 "." nz-number64 ">", when present. */
function withPartial(c: Cursor, item: FetchItem): FetchItem {
  if (c.peek() !== "<") return item;
  c.skip();
  const offset = c.number64("partial offset");
  c.expect(".");
  const count = c.number64("partial length", true);
  c.expect(">");
  return { ...item, partial: { offset, count } } as FetchItem;
}

/**
 * RFC 9051 §9: section = "[" [section-spec] "]"; section-spec =
 * section-msgtext / (section-part ["." section-text]).
 */
function parseSection(c: Cursor): Section {
  c.expect("[");
  const section: Section = { part: [] };
  if (isDigit(c.peek())) {
    section.part = parseSectionPart(c);
    if (c.peek() !== ".") {
      c.expect("]");
      return section;
    }
    c.skip();
  } else if (c.peek() === "]") {
    c.skip();
    return section;
  }
  const text = c.take(isNameChar).toUpperCase();
  switch (text) {
    case "HEADER":
    case "TEXT":
      section.text = text;
      break;
    case "MIME":
      // section-text = section-msgtext / "MIME": MIME only after a part number.
      if (section.part.length === 0) throw c.fail("MIME needs a part number");
      section.text = text;
      break;
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT":
      c.sp();
      section.text = text;
      section.fields = c.list(() => c.astring("header field name").toUpperCase());
      break;
    default:
      throw text === "" ? c.bad("section") : c.fail(`invalid section ${text.slice(0, 40)}`);
  }
  c.expect("]");
  return section;
}

/** RFC 9051 §9: section-part = nz-number *("." nz-number), stopping before "." section-text. */
function parseSectionPart(c: Cursor): number[] {
  const part = [c.nzNumber("section part")];
  while (c.peek() === "." && isDigit(c.peek(1))) {
    c.skip();
    part.push(c.nzNumber("section part"));
  }
  return part;
}

/** RFC 9051 §9: section-binary = "[" [section-part] "]". */
function parseBinarySection(c: Cursor): Section {
  c.expect("[");
  const part = c.peek() === "]" ? [] : parseSectionPart(c);
  c.expect("]");
  return { part };
}

/**
 * RFC 9051 §6.4.6, RFC 7162 §3.1.3: STORE SP sequence-set [SP "("
 * "UNCHANGEDSINCE" SP mod-sequence-valzer ")"] SP ["+" / "-"] "FLAGS"
 * [".SILENT"] SP (flag-list / (flag *(SP flag))).
 */
function parseStore(c: Cursor, tag: string, name: string): Command {
  c.sp();
  const set = c.sequenceSet();
  c.sp();
  let unchangedSince: bigint | undefined;
  if (c.peek() === "(") {
    c.list(() => {
      const modifier = c.word("store modifier");
      if (modifier !== "UNCHANGEDSINCE") {
        throw c.fail(`unknown store modifier ${modifier.slice(0, 40)}`);
      }
      c.sp();
      unchangedSince = c.modseq("UNCHANGEDSINCE", true);
    });
    c.sp();
  }
  const sign = c.peek() === "+" || c.peek() === "-" ? c.peek() : "";
  c.skip(sign.length);
  const item = c.take(isNameChar).toUpperCase();
  if (item !== "FLAGS" && item !== "FLAGS.SILENT") {
    throw item === "" ? c.bad("store item") : c.fail(`invalid store item ${item.slice(0, 40)}`);
  }
  c.sp();
  let flags: Flag[];
  if (c.peek() === "(") {
    flags = c.flagList();
  } else {
    flags = [c.flag()];
    while (c.trySp()) flags.push(c.flag());
  }
  const args: StoreArgs = {
    set,
    mode: sign === "+" ? "add" : sign === "-" ? "remove" : "set",
    silent: item === "FLAGS.SILENT",
    flags,
  };
  if (unchangedSince !== undefined) args.unchangedSince = unchangedSince;
  return { tag, name: name as "STORE", args };
}
