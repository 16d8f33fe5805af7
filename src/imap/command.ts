/**
 * The parsed form of IMAP commands (RFC 9051 §6, with the extensions Postino
 * offers). `parse.ts` produces these; the session consumes them.
 */

import type { SectionPath } from "../mail/message_meta.ts";

/** A sequence set (RFC 9051 §9 `sequence-set`): ranges of numbers; `*` is the largest. */
export interface SequenceSet {
  /**
   * Each range inclusive; `"*"` stands for the largest number in use. The ends
   * are kept in the client's order: "4:2" and "*:4" are 4..2 and *..4, the same
   * as 2..4 and 4..* (RFC 9051 §9), so order them after resolving `*`. Empty when `saved`.
   */
  ranges: { from: number | "*"; to: number | "*" }[];
  /** `$`: the result of the last SEARCH (RFC 9051 §6.4.4.1, SEARCHRES). */
  saved?: boolean;
}

/**
 * System flags and keywords as the client wrote them (`\Seen`, `$Forwarded`, `Work`),
 * except that the system flags (and `\Recent`) are given their canonical case (`\seen` -> `\Seen`).
 */
export type Flag = string;

/** A search key (RFC 9051 §6.4.4) as a tree. */
export type SearchKey =
  | { op: "all" }
  | { op: "and"; keys: SearchKey[] }
  | { op: "or"; left: SearchKey; right: SearchKey }
  | { op: "not"; key: SearchKey }
  | { op: "seq"; set: SequenceSet }
  | { op: "uid"; set: SequenceSet }
  /** ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, KEYWORD x; `has: false` for UN... forms. */
  | { op: "flag"; flag: Flag; has: boolean }
  | { op: "new" | "old" | "recent" }
  /** BEFORE/ON/SINCE (internal date) and SENTBEFORE/SENTON/SENTSINCE (Date header), as "YYYY-MM-DD". */
  | { op: "before" | "on" | "since" | "sentbefore" | "senton" | "sentsince"; date: string }
  | { op: "larger" | "smaller"; size: number }
  /**
   * BCC, CC, FROM, SUBJECT, TO and HEADER name value: substring, case-insensitive.
   * `name` is upper-cased ("BCC", "CC", "FROM", "SUBJECT", "TO" for the short forms).
   */
  | { op: "header"; name: string; value: string }
  | { op: "body" | "text"; value: string }
  /** MODSEQ (RFC 7162 §3.1.5); entry name and type are accepted and ignored. */
  | { op: "modseq"; modseq: bigint };

/** A section of BODY[...] / BINARY[...] (RFC 9051 §6.4.5). */
export interface Section extends SectionPath {
  /** Field names for HEADER.FIELDS and HEADER.FIELDS.NOT, upper-cased. */
  fields?: string[];
}

/** One FETCH data item (RFC 9051 §6.4.5). */
export type FetchItem =
  | {
    item:
      | "UID"
      | "FLAGS"
      | "INTERNALDATE"
      | "RFC822.SIZE"
      | "ENVELOPE"
      | "BODYSTRUCTURE"
      | "BODY"
      | "MODSEQ"
      | "RFC822"
      | "RFC822.HEADER"
      | "RFC822.TEXT";
  }
  | {
    item: "BODY[]" | "BINARY[]" | "BINARY.SIZE[]";
    section: Section;
    /** BODY.PEEK / BINARY.PEEK: do not set \Seen. */
    peek: boolean;
    /** `<offset.count>`. */
    partial?: { offset: number; count: number };
  };

/** The arguments of FETCH. */
export interface FetchArgs {
  set: SequenceSet;
  items: FetchItem[];
  /** CHANGEDSINCE (RFC 7162 §3.1.4). */
  changedSince?: bigint;
  /** VANISHED (RFC 7162 §3.2.6), with UID FETCH and CHANGEDSINCE only. */
  vanished?: boolean;
}

/** The arguments of STORE. */
export interface StoreArgs {
  set: SequenceSet;
  mode: "set" | "add" | "remove";
  silent: boolean;
  flags: Flag[];
  /** UNCHANGEDSINCE (RFC 7162 §3.1.3). */
  unchangedSince?: bigint;
}

/** SEARCH RETURN options (ESEARCH, RFC 4731 / RFC 9051 §6.4.4). */
export type SearchReturn = "MIN" | "MAX" | "ALL" | "COUNT" | "SAVE";

/** The arguments of SEARCH. */
export interface SearchArgs {
  /** RETURN (...) given: answer with ESEARCH; an empty list means ALL. */
  returns?: SearchReturn[];
  charset?: string;
  key: SearchKey;
}

