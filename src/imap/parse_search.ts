/**
 * SEARCH parsing (RFC 9051 §6.4.4, ESEARCH RFC 4731, SEARCHRES RFC 5182,
 * CONDSTORE RFC 7162 §3.1.5): the command's return options and charset, and
 * the search keys, whose nesting is bounded by {@link MAX_SEARCH_DEPTH}.
 *
 * @module
 */
import type { Command, Flag, SearchArgs, SearchKey, SearchReturn } from "./command.ts";
import { type Cursor, isAtomChar, isDigit, MONTHS, validDay, words } from "./cursor.ts";

/** How deep search keys may nest (parentheses, NOT, OR) before the parser refuses. */
export const MAX_SEARCH_DEPTH = 100;

const SEARCH_RETURNS = new Set(words("MIN MAX ALL COUNT SAVE"));

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
 * RFC 9051 §6.4.4, RFC 4731 §3: SEARCH [SP "RETURN" SP "(" [opts] ")"]
 * [SP "CHARSET" SP charset] 1*(SP search-key).
 */
export function parseSearch(c: Cursor, tag: string, name: string): Command {
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
