/**
 * Retention (issue 15): mail saved into Trash or Junk longer ago than the
 * configured age is expunged, as an IMAP EXPUNGE would (recorded for
 * QRESYNC's VANISHED, usage counters updated by their triggers). The age
 * counts from when a message was saved into that mailbox (migration 9's
 * `saved_at`), not from its date: a years-old message deleted today stays
 * its full time in Trash.
 */
import type { Store } from "./db.ts";
import { expungeEntries } from "./entries.ts";

/** How long mail stays, per special use; 0 keeps it. */
export interface RetentionAges {
  trashMs: number;
  junkMs: number;
}

/** What one round expunged: messages per mailbox. */
export type Expired = Map<number, number>;

/** Expunges what has stayed too long in every account's Trash and Junk; at most `limit` each round. */
export function expireOldMail(
  store: Store,
  ages: RetentionAges,
  now = Date.now(),
  limit = 10_000,
): Expired {
  const expired: Expired = new Map();
  for (const [specialUse, ms] of [["\\Trash", ages.trashMs], ["\\Junk", ages.junkMs]] as const) {
    if (ms <= 0) continue;
    const rows = store.all<{ mailbox_id: number; uid: number }>(
      `SELECT e.mailbox_id, e.uid FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
       WHERE b.special_use = ? AND e.saved_at < ? ORDER BY e.mailbox_id, e.uid LIMIT ?`,
      specialUse,
      now - ms,
      limit,
    );
    const byMailbox = new Map<number, number[]>();
    for (const r of rows) {
      const uids = byMailbox.get(r.mailbox_id) ?? [];
      uids.push(r.uid);
      byMailbox.set(r.mailbox_id, uids);
    }
    for (const [mailboxId, uids] of byMailbox) {
      const removed = expungeEntries(store, mailboxId, uids);
      if (removed.length > 0) expired.set(mailboxId, removed.length);
    }
  }
  return expired;
}
