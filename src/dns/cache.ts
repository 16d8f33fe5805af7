/**
 * A small answer cache for the resolver: positive answers for the smallest
 * TTL of their records, negative ones for the SOA's negative TTL (RFC 2308
 * §5), each between a floor and a ceiling; errors are never cached. Bounded
 * in entries; the oldest entry goes first.
 *
 * The floors are a deliberate departure from RFC 1035's "TTL 0 is not
 * cached" and RFC 2308's "no SOA, no caching": a flood of mail from one
 * domain whose records say 0, or a local resolver that answers NXDOMAIN
 * without an SOA, would otherwise cost a lookup per message.
 */

/** Shortest time any answer is kept, in seconds. */
export const MIN_TTL = 5;
/** Longest time any answer is kept, in seconds. */
export const MAX_TTL = 3600;
/** Shortest time a "no such name/data" answer is kept, also when it came without an SOA. */
export const MIN_NEGATIVE_TTL = 30;
/** Longest time a "no such name/data" answer is kept (RFC 2308 §5 suggests 1-3 hours at most). */
export const MAX_NEGATIVE_TTL = 900;

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

  /** Keeps `value` for `ttl` seconds, held between the floor and the ceiling of its kind. */
  set(key: string, value: T, ttl: number | undefined, negative: boolean): void {
    const [floor, ceiling] = negative ? [MIN_NEGATIVE_TTL, MAX_NEGATIVE_TTL] : [MIN_TTL, MAX_TTL];
    const seconds = Math.min(Math.max(Number.isFinite(ttl) ? ttl! : 0, floor), ceiling);
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
