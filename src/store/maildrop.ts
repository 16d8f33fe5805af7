/**
 * A user's INBOX as POP3 sees it (RFC 1939 maildrop): a snapshot of its
 * messages at login, bodies read in slices so a large message is never held
 * whole, and removal of the messages a session deleted.
 */
import type { Store } from "./db.ts";
import { expungeEntries } from "./entries.ts";
import { findMailbox, INBOX } from "./mailboxes.ts";

/** One message of the snapshot. */
export interface MaildropMessage {
  uid: number;
  messageId: number;
  /** Octets as stored and as RETR sends them (before dot-stuffing). */
  size: number;
  /** Some line starts with "." and needs stuffing (true when unknown). */
  dotLines: boolean;
}

/** The INBOX at login. */
export interface Maildrop {
  mailboxId: number;
  uidvalidity: number;
  messages: MaildropMessage[];
}

/** The user's INBOX, oldest message first; undefined when the user has none. */
export function openMaildrop(store: Store, userId: number): Maildrop | undefined {
  const mailboxId = findMailbox(store, userId, INBOX);
  if (mailboxId === undefined) return undefined;
  const { uidvalidity } = store.get<{ uidvalidity: number }>(
    "SELECT uidvalidity FROM mailboxes WHERE id = ?",
    mailboxId,
  )!;
  const messages = store.all<{ uid: number; message_id: number; size: number; dot_lines: number }>(
    `SELECT e.uid, e.message_id, e.size, m.dot_lines FROM mailbox_entries e
     JOIN messages m ON m.id = e.message_id WHERE e.mailbox_id = ? ORDER BY e.uid`,
    mailboxId,
  ).map((r) => ({
    uid: r.uid,
    messageId: r.message_id,
    size: r.size,
    dotLines: r.dot_lines !== 0,
  }));
  return { mailboxId, uidvalidity, messages };
}

/** A whole message body (empty if it is gone). */
export function readBody(store: Store, messageId: number): Uint8Array {
  return store.get<{ body: Uint8Array }>("SELECT body FROM messages WHERE id = ?", messageId)
    ?.body ?? new Uint8Array();
}

/** Several whole bodies in one query, by message id (those gone are missing). */
export function readBodies(store: Store, messageIds: number[]): Map<number, Uint8Array> {
  const rows = store.all<{ id: number; body: Uint8Array }>(
    "SELECT id, body FROM messages WHERE id IN (SELECT value FROM json_each(?))",
    JSON.stringify(messageIds),
  );
  return new Map(rows.map((r) => [r.id, r.body]));
}

/**
 * `length` octets of a message body from `offset` (fewer at its end; empty
 * if it is gone). SQLite reads a blob whole even for a slice, so callers
 * should ask for what they need in as few calls as they can.
 */
export function readBodySlice(
  store: Store,
  messageId: number,
  offset: number,
  length: number,
): Uint8Array {
  const row = store.get<{ part: Uint8Array | null }>(
    "SELECT substr(body, ?, ?) part FROM messages WHERE id = ?",
    offset + 1,
    length,
    messageId,
  );
  return row?.part ?? new Uint8Array();
}

/**
 * Removes the given messages from a mailbox in one transaction; messages
 * already gone (removed by another session) are skipped. Returns how many
 * were removed. IMAP sessions learn of it like of their own expunges.
 */
export function removeMessages(store: Store, mailboxId: number, uids: number[]): number {
  if (uids.length === 0) return 0;
  return expungeEntries(store, mailboxId, uids).length;
}
