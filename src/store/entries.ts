/**
 * The messages of one mailbox as IMAP sees them: uids, flags and keywords,
 * modification sequences (RFC 7162 CONDSTORE) and expunges remembered for
 * QRESYNC. Every change to an entry takes the mailbox's next modseq.
 */
import type { Store } from "./db.ts";
import { FLAG_ANSWERED, FLAG_DELETED, FLAG_DRAFT, FLAG_FLAGGED, FLAG_SEEN } from "./mailboxes.ts";

/** A mailbox's counters. */
export interface MailboxState {
  id: number;
  uidvalidity: number;
  uidnext: number;
  highestModseq: number;
  firstRecentUid: number;
}

/** One message of a mailbox. */
export interface Entry {
  uid: number;
  messageId: number;
  /** Bits of FLAG_* (mailboxes.ts). */
  flags: number;
  /** Keywords, as the client wrote them. */
  keywords: string[];
  /** Milliseconds since the epoch. */
  internalDate: number;
  size: number;
  modseq: number;
}

/** The system flags by name (RFC 9051 §2.3.2), lower-cased. */
export const SYSTEM_FLAGS: ReadonlyMap<string, number> = new Map([
  ["\\seen", FLAG_SEEN],
  ["\\answered", FLAG_ANSWERED],
  ["\\flagged", FLAG_FLAGGED],
  ["\\deleted", FLAG_DELETED],
  ["\\draft", FLAG_DRAFT],
]);

/** The flags of an entry as IMAP names them. */
export function flagNames(flags: number, keywords: string[]): string[] {
  const names: string[] = [];
  if (flags & FLAG_SEEN) names.push("\\Seen");
  if (flags & FLAG_ANSWERED) names.push("\\Answered");
  if (flags & FLAG_FLAGGED) names.push("\\Flagged");
  if (flags & FLAG_DELETED) names.push("\\Deleted");
  if (flags & FLAG_DRAFT) names.push("\\Draft");
  return [...names, ...keywords];
}

/** Splits flag names into system-flag bits and keywords (duplicates dropped). */
export function parseFlags(names: string[]): { flags: number; keywords: string[] } {
  let flags = 0;
  const keywords: string[] = [];
  for (const name of names) {
    const bit = SYSTEM_FLAGS.get(name.toLowerCase());
    if (bit !== undefined) flags |= bit;
    else if (
      !name.startsWith("\\") && !keywords.some((k) => k.toLowerCase() === name.toLowerCase())
    ) {
      keywords.push(name);
    }
  }
  return { flags, keywords };
}

interface Row {
  uid: number;
  message_id: number;
  flags: number;
  keywords: string;
  internal_date: number;
  size: number;
  modseq: number;
}

function entry(r: Row): Entry {
  return {
    uid: r.uid,
    messageId: r.message_id,
    flags: r.flags,
    keywords: r.keywords === "" ? [] : r.keywords.split(" "),
    internalDate: r.internal_date,
    size: r.size,
    modseq: r.modseq,
  };
}

const COLUMNS = "uid, message_id, flags, keywords, internal_date, size, modseq";

/** A mailbox's counters, or undefined when it is gone. */
export function mailboxState(store: Store, mailboxId: number): MailboxState | undefined {
  const r = store.get<{
    uidvalidity: number;
    uidnext: number;
    highest_modseq: number;
    first_recent_uid: number;
  }>(
    "SELECT uidvalidity, uidnext, highest_modseq, first_recent_uid FROM mailboxes WHERE id = ?",
    mailboxId,
  );
  return r && {
    id: mailboxId,
    uidvalidity: r.uidvalidity,
    uidnext: r.uidnext,
    highestModseq: r.highest_modseq,
    firstRecentUid: r.first_recent_uid,
  };
}

/** Every uid of a mailbox, ascending. */
export function listUids(store: Store, mailboxId: number): number[] {
  return store.prepare("SELECT uid FROM mailbox_entries WHERE mailbox_id = ? ORDER BY uid")
    .all(mailboxId).map((r) => (r as { uid: number }).uid);
}

/** The uid of the oldest message without \Seen, or undefined. */
export function firstUnseenUid(store: Store, mailboxId: number): number | undefined {
  return store.get<{ uid: number | null }>(
    "SELECT min(uid) uid FROM mailbox_entries WHERE mailbox_id = ? AND flags & ? = 0",
    mailboxId,
    FLAG_SEEN,
  )?.uid ?? undefined;
}

/** The keywords in use in a mailbox (for the FLAGS of SELECT). */
export function keywordsInUse(store: Store, mailboxId: number): string[] {
  const keywords = new Set<string>();
  for (
    const { keywords: list } of store.all<{ keywords: string }>(
      "SELECT DISTINCT keywords FROM mailbox_entries WHERE mailbox_id = ? AND keywords <> ''",
      mailboxId,
    )
  ) {
    for (const k of list.split(" ")) keywords.add(k);
  }
  return [...keywords];
}

