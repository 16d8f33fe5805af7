/**
 * Keeps the process under its memory limit (`limits.memory`) by slowing
 * intake instead of growing: before the greeting and before taking a
 * message's data, a session asks {@link MemoryGuard.admit}, which returns at
 * once while the resident set is comfortably below the limit, later as it
 * nears it, and above a high mark lets only a couple of messages in at once
 * while every thread is asked to collect its garbage. Nothing is refused: a client only sees a slower
 * server, as RFC 5321 §4.5.3.2 allows for minutes at these points, and the
 * bodies in memory at once are fewer.
 */

/** Options of {@link MemoryGuard}. */
export interface MemoryGuardOptions {
  /** The limit, in bytes. */
  limitBytes: number;
  /** The process's resident set size in bytes. @default Deno.memoryUsage().rss */
  readRss?: () => number;
  /** Asks every thread to collect garbage now (called at most once a second under pressure). */
  collect?: () => void;
  /** Hears when intake starts and stops being slowed (to log it). */
  onPressure?: (slowed: boolean, rssBytes: number) => void;
  /**
   * The longest one admission waits above the high mark; then the session
   * goes on, so a client that holds its turn cannot stall the others
   * forever. @default 5000
   */
  maxWaitMs?: number;
  /** Clock and sleep (tests). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Below this share of the limit, no delay. */
const SOFT = 0.75;
/** At or above this share, only a couple of messages are taken in at once. */
const HARD = 0.9;
/** The delay just below the high mark; it grows linearly from 0 at the soft mark. */
const MAX_SOFT_DELAY_MS = 500;
/** How often the resident set is read again under pressure. */
const STEP_MS = 100;
/** A reading of the resident set is reused for this long. */
const SAMPLE_MS = 50;
/** Above the high mark, messages taken in at once. */
const IN_FLIGHT_UNDER_PRESSURE = 2;

const NOTHING = () => {};

/** Slows intake as the resident set nears the limit; see the module comment. */
export class MemoryGuard {
  readonly #limit: number;
  readonly #readRss: () => number;
  readonly #collect?: () => void;
  readonly #onPressure?: (slowed: boolean, rssBytes: number) => void;
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  #sampledAt = -Infinity;
  #rss = 0;
  #collectedAt = -Infinity;
  #slowed = false;
  /** Messages admitted above the high mark and not yet in. */
  #held = 0;

  constructor(options: MemoryGuardOptions) {
    if (!(options.limitBytes > 0)) {
      throw new RangeError(`Invalid memory limit: ${options.limitBytes}`);
    }
    this.#limit = options.limitBytes;
    this.#readRss = options.readRss ?? (() => Deno.memoryUsage().rss);
    this.#collect = options.collect;
    this.#onPressure = options.onPressure;
    this.#maxWaitMs = options.maxWaitMs ?? 5000;
    this.#now = options.now ?? performance.now.bind(performance);
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** The limit, in bytes. */
  get limitBytes(): number {
    return this.#limit;
  }

  /**
   * Waits as long as memory asks; gives what to call once the message is in
   * (stored or refused). Above the high mark, at most a few messages are
   * taken in at once: their bodies are what grows while garbage collection
   * catches up, and a process that cannot shrink at once still serves.
   */
  async admit(): Promise<() => void> {
    const started = this.#now();
    let rss = this.#sample();
    if (rss < this.#limit * SOFT) {
      this.#setSlowed(false, rss);
      return NOTHING;
    }
    this.#setSlowed(true, rss);
    if (rss < this.#limit * HARD) {
      const share = (rss - this.#limit * SOFT) / (this.#limit * (HARD - SOFT));
      await this.#sleep(Math.ceil(share * MAX_SOFT_DELAY_MS));
      return NOTHING;
    }
    while (
      rss >= this.#limit * HARD && this.#held >= IN_FLIGHT_UNDER_PRESSURE &&
      this.#now() - started < this.#maxWaitMs
    ) {
      if (this.#now() - this.#collectedAt >= 1000) {
        this.#collectedAt = this.#now();
        this.#collect?.();
      }
      await this.#sleep(STEP_MS);
      rss = this.#sample();
    }
    this.#held++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held--;
    };
  }

  #sample(): number {
    const now = this.#now();
    if (now - this.#sampledAt >= SAMPLE_MS) {
      this.#sampledAt = now;
      this.#rss = this.#readRss();
    }
    return this.#rss;
  }

  #setSlowed(slowed: boolean, rss: number): void {
    if (slowed === this.#slowed) return;
    this.#slowed = slowed;
    this.#onPressure?.(slowed, rss);
  }
}

/**
 * Collects garbage on this thread when the runtime allows it (V8's
 * `--expose-gc`, which the tasks and the compiled binary set); otherwise
 * V8 shrinks the heap on its own once allocation slows down.
 */
export function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}
