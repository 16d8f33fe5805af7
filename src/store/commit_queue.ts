/**
 * Group commit: deliveries that arrive in the same turn of the event loop are
 * written in one transaction, so one fsync makes many messages durable
 * (SQLite with synchronous=FULL manages about 1k commits/s here, far more
 * messages/s in batches). Each delivery runs in its own savepoint, so one
 * that fails does not take the others with it. A promise resolves only after
 * the commit that contains its delivery has returned, that is, on disk.
 */
import { setImmediate } from "node:timers";
import type { Store } from "./db.ts";
import { deliver, type Delivery, type DeliveryResult } from "./mailboxes.ts";

interface Pending {
  delivery: Delivery;
  resolve: (r: DeliveryResult) => void;
  reject: (err: unknown) => void;
}

/** Batches deliveries into shared transactions. */
export class CommitQueue {
  readonly #store: Store;
  #pending: Pending[] = [];
  #scheduled = false;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Stores a delivery; resolves once it is durable. */
  deliver(delivery: Delivery): Promise<DeliveryResult> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ delivery, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // After the I/O callbacks of this turn, so every session that finished DATA joins in.
        setTimeout(() => this.#flush(), 1);
      }
    });
  }

  #flush(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#scheduled = false;
    const outcomes: ({ ok: true; result: DeliveryResult } | { ok: false; error: unknown })[] = [];
    try {
      this.#store.transaction(() => {
        for (const p of batch) {
          try {
            outcomes.push({ ok: true, result: deliver(this.#store, p.delivery) });
          } catch (error) {
            outcomes.push({ ok: false, error });
          }
        }
      });
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing in the batch is stored.
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => {
      const o = outcomes[i];
      if (o.ok) p.resolve(o.result);
      else p.reject(o.error);
    });
  }
}