/** The entries with uids in [from, to], ascending. */
export function entriesBetween(store: Store, mailboxId: number, from: number, to: number): Entry[] {
  return store.all<Row>(
    `SELECT ${COLUMNS} FROM mailbox_entries WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`,
    mailboxId,
    from,
    to,
  ).map(entry);
}

/** At most `limit` entries with uids above `afterUid`, ascending (for reading a mailbox in pages). */
export function entriesAfter(
  store: Store,
  mailboxId: number,
  afterUid: number,
  limit: number,
): Entry[] {
  return store.all<Row>(
    `SELECT ${COLUMNS} FROM mailbox_entries WHERE mailbox_id = ? AND uid > ? ORDER BY uid LIMIT ?`,
    mailboxId,
    afterUid,
    limit,
  ).map(entry);
}

/** One entry by uid. */
export function entryByUid(store: Store, mailboxId: number, uid: number): Entry | undefined {
  const r = store.get<Row>(
    `SELECT ${COLUMNS} FROM mailbox_entries WHERE mailbox_id = ? AND uid = ?`,
    mailboxId,
    uid,
  );
  return r && entry(r);
}

/** Entries changed (flags or new) after `modseq`, ascending by uid. */
export function changedSince(store: Store, mailboxId: number, modseq: number): Entry[] {
  return store.all<Row>(
    `SELECT ${COLUMNS} FROM mailbox_entries WHERE mailbox_id = ? AND modseq > ? ORDER BY uid`,
    mailboxId,
    modseq,
  ).map(entry);
}

/** Uids expunged after `modseq`, ascending. */
export function expungedSince(store: Store, mailboxId: number, modseq: number): number[] {
  return store.all<{ uid: number }>(
    "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
    mailboxId,
    modseq,
  ).map((r) => r.uid);
}

/** Takes the mailbox's next modseq. Call inside a transaction. */
function nextModseq(store: Store, mailboxId: number): number {
  return store.get<{ m: number }>(
    "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ? RETURNING highest_modseq m",
    mailboxId,
  )!.m;
}

/** How a STORE changes flags. */
export interface FlagChange {
  mode: "set" | "add" | "remove";
  flags: number;
  keywords: string[];
  /** Only entries whose modseq is at most this (RFC 7162 UNCHANGEDSINCE). */
  unchangedSince?: number;
}

/**
 * Changes the flags of the given uids in one transaction; entries whose
 * flags do not change keep their modseq. Returns the changed entries and the
 * uids refused by UNCHANGEDSINCE.
 */
export function storeFlags(
  store: Store,
  mailboxId: number,
  uids: number[],
  change: FlagChange,
): { changed: Entry[]; failed: number[] } {
  return store.transaction(() => {
    const changed: Entry[] = [];
    const failed: number[] = [];
    let modseq: number | undefined;
    for (const uid of uids) {
      const e = entryByUid(store, mailboxId, uid);
      if (!e) continue;
      if (change.unchangedSince !== undefined && e.modseq > change.unchangedSince) {
        failed.push(uid);
        continue;
      }
      const lower = (k: string[]) => new Set(k.map((x) => x.toLowerCase()));
      let flags = e.flags;
      let keywords = e.keywords;
      if (change.mode === "set") {
        flags = change.flags;
        keywords = change.keywords;
      } else if (change.mode === "add") {
        flags |= change.flags;
        const have = lower(keywords);
        keywords = [...keywords, ...change.keywords.filter((k) => !have.has(k.toLowerCase()))];
      } else {
        flags &= ~change.flags;
        const drop = lower(change.keywords);
        keywords = keywords.filter((k) => !drop.has(k.toLowerCase()));
      }
      if (flags === e.flags && keywords.join(" ") === e.keywords.join(" ")) continue;
      modseq ??= nextModseq(store, mailboxId); // one modseq for the whole STORE
      store.run(
        "UPDATE mailbox_entries SET flags = ?, keywords = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?",
        flags,
        keywords.join(" "),
        modseq,
        mailboxId,
        uid,
      );
      changed.push({ ...e, flags, keywords, modseq });
    }
    return { changed, failed };
  });
}

/**
 * Removes entries (all given uids, or with `deletedOnly` those flagged
 * \Deleted) and remembers them for QRESYNC. Returns the uids removed.
 */
