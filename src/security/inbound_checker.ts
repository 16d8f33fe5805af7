/**
 * Runs the checks of inbound mail on a worker thread (check_worker.ts) and
 * hands the verdicts back to the session. Started on first use; the worker
 * keeps its own DNS client, pointed at the same servers as the server's.
 */
import type { NameServer } from "../dns/resolver.ts";
import { headerSection } from "../mail/headers.ts";
import type { InboundAuthOptions, InboundAuthResult } from "./inbound_auth.ts";
import { bodyNeeded } from "./signed_fields.ts";

/** What a check needs besides the message (the DNS client lives in the worker). */
export type CheckOptions = Omit<InboundAuthOptions, "resolver">;

/** Checks messages on a worker thread. */
export class InboundChecker {
  readonly #servers?: NameServer[];
  #worker: Worker | undefined;
  #nextId = 0;
  #waiting = new Map<
    number,
    { resolve: (r: InboundAuthResult) => void; reject: (e: Error) => void }
  >();

  /** `servers`: where DNS questions go (default: the system's resolv.conf servers). */
  constructor(servers?: NameServer[]) {
    this.#servers = servers;
  }

  /** SPF, DKIM, DMARC and ARC verdicts for `message`. */
  check(message: Uint8Array, options: CheckOptions): Promise<InboundAuthResult> {
    const worker = this.#worker ??= this.#start();
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      // A copy, moved to the worker: the session's buffer goes on to the store's writer, and
      // posting a view would clone all of its (larger) buffer. The header section is enough
      // when nothing in it hashes the body.
      const head = headerSection(message);
      const copy = (bodyNeeded(head) ? message : head).slice();
      worker.postMessage({ type: "check", id, message: copy, options }, [copy.buffer]);
    });
  }

  #start(): Worker {
    const worker = new Worker(new URL("./check_worker.ts", import.meta.url), { type: "module" });
    worker.postMessage({ type: "init", servers: this.#servers });
    worker.onmessage = (event) => {
      const { type, id, result, error } = event.data;
      const waiter = this.#waiting.get(id);
      if (!waiter) return;
      this.#waiting.delete(id);
      if (type === "done") waiter.resolve(result);
      else waiter.reject(new Error(`Authentication checks failed: ${error}`));
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const err = new Error(`Authentication check worker crashed: ${event.message}`);
      for (const waiter of this.#waiting.values()) waiter.reject(err);
      this.#waiting.clear();
      this.#worker?.terminate();
      this.#worker = undefined; // the next check starts a new one
    };
    return worker;
  }

  /** Asks the worker to collect its garbage (memory is short). */
  collectGarbage(): void {
    this.#worker?.postMessage({ type: "gc" });
  }

  /** Stops the worker; checks still running are refused. */
  close(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    const err = new Error("Authentication checks stopped");
    for (const waiter of this.#waiting.values()) waiter.reject(err);
    this.#waiting.clear();
  }
}
