/**
 * Exclusive maildrop locks for POP3 sessions (RFC 1939 §8: a maildrop is
 * locked while a session is in TRANSACTION). One server process serves all
 * sessions, so the lock lives in memory; it is released however the session
 * ends, because the session releases it in a `finally`.
 */

/** Who holds which user's maildrop. */
export class MaildropLocks {
  #held = new Map<number, string>();

  /** Takes the lock of `userId` for `owner`; false when someone else holds it. */
  acquire(userId: number, owner: string): boolean {
    const holder = this.#held.get(userId);
    if (holder !== undefined && holder !== owner) return false;
    this.#held.set(userId, owner);
    return true;
  }

  /** Releases the lock if `owner` holds it. */
  release(userId: number, owner: string): void {
    if (this.#held.get(userId) === owner) this.#held.delete(userId);
  }

  /** True while someone holds the lock of `userId`. */
  isLocked(userId: number): boolean {
    return this.#held.has(userId);
  }
}