export function expungeEntries(
  store: Store,
  mailboxId: number,
  uids?: number[],
  options: { deletedOnly?: boolean } = {},
): number[] {
  return store.transaction(() => {
    const candidates = uids ??
      store.all<{ uid: number }>(
        "SELECT uid FROM mailbox_entries WHERE mailbox_id = ? AND flags & ? ORDER BY uid",
        mailboxId,
        FLAG_DELETED,
      ).map((r) => r.uid);
    const removed: number[] = [];
    let modseq: number | undefined;
    for (const uid of candidates) {
      const where = options.deletedOnly ? " AND flags & ?" : "";
      const args = options.deletedOnly ? [mailboxId, uid, FLAG_DELETED] : [mailboxId, uid];
      const r = store.run(
        `DELETE FROM mailbox_entries WHERE mailbox_id = ? AND uid = ?${where}`,
        ...args,
      );
      if (r.changes === 0) continue;
      modseq ??= nextModseq(store, mailboxId);
      store.run(
        "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
        mailboxId,
        uid,
        modseq,
      );
      removed.push(uid);
    }
    return removed;
  });
}

/**
 * Copies entries to another mailbox (same body, flags and internal date,
 * new uids in order). Returns the pairs of source and new uids.
 */
export function copyEntries(
  store: Store,
  fromMailbox: number,
  uids: number[],
  toMailbox: number,
): { from: number; to: number }[] {
  return store.transaction(() => {
    const pairs: { from: number; to: number }[] = [];
    for (const uid of uids) {
      const e = entryByUid(store, fromMailbox, uid);
      if (!e) continue;
      const box = store.get<{ uid: number; modseq: number }>(
        `UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1
         WHERE id = ? RETURNING uidnext - 1 uid, highest_modseq modseq`,
        toMailbox,
      )!;
      store.run(
        `INSERT INTO mailbox_entries
           (mailbox_id, uid, message_id, flags, keywords, internal_date, size, modseq, saved_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        toMailbox,
        box.uid,
        e.messageId,
        e.flags,
        e.keywords.join(" "),
        e.internalDate,
        e.size,
        box.modseq,
        Date.now(),
      );
      pairs.push({ from: uid, to: box.uid });
    }
    return pairs;
  });
}

/** Moves entries: a copy and an expunge of the originals, in one transaction (RFC 6851). */
export function moveEntries(
  store: Store,
  fromMailbox: number,
  uids: number[],
  toMailbox: number,
): { from: number; to: number }[] {
  return store.transaction(() => {
    const pairs = copyEntries(store, fromMailbox, uids, toMailbox);
    expungeEntries(store, fromMailbox, pairs.map((p) => p.from));
    return pairs;
  });
}

/**
 * IMAP4rev1 \Recent (RFC 3501 §2.3.2): the uids at or after the mailbox's
 * first recent uid go to the session that asks first; later sessions see none.
 */
export function claimRecent(store: Store, mailboxId: number): number {
  return store.transaction(() => {
    const state = mailboxState(store, mailboxId)!;
    store.run("UPDATE mailboxes SET first_recent_uid = uidnext WHERE id = ?", mailboxId);
    return state.firstRecentUid;
  });
}

/** The message bytes of an entry's body (empty if gone). */
export function messageBody(store: Store, messageId: number): Uint8Array {
  return store.get<{ body: Uint8Array }>("SELECT body FROM messages WHERE id = ?", messageId)
    ?.body ?? new Uint8Array();
}

/** The stored FETCH metadata of a message (JSON text), if computed. */
export function messageMeta(store: Store, messageId: number): string | undefined {
  return store.get<{ meta: string | null }>("SELECT meta FROM messages WHERE id = ?", messageId)
    ?.meta ?? undefined;
}

/** Stores computed FETCH metadata for a message delivered before it was computed at delivery. */
export function saveMessageMeta(store: Store, messageId: number, meta: string): void {
  store.run("UPDATE messages SET meta = ? WHERE id = ? AND meta IS NULL", meta, messageId);
}

/** An entry with what FETCH may need of its message. */
export interface FetchRow extends Entry {
  /** The stored FETCH metadata (JSON), when asked for and computed. */
  meta?: string;
  /** The message, when asked for. */
  body?: Uint8Array;
}

/**
 * Entries with uids in [from, to] and, as asked, their messages' metadata
 * and bodies, in one query (a FETCH of many messages must not make one
 * query per message).
 */
export function fetchRows(
  store: Store,
  mailboxId: number,
  from: number,
  to: number,
  want: { meta: boolean; body: boolean },
): FetchRow[] {
  const extra = `${want.meta ? ", m.meta" : ""}${want.body ? ", m.body" : ""}`;
  const join = want.meta || want.body ? " JOIN messages m ON m.id = e.message_id" : "";
  return store.all<Row & { meta?: string | null; body?: Uint8Array }>(
    `SELECT e.uid, e.message_id, e.flags, e.keywords, e.internal_date, e.size, e.modseq${extra}
     FROM mailbox_entries e${join}
     WHERE e.mailbox_id = ? AND e.uid BETWEEN ? AND ? ORDER BY e.uid`,
    mailboxId,
    from,
    to,
  ).map((r) => {
    const row: FetchRow = entry(r);
    if (r.meta) row.meta = r.meta;
    if (r.body) row.body = r.body;
    return row;
  });
}
