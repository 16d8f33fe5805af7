/// <reference lib="deno.worker" />
/**
 * The store's writer thread for deliveries. It holds its own connection to
 * the SQLite file and commits whole batches, so the fsync of a commit never
 * blocks the event loop that serves the sessions (see commit_queue.ts).
 *
 * Messages: {type:"open",path} -> {type:"opened"} | {type:"failed",error};
 * {type:"batch",id,deliveries} -> {type:"done",id,outcomes,buffers} | {type:"failed",id,error};
 * the bodies' buffers are moved here with the batch and moved back with the answer.
 * {type:"close"} -> {type:"closed"}; {type:"gc"} collects garbage, without an answer.
 */
import { collectGarbage } from "../net/memory_guard.ts";
import { openStore, type Store } from "./db.ts";
import { buildMessageMeta } from "../mail/message_meta.ts";
import { deliver, type Delivery, type DeliveryResult, insertDelivery } from "./mailboxes.ts";

/** The result of one delivery of a batch. */
export type Outcome = { ok: true; result: DeliveryResult } | { ok: false; error: string };

let store: Store | undefined;

function describe(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}

/**
 * Commits a batch in one transaction. Should one delivery fail (a user
 * deleted meanwhile), the batch is rolled back and each delivery stored on
 * its own, so the others still go through.
 */
function commit(deliveries: Delivery[]): Outcome[] {
  // What IMAP FETCH needs is computed here, once, off the event loop that serves sessions.
  for (const d of deliveries) {
    if (d.mailboxes.length > 0 && d.meta === undefined) {
      d.meta = JSON.stringify(buildMessageMeta(d.body));
    }
  }
  try {
    return store!.transaction(() =>
      deliveries.map((d): Outcome => ({ ok: true, result: insertDelivery(store!, d) }))
    );
  } catch (err) {
    if (deliveries.length === 1) return [{ ok: false, error: describe(err) }];
    return deliveries.map((d): Outcome => {
      try {
        return { ok: true, result: deliver(store!, d) };
      } catch (err) {
        return { ok: false, error: describe(err) };
      }
    });
  }
}

self.onmessage = (event: MessageEvent) => {
  const msg = event.data;
  switch (msg.type) {
    case "open":
      try {
        store = openStore(msg.path);
        self.postMessage({ type: "opened" });
      } catch (err) {
        self.postMessage({ type: "failed", error: describe(err) });
      }
      break;
    case "batch": {
      // The bodies' buffers go back to their sessions, to be filled with the next messages.
      const buffers = (msg.deliveries as Delivery[]).map((d) => d.body.buffer as ArrayBuffer);
      try {
        const outcomes = commit(msg.deliveries);
        self.postMessage({ type: "done", id: msg.id, outcomes, buffers }, buffers);
      } catch (err) {
        // The commit itself failed (disk full, I/O error): nothing in the batch is stored.
        self.postMessage({ type: "failed", id: msg.id, error: describe(err), buffers }, buffers);
      }
      break;
    }
    case "gc":
      collectGarbage();
      break;
    case "close":
      store?.close();
      store = undefined;
      self.postMessage({ type: "closed" });
      break;
  }
};
