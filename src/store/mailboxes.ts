/**
 * Mailboxes and their messages. A body is stored once in `messages` and
 * shared by every mailbox entry (and queue item) that refers to it; triggers
 * drop a body when the last reference goes (see migrations.ts).
 */
import type { Store } from "./db.ts";

/** The name of every user's incoming mailbox (RFC 9051 §5.1: case-insensitive, stored as is). */
export const INBOX = "INBOX";

/** System flags as bits of `mailbox_entries.flags` (RFC 9051 §2.3.2). */
export const FLAG_SEEN = 1;
export const FLAG_ANSWERED = 2;
export const FLAG_FLAGGED = 4;
export const FLAG_DELETED = 8;
export const FLAG_DRAFT = 16;

/** The special-use attribute (RFC 6154) of the standard mailboxes, by name. */
export const SPECIAL_USE: ReadonlyMap<string, string> = new Map(
  ["Sent", "Drafts", "Trash", "Junk", "Archive"].map((name) => [name, `\\${name}`]),
);

/** Where one copy of a message goes. */
export interface MailboxTarget {
  userId: number;
  /** @default "INBOX" — created on demand when missing (e.g. "Junk"). */
  mailbox?: string;
}

/** A message to store, for local mailboxes and the outbound queue, in one transaction. */
export interface Delivery {
  /** The exact bytes to store (CRLF line endings, trace headers already prepended). */
  body: Uint8Array;
  mailboxes: MailboxTarget[];
  /** Remote recipients, queued for the outbound runner with the envelope sender ("" for <>). */
  outbound?: { sender: string; recipients: string[] };
  /**
   * Where the queued copy starts in `body` when it differs (a local copy
   * starts with Return-Path, which the queued copy must not have). @default 0
   */
  outboundOffset?: number;
  /** @default now */
  internalDate?: Date;
  /** Some line of the body starts with "."; false lets POP3 skip dot-stuffing. @default true */
  dotLines?: boolean;
  /** System flags (FLAG_* bits) of the new entries (IMAP APPEND). @default 0 */
  flags?: number;
  /** Keywords of the new entries (IMAP APPEND). @default none */
  keywords?: string[];
  /** What IMAP FETCH needs of the message (JSON, src/mail/message_meta.ts); else computed on first FETCH. */
  meta?: string;
}

/** What {@link deliver} stored. */
export interface DeliveryResult {
  messageId: number;
  entries: { userId: number; mailboxId: number; uid: number }[];
  queueId?: number;
}

/**
 * A UIDVALIDITY no mailbox ever had, for a new or renamed mailbox: a name
 * used again must not get its old uids' meaning back (RFC 9051 §2.3.1.1).
 * Time-based, and above every value given out before, deleted mailboxes'
 * included, so two creations in one second still differ.
 */
export function nextUidValidity(store: Store): number {
  return store.get<{ value: number }>(
    `INSERT INTO counters (name, value)
     VALUES ('uidvalidity', max(?, coalesce((SELECT max(uidvalidity) + 1 FROM mailboxes), 1)))
     ON CONFLICT (name) DO UPDATE SET value = max(value + 1, excluded.value)
     RETURNING value`,
    Math.floor(Date.now() / 1000),
  )!.value;
}

/** Creates a mailbox for a user and returns its id. */
export function createMailbox(
  store: Store,
  userId: number,
  name: string,
  specialUse?: string,
): number {
  const { lastInsertRowid } = store.run(
    "INSERT INTO mailboxes (user_id, name, special_use, uidvalidity) VALUES (?, ?, ?, ?)",
    userId,
    name,
    specialUse ?? null,
    nextUidValidity(store),
  );
  return lastInsertRowid;
}

/** The id of a user's mailbox by name, or undefined. */
export function findMailbox(store: Store, userId: number, name: string): number | undefined {
  return store.get<{ id: number }>(
    "SELECT id FROM mailboxes WHERE user_id = ? AND name = ?",
    userId,
    name,
  )?.id;
}

/**
 * Stores `body` once and adds it to every target mailbox (once per mailbox,
 * however often it is named) and to the outbound queue, atomically: either
 * everything is stored or nothing is.
 */
export function deliver(store: Store, delivery: Delivery): DeliveryResult {
  return store.transaction(() => insertDelivery(store, delivery));
}

/**
 * The work of {@link deliver} without a transaction of its own: the caller
 * holds one (the group commit runs many of these in one transaction).
 */
export function insertDelivery(store: Store, delivery: Delivery): DeliveryResult {
  const now = Date.now();
  const internalDate = delivery.internalDate?.getTime() ?? now;
  const dotLines = delivery.dotLines === false ? 0 : 1;
  const { lastInsertRowid: messageId } = store.run(
    "INSERT INTO messages (body, size, created_at, dot_lines, meta) VALUES (?, ?, ?, ?, ?)",
    delivery.body,
    delivery.body.byteLength,
    now,
    dotLines,
    delivery.meta ?? null,
  );
  const entries: DeliveryResult["entries"] = [];
  const seen = new Set<number>();
  for (const target of delivery.mailboxes) {
    const name = target.mailbox ?? INBOX;
    const mailboxId = findMailbox(store, target.userId, name) ??
      createMailbox(store, target.userId, name, SPECIAL_USE.get(name));
    if (seen.has(mailboxId)) continue;
    seen.add(mailboxId);
    const box = store.get<{ uid: number; modseq: number }>(
      `UPDATE mailboxes SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1
       WHERE id = ? RETURNING uidnext - 1 uid, highest_modseq modseq`,
      mailboxId,
    )!;
    store.run(
      `INSERT INTO mailbox_entries
         (mailbox_id, uid, message_id, flags, keywords, internal_date, size, modseq, saved_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      mailboxId,
      box.uid,
      messageId,
      delivery.flags ?? 0,
      (delivery.keywords ?? []).join(" "),
      internalDate,
      delivery.body.byteLength,
      box.modseq,
      now,
    );
    entries.push({ userId: target.userId, mailboxId, uid: box.uid });
  }
  let queueId: number | undefined;
  const out = delivery.outbound;
  if (out && out.recipients.length > 0) {
    const offset = delivery.outboundOffset ?? 0;
    const queuedMessageId = offset > 0 && entries.length > 0
      ? store.run(
        "INSERT INTO messages (body, size, created_at, dot_lines) VALUES (?, ?, ?, ?)",
        delivery.body.subarray(offset),
        delivery.body.byteLength - offset,
        now,
        dotLines,
      ).lastInsertRowid
      : messageId;
    queueId = store.get<{ value: number }>(
      "UPDATE counters SET value = value + 1 WHERE name = 'queue' RETURNING value",
    )!.value;
    store.run(
      "INSERT INTO queue (id, message_id, sender, created_at) VALUES (?, ?, ?, ?)",
      queueId,
      queuedMessageId,
      out.sender,
      now,
    );
    for (const rcpt of new Set(out.recipients)) {
      store.run(
        "INSERT INTO queue_recipients (queue_id, recipient, next_attempt_at) VALUES (?, ?, ?)",
        queueId,
        rcpt,
        now,
      );
    }
  }
  if (entries.length === 0 && queueId === undefined) {
    throw new Error("A delivery needs at least one mailbox or outbound recipient");
  }
  return { messageId, entries, queueId };
}

/** How many messages now stored arrived at or after `since` (ms since the epoch). */
export function messagesStoredSince(store: Store, since: number): number {
  return store.get<{ n: number }>("SELECT count(*) n FROM messages WHERE created_at >= ?", since)!
    .n;
}
