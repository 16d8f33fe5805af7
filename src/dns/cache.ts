/**
 * A small answer cache for the resolver: positive answers for the smallest
 * TTL of their records, negative ones for the SOA's negative TTL (RFC 2308
 * §5), both capped; errors are never cached. Bounded in entries; the oldest
 * entry goes first.
 */

/** Longest time any answer is kept, in seconds. */
const MAX_TTL = 3600;
/** Longest time a "no such name/data" answer is kept (RFC 2308 §5 suggests 1-3 hours at most). */
const MAX_NEGATIVE_TTL = 900;

interface Entry<T> {
  value: T;
  expires: number;
}

/** Answers by question, until they expire. */
export class DnsCache<T> {
  readonly #maxEntries: number;
  readonly #now: () => number;
  #entries = new Map<string, Entry<T>>();

  constructor(options: { maxEntries?: number; now?: () => number } = {}) {
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** The cached answer, if any and still fresh. */
  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (entry.expires <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Keeps `value` for `ttl` seconds (capped); a TTL of 0 or less keeps nothing. */
  set(key: string, value: T, ttl: number, negative: boolean): void {
    const seconds = Math.min(ttl, negative ? MAX_NEGATIVE_TTL : MAX_TTL);
    if (!(seconds > 0)) return;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#maxEntries) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(key, { value, expires: this.#now() + seconds * 1000 });
  }

  /** Entries held now (tests). */
  get size(): number {
    return this.#entries.size;
  }
}
