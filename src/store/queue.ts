/**
 * The outbound queue: one item per accepted message with remote recipients
 * (written in the same transaction that acknowledged it, see mailboxes.ts),
 * and a status per recipient, so one recipient's failure never resends to
 * the others. Finished items are removed; their body goes with the last
 * reference (triggers in migrations.ts).
 */
import type { Store } from "./db.ts";

/** A recipient due for a delivery attempt. */
export interface DueRecipient {
  queueId: number;
  messageId: number;
  /** The envelope sender; "" for the null sender. */
  sender: string;
  recipient: string;
  attempts: number;
  /** When the message was queued (ms since the epoch). */
  queuedAt: number;
}

/** One queue item as `postino queue list` shows it. */
export interface QueueItem {
  id: number;
  sender: string;
  size: number;
  queuedAt: Date;
  recipients: {
    address: string;
    status: "pending" | "delivered" | "failed";
    attempts: number;
    nextAttemptAt: Date;
    lastError?: string;
  }[];
}

/** A queue item as JSON (`queue list --json`, the API): ISO dates, null for none. */
export function queueItemJson(item: QueueItem) {
  return {
    id: item.id,
    sender: item.sender,
    size: item.size,
    queuedAt: item.queuedAt.toISOString(),
    recipients: item.recipients.map((r) => ({
      address: r.address,
      status: r.status,
      attempts: r.attempts,
      nextAttemptAt: r.status === "pending" ? r.nextAttemptAt.toISOString() : null,
      lastError: r.lastError ?? null,
    })),
  };
}

/** Pending recipients whose next attempt is due at `now`, oldest due first. */
export function dueRecipients(store: Store, now: number, limit = 500): DueRecipient[] {
  return store.all<{
    queue_id: number;
    message_id: number;
    sender: string;
    recipient: string;
    attempts: number;
    created_at: number;
  }>(
    `SELECT r.queue_id, q.message_id, q.sender, r.recipient, r.attempts, q.created_at
     FROM queue_recipients r JOIN queue q ON q.id = r.queue_id
     WHERE r.status = 'pending' AND r.next_attempt_at <= ?
     ORDER BY r.next_attempt_at, r.queue_id LIMIT ?`,
    now,
    limit,
  ).map((r) => ({
    queueId: r.queue_id,
    messageId: r.message_id,
    sender: r.sender,
    recipient: r.recipient,
    attempts: r.attempts,
    queuedAt: r.created_at,
  }));
}

/** When the next pending recipient is due (ms since the epoch), or undefined when none is. */
export function nextDueAt(store: Store): number | undefined {
  return store.get<{ t: number | null }>(
    "SELECT min(next_attempt_at) t FROM queue_recipients WHERE status = 'pending'",
  )?.t ?? undefined;
}

function setStatus(
  store: Store,
  queueId: number,
  recipients: string[],
  status: "delivered" | "failed" | "pending",
  nextAttemptAt: number,
  error: string | null,
): void {
  for (const rcpt of recipients) {
    store.run(
      `UPDATE queue_recipients SET status = ?, attempts = attempts + 1, next_attempt_at = ?,
         last_error = coalesce(?, last_error)
       WHERE queue_id = ? AND recipient = ? AND status = 'pending'`,
      status,
      nextAttemptAt,
      error,
      queueId,
      rcpt,
    );
  }
}

/** Records a successful delivery to these recipients. */
export function markDelivered(store: Store, queueId: number, recipients: string[]): void {
  store.transaction(() => {
    setStatus(store, queueId, recipients, "delivered", Date.now(), null);
    removeIfFinished(store, queueId);
  });
}

/** Records a temporary failure; the recipients are tried again at `nextAttemptAt`. */
export function markDeferred(
  store: Store,
  queueId: number,
  recipients: string[],
  nextAttemptAt: number,
  error: string,
): void {
  store.transaction(() => setStatus(store, queueId, recipients, "pending", nextAttemptAt, error));
}

/**
 * Records a permanent failure. Run it in the same transaction as the bounce
 * it causes, so a crash can neither lose the bounce nor send it twice.
 */
export function markFailed(
  store: Store,
  queueId: number,
  recipients: string[],
  error: string,
): void {
  store.transaction(() => {
    setStatus(store, queueId, recipients, "failed", Date.now(), error);
    removeIfFinished(store, queueId);
  });
}

/** Removes a queue item once none of its recipients is pending. */
function removeIfFinished(store: Store, queueId: number): void {
  const pending = store.get(
    "SELECT 1 FROM queue_recipients WHERE queue_id = ? AND status = 'pending' LIMIT 1",
    queueId,
  );
  if (!pending) store.run("DELETE FROM queue WHERE id = ?", queueId);
}

/** The queued message's bytes (empty when the item is gone). */
export function queuedBody(store: Store, messageId: number): Uint8Array {
  return store.get<{ body: Uint8Array }>("SELECT body FROM messages WHERE id = ?", messageId)
    ?.body ?? new Uint8Array();
}

/** Every queue item with its recipients, oldest first. */
export function listQueue(store: Store): QueueItem[] {
  const items = store.all<{ id: number; sender: string; size: number; created_at: number }>(
    `SELECT q.id, q.sender, m.size, q.created_at FROM queue q
     JOIN messages m ON m.id = q.message_id ORDER BY q.id`,
  );
  return items.map((q) => ({
    id: q.id,
    sender: q.sender,
    size: q.size,
    queuedAt: new Date(q.created_at),
    recipients: store.all<{
      recipient: string;
      status: "pending" | "delivered" | "failed";
      attempts: number;
      next_attempt_at: number;
      last_error: string | null;
    }>(
      `SELECT recipient, status, attempts, next_attempt_at, last_error
       FROM queue_recipients WHERE queue_id = ? ORDER BY recipient`,
      q.id,
    ).map((r) => ({
      address: r.recipient,
      status: r.status,
      attempts: r.attempts,
      nextAttemptAt: new Date(r.next_attempt_at),
      lastError: r.last_error ?? undefined,
    })),
  }));
}

/** Makes an item's pending recipients due now; false when there is no such item. */
export function retryNow(store: Store, queueId: number): boolean {
  return store.transaction(() => {
    if (!store.get("SELECT 1 FROM queue WHERE id = ?", queueId)) return false;
    store.run(
      "UPDATE queue_recipients SET next_attempt_at = ? WHERE queue_id = ? AND status = 'pending'",
      Date.now(),
      queueId,
    );
    return true;
  });
}

/** Removes a queue item without delivering it; false when there is no such item. */
export function deleteQueueItem(store: Store, queueId: number): boolean {
  return store.run("DELETE FROM queue WHERE id = ?", queueId).changes > 0;
}

/** How many messages wait in the queue and when the oldest was queued (ms; undefined when empty). */
export function queueStats(store: Store): { messages: number; oldestAt?: number } {
  const row = store.get<{ n: number; oldest: number | null }>(
    "SELECT count(*) n, min(created_at) oldest FROM queue",
  )!;
  return { messages: row.n, oldestAt: row.oldest ?? undefined };
}
