/**
 * Throttling of failed logins, shared by SMTP AUTH, POP3 and IMAP: every
 * failure makes the next answer to the same client address and to the same
 * account slower (growing delays, capped), and failures are forgotten after a
 * quiet period. Nothing is ever locked out for good, so an attacker cannot
 * shut a user out, but guessing becomes slow.
 */

/** Throttle settings. */
export interface ThrottleOptions {
  /** Delay after the first failure. @default 500 */
  baseDelayMs?: number;
  /** The largest delay. @default 15000 */
  maxDelayMs?: number;
  /** Failures are forgotten after this long without a new one. @default 900000 (15 min) */
  forgetAfterMs?: number;
  /** @default Date.now */
  now?: () => number;
}

interface Record {
  failures: number;
  last: number;
}

/** Keeps failure counts per client IP and per account. */
export class LoginThrottle {
  readonly #base: number;
  readonly #max: number;
  readonly #forget: number;
  readonly #now: () => number;
  #records = new Map<string, Record>();

  constructor(options: ThrottleOptions = {}) {
    this.#base = options.baseDelayMs ?? 500;
    this.#max = options.maxDelayMs ?? 15_000;
    this.#forget = options.forgetAfterMs ?? 900_000;
    this.#now = options.now ?? Date.now;
  }

  #failures(key: string): number {
    const r = this.#records.get(key);
    if (!r) return 0;
    if (this.#now() - r.last > this.#forget) {
      this.#records.delete(key);
      return 0;
    }
    return r.failures;
  }

  /** How long to hold back the answer to a failed login from `ip` for `account`. */
  delayFor(ip: string, account: string): number {
    const n = Math.max(this.#failures(`ip:${ip}`), this.#failures(`user:${account}`));
    return n === 0 ? 0 : Math.min(this.#base * 2 ** (n - 1), this.#max);
  }

  /** Records a failed login; returns the failure count that now applies. */
  recordFailure(ip: string, account: string): number {
    const now = this.#now();
    let worst = 0;
    for (const key of [`ip:${ip}`, `user:${account}`]) {
      const failures = this.#failures(key) + 1;
      this.#records.set(key, { failures, last: now });
      worst = Math.max(worst, failures);
    }
    this.#prune(now);
    return worst;
  }

  /** A successful login clears the account's record (not the IP's: one success does not excuse a scan). */
  recordSuccess(account: string): void {
    this.#records.delete(`user:${account}`);
  }

  /** Drops forgotten records so the map cannot grow without bound. */
  #prune(now: number): void {
    if (this.#records.size < 10_000) return;
    for (const [key, r] of this.#records) {
      if (now - r.last > this.#forget) this.#records.delete(key);
    }
  }
}
