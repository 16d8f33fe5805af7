/**
 * The IMAP command parser: pure, from the parts {@link readCommand} read to
 * the {@link Command} types of `command.ts`, after the formal syntax of RFC
 * 9051 §9 and of the extensions Postino offers (CONDSTORE/QRESYNC RFC 7162,
 * LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, ESEARCH RFC 4731, SEARCHRES
 * RFC 5182, LITERAL+ RFC 7888, BINARY RFC 3516, ID RFC 2971, UTF8=ACCEPT
 * RFC 6855, QUOTA RFC 9208). Anything else is an {@link ImapParseError}, which the session
 * answers with BAD.
 *
 * Tokens are separated by exactly one space, as the grammar says; keywords
 * are case-insensitive; nesting is bounded, so no input can exhaust the stack.
 *
 * The lexical reader is in `cursor.ts`, SEARCH keys in `parse_search.ts` and
 * FETCH items in `parse_fetch.ts`; the commands and their dispatch are here.
 *
 * @module
 */
import type {
  AppendArgs,
  Command,
  Flag,
  ListArgs,
  QuotaLimit,
  SelectArgs,
  StoreArgs,
} from "./command.ts";
import { ImapParseError } from "./command.ts";
import { Cursor, isNameChar, isTagChar, MONTHS, validDay, words } from "./cursor.ts";
import { parseFetch } from "./parse_fetch.ts";
import { parseSearch } from "./parse_search.ts";

export { isTagChar } from "./cursor.ts";
export { MAX_SEARCH_DEPTH } from "./parse_search.ts";

/** Options of {@link parseCommand}. */
export interface ParseOptions {
  /**
   * Mailbox names are UTF-8 (UTF8=ACCEPT enabled, or IMAP4rev2 selected);
   * otherwise they are modified UTF-7 and decoded here (RFC 3501 §5.1.3).
   * @default false
   */
  utf8?: boolean;
}

// RFC 9051 §6.3.11, RFC 7162 §3.1.6 (HIGHESTMODSEQ), RFC 7889 §5 (APPENDLIMIT), RFC 3501 (RECENT),
// RFC 9208 §4.1.4 (DELETED-STORAGE).
const STATUS_ITEMS = new Set(
  words(
    "MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT HIGHESTMODSEQ APPENDLIMIT " +
      "DELETED-STORAGE",
  ),
);
const LIST_SELECT = new Set(words("SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE"));
const LIST_RETURN = new Set(words("SUBSCRIBED CHILDREN SPECIAL-USE"));

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
  GETQUOTA: parseGetQuota,
  GETQUOTAROOT: parseGetQuotaRoot,
  SETQUOTA: parseSetQuota,
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

/** RFC 9208 §4.1.1: GETQUOTA SP quota-root-name (an astring; "" is a root name). */
function parseGetQuota(c: Cursor, tag: string): Command {
  c.sp();
  return { tag, name: "GETQUOTA", root: c.astring("quota root") };
}

/** RFC 9208 §4.1.2: GETQUOTAROOT SP mailbox. */
function parseGetQuotaRoot(c: Cursor, tag: string): Command {
  c.sp();
  return { tag, name: "GETQUOTAROOT", mailbox: c.mailbox() };
}

/**
 * RFC 9208 §4.1.3: SETQUOTA SP quota-root-name SP setquota-list,
 * setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")",
 * setquota-resource = resource-name SP resource-limit (number64).
 */
function parseSetQuota(c: Cursor, tag: string): Command {
  c.sp();
  const root = c.astring("quota root");
  c.sp();
  const limits = c.list((): QuotaLimit => {
    const resource = c.word("resource name");
    c.sp();
    return { resource, limit: c.number64("resource limit") };
  }, true);
  return { tag, name: "SETQUOTA", root, limits };
}
