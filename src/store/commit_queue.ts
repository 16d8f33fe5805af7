/**
 * Group commit on a writer thread. Deliveries are handed to a worker
 * (commit_worker.ts) that owns a second connection to the store; while it
 * commits one batch, the next one gathers here, so one fsync makes many
 * messages durable and the event loop never waits for the disk. A promise
 * resolves only after the commit that holds its delivery has returned, that
 * is, on disk (synchronous=FULL). Each delivery has its own savepoint, so one
 * that fails does not take the others with it.
 *
 * A body's buffer is moved to the writer, not copied, and comes back with
 * the answer: {@link CommitQueue.deliver} resolves with a view of the same
 * bytes, so a session can reuse its buffer and a busy server makes no
 * garbage per message. The caller must not touch the body while it waits.
 */
import { setImmediate } from "node:timers";
import type { Outcome } from "./commit_worker.ts";
import type { Store } from "./db.ts";
import type { Delivery, DeliveryResult } from "./mailboxes.ts";

/** A stored delivery, with its body handed back. */
export interface Committed extends DeliveryResult {
  body: Uint8Array;
}

interface Pending {
  delivery: Delivery;
  /** Where the body sits in its buffer, recorded before the buffer moves. */
  offset?: number;
  length?: number;
  resolve: (r: Committed) => void;
  reject: (err: unknown) => void;
}

/** Raised for a delivery the writer could not store. */
export class CommitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CommitError";
  }
}

/** Batches deliveries into shared transactions on a writer thread. */
export class CommitQueue {
  readonly #path: string;
  #worker: Worker | undefined;
  #opened: Promise<void> | undefined;
  #pending: Pending[] = [];
  #inFlight: Pending[] | undefined;
  #scheduled = false;
  #nextId = 0;
  #idle: (() => void)[] = [];
  #openWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  #closedWaiter: (() => void) | undefined;

  readonly #onCommitted?: (result: DeliveryResult) => void;
  readonly #onBatch?: (size: number, seconds: number) => void;
  #batchStarted = 0;

  /**
   * Deliveries go to the same SQLite file as `store`. `onCommitted` hears of
   * every stored delivery (IMAP sessions watch their mailboxes through it).
   */
  constructor(
    store: Store,
    options: {
      onCommitted?: (result: DeliveryResult) => void;
      /** Hears of each batch committed: how many deliveries, how long it took. */
      onBatch?: (size: number, seconds: number) => void;
    } = {},
  ) {
    this.#path = store.path;
    this.#onCommitted = options.onCommitted;
    this.#onBatch = options.onBatch;
  }

  /** Stores a delivery; resolves once it is durable. */
  deliver(delivery: Delivery): Promise<Committed> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ delivery, resolve, reject });
      if (!this.#scheduled && !this.#inFlight) {
        this.#scheduled = true;
        // After this turn's I/O callbacks, so every session that just finished joins in.
        setImmediate(() => this.#send());
      }
    });
  }

  #start(): Promise<void> {
    this.#worker = new Worker(new URL("./commit_worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (event) => this.#onMessage(event.data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new CommitError(`Store writer crashed: ${event.message}`));
    };
    return new Promise<void>((resolve, reject) => {
      this.#openWaiter = { resolve, reject };
      this.#worker!.postMessage({ type: "open", path: this.#path });
    });
  }

  async #send(): Promise<void> {
    this.#scheduled = false;
    if (this.#inFlight || this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    this.#inFlight = batch;
    try {
      await (this.#opened ??= this.#start());
    } catch (err) {
      this.#opened = undefined;
      this.#finish(batch.map(() => ({ ok: false, error: (err as Error).message })));
      return;
    }
    const deliveries = batch.map((p) => p.delivery);
    const buffers = [...new Set(deliveries.map((d) => d.body.buffer as ArrayBuffer))];
    if (buffers.length < deliveries.length) {
      // Two bodies on one buffer cannot both come back; give each its own.
      for (const d of deliveries) d.body = d.body.slice();
      buffers.splice(0, buffers.length, ...deliveries.map((d) => d.body.buffer as ArrayBuffer));
    }
    for (const p of batch) {
      p.offset = p.delivery.body.byteOffset;
      p.length = p.delivery.body.length;
    }
    this.#batchStarted = performance.now();
    this.#worker!.postMessage({ type: "batch", id: ++this.#nextId, deliveries }, buffers);
  }

  #onMessage(msg: {
    type: string;
    id?: number;
    outcomes?: Outcome[];
    error?: string;
    buffers?: ArrayBuffer[];
  }): void {
    switch (msg.type) {
      case "opened":
        this.#openWaiter?.resolve();
        break;
      case "failed":
        if (msg.id === undefined) this.#openWaiter?.reject(new CommitError(msg.error!));
        else {
          this.#finish(this.#inFlight!.map(() => ({ ok: false, error: msg.error! })), msg.buffers);
        }
        break;
      case "done":
        this.#onBatch?.(
          msg.outcomes!.length,
          (performance.now() - this.#batchStarted) / 1000,
        );
        this.#finish(msg.outcomes!, msg.buffers);
        break;
      case "closed":
        this.#worker?.terminate();
        this.#worker = undefined;
        this.#opened = undefined;
        this.#closedWaiter?.();
        break;
    }
  }

  #finish(outcomes: Outcome[], buffers: ArrayBuffer[] = []): void {
    const batch = this.#inFlight ?? [];
    this.#inFlight = undefined;
    batch.forEach((p, i) => {
      const o = outcomes[i];
      const back = buffers[i];
      if (back) {
        // The same bytes, now on the buffer that came back (the old view is detached).
        p.delivery.body = new Uint8Array(back, p.offset, p.length);
      }
      if (o?.ok) {
        this.#onCommitted?.(o.result);
        p.resolve({ ...o.result, body: p.delivery.body });
      } else p.reject(new CommitError(o?.error ?? "Delivery lost"));
    });
    if (this.#pending.length > 0) this.#send();
    else this.#idle.splice(0).forEach((resolve) => resolve());
  }

  #fail(err: Error): void {
    this.#openWaiter?.reject(err);
    const batch = this.#inFlight ?? [];
    this.#inFlight = undefined;
    for (const p of batch) p.reject(err);
    this.#worker?.terminate();
    this.#worker = undefined;
    this.#opened = undefined; // the next batch starts a new writer
    if (this.#pending.length > 0) this.#send();
  }

  /** Asks the writer thread to collect its garbage (memory is short). */
  collectGarbage(): void {
    this.#worker?.postMessage({ type: "gc" });
  }

  /** Waits for every pending delivery, then stops the writer. */
  async close(): Promise<void> {
    while (this.#inFlight || this.#pending.length > 0 || this.#scheduled) {
      await new Promise<void>((resolve) => this.#idle.push(resolve));
    }
    if (!this.#worker) return;
    const closed = new Promise<void>((resolve) => this.#closedWaiter = resolve);
    this.#worker.postMessage({ type: "close" });
    await closed;
  }
}
