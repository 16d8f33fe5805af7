/**
 * Tells the sessions of this process that a mailbox changed (new mail,
 * expunges, flags), so IMAP IDLE can answer at once instead of polling.
 * The facts themselves are in the store; this only says where to look.
 * Changes made by other processes (`postino import` while the server runs)
 * are noticed by {@link watchOtherWriters}.
 */
import type { Store } from "./db.ts";
import { runPeriodically } from "./periodic.ts";

/** Change notifications by mailbox id. */
export class MailboxChanges {
  #listeners = new Map<number, Set<() => void>>();

  /** Calls `fn` after every change to `mailboxId` until the returned function is called. */
  subscribe(mailboxId: number, fn: () => void): () => void {
    let set = this.#listeners.get(mailboxId);
    if (!set) this.#listeners.set(mailboxId, set = new Set());
    set.add(fn);
    return () => {
      set!.delete(fn);
      if (set!.size === 0) this.#listeners.delete(mailboxId);
    };
  }

  /** The mailboxes someone listens to. */
  watched(): number[] {
    return [...this.#listeners.keys()];
  }

  /** Says that `mailboxId` changed. */
  notify(mailboxId: number): void {
    for (const fn of this.#listeners.get(mailboxId) ?? []) {
      try {
        fn();
      } catch {
        // A listener's failure is its session's business, not the notifier's.
      }
    }
  }
}

/**
 * Looks every `intervalMs` whether another connection to the store has
 * committed (SQLite's `PRAGMA data_version`, a cheap read that changes only
 * then: another process such as `postino import`, or this process's writer
 * thread), and if so, which of the mailboxes listened to have a new
 * highest modseq (every new message, expunge and flag change takes one),
 * and tells their listeners. A mailbox listened to for the first time is
 * told once, so a change made just before its session began to listen is
 * not missed. Returns the function that stops it.
 */
export function watchOtherWriters(
  store: Store,
  changes: MailboxChanges,
  intervalMs = 1000,
): () => void {
  const dataVersion = () =>
    store.get<{ data_version: number }>("PRAGMA data_version")?.data_version ?? 0;
  let version = dataVersion();
  let seen = new Map<number, number>();
  const look = () => {
    const ids = changes.watched();
    if (ids.length === 0) {
      seen.clear();
      return;
    }
    const now = dataVersion();
    if (now === version && ids.every((id) => seen.has(id))) return;
    version = now;
    const rows = store.all<{ id: number; highest_modseq: number }>(
      "SELECT id, highest_modseq FROM mailboxes WHERE id IN (SELECT value FROM json_each(?))",
      JSON.stringify(ids),
    );
    const next = new Map<number, number>();
    for (const { id, highest_modseq } of rows) {
      next.set(id, highest_modseq);
      if (seen.get(id) !== highest_modseq) changes.notify(id);
    }
    seen = next;
  };
  // An error (the store busy or closing) is left for the next look, or the sessions' own
  // polling, to catch up on.
  return runPeriodically(look, intervalMs, { now: false });
}