/** LIST arguments, with LIST-EXTENDED (RFC 5258) and LIST-STATUS (RFC 5819). */
export interface ListArgs {
  reference: string;
  /** One or more patterns; `*` and `%` wildcards. */
  patterns: string[];
  /** Selection options: SUBSCRIBED, SPECIAL-USE, REMOTE, RECURSIVEMATCH (upper-cased). */
  select: string[];
  /** Return options: SUBSCRIBED, CHILDREN, SPECIAL-USE (upper-cased). */
  returns: string[];
  /** RETURN (STATUS (...)): the items wanted. */
  status?: string[];
}

/** SELECT/EXAMINE parameters (RFC 7162). */
export interface SelectArgs {
  mailbox: string;
  condstore: boolean;
  /** QRESYNC (uidvalidity modseq [known-uids [(seq-match uid-match)]]). */
  qresync?: {
    uidvalidity: number;
    modseq: bigint;
    knownUids?: SequenceSet;
    match?: { seqs: SequenceSet; uids: SequenceSet };
  };
}

/** One APPEND message (RFC 9051 §6.3.12, MULTIAPPEND is not offered). */
export interface AppendArgs {
  mailbox: string;
  flags: Flag[];
  /** The date-time given, as a Date; undefined: now. */
  date?: Date;
  message: Uint8Array;
  /** The message came as a literal8 (`~{n}`, RFC 3516 §4.4, or UTF8 (...) of RFC 6855 §4). */
  binary?: boolean;
}

/** One resource of SETQUOTA (RFC 9208 §4.1.3 setquota-resource). */
export interface QuotaLimit {
  /** STORAGE, MESSAGE, MAILBOX, ANNOTATION-STORAGE or another atom, upper-cased. */
  resource: string;
  limit: number;
}

/** A parsed command: its tag, its name (upper-cased, "UID FETCH" etc.) and its arguments. */
export type Command =
  | {
    tag: string;
    name:
      | "CAPABILITY"
      | "NOOP"
      | "LOGOUT"
      | "STARTTLS"
      | "CHECK"
      | "CLOSE"
      | "UNSELECT"
      | "EXPUNGE"
      | "IDLE"
      | "NAMESPACE";
  }
  | { tag: string; name: "LOGIN"; user: string; password: string }
  /** `mechanism` upper-cased; `initialResponse` (SASL-IR, RFC 4959) base64 as sent, "" for "=". */
  | { tag: string; name: "AUTHENTICATE"; mechanism: string; initialResponse?: string }
  /** `capabilities` upper-cased. */
  | { tag: string; name: "ENABLE"; capabilities: string[] }
  | { tag: string; name: "ID"; params: [string, string | null][] | null }
  | { tag: string; name: "SELECT" | "EXAMINE"; args: SelectArgs }
  | { tag: string; name: "CREATE" | "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE"; mailbox: string }
  | { tag: string; name: "RENAME"; from: string; to: string }
  | { tag: string; name: "LIST"; args: ListArgs }
  | { tag: string; name: "LSUB"; reference: string; pattern: string }
  | { tag: string; name: "STATUS"; mailbox: string; items: string[] }
  | { tag: string; name: "APPEND"; args: AppendArgs }
  | { tag: string; name: "UID EXPUNGE"; set: SequenceSet }
  /** GETQUOTA (RFC 9208 §4.1.1): a quota root name. */
  | { tag: string; name: "GETQUOTA"; root: string }
  /** GETQUOTAROOT (RFC 9208 §4.1.2). */
  | { tag: string; name: "GETQUOTAROOT"; mailbox: string }
  /** SETQUOTA (RFC 9208 §4.1.3): resource names upper-cased, with their new limits. */
  | { tag: string; name: "SETQUOTA"; root: string; limits: QuotaLimit[] }
  | { tag: string; name: "SEARCH" | "UID SEARCH"; args: SearchArgs }
  | { tag: string; name: "FETCH" | "UID FETCH"; args: FetchArgs }
  | { tag: string; name: "STORE" | "UID STORE"; args: StoreArgs }
  | {
    tag: string;
    name: "COPY" | "UID COPY" | "MOVE" | "UID MOVE";
    set: SequenceSet;
    mailbox: string;
  };

/** The command variant whose name (a union in some variants) includes `N`. */
export type CommandOf<N extends Command["name"]> = Command extends infer C
  ? C extends { name: infer K } ? N extends K ? C : never : never
  : never;

/** A command the parser refused: `tag` when it got that far, and the reason (a BAD reply). */
export class ImapParseError extends Error {
  readonly tag?: string;
  constructor(message: string, tag?: string) {
    super(message);
    this.name = "ImapParseError";
    this.tag = tag;
  }
}
