/**
 * Tells the sessions of this process that a mailbox changed (new mail,
 * expunges, flags), so IMAP IDLE can answer at once instead of polling.
 * The facts themselves are in the store; this only says where to look.
 */

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
