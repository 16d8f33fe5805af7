/** /api/v1/queue: look at and act on the outbound queue. */
import { deleteQueueItem, listQueue, queueItemJson, retryNow } from "../../store/queue.ts";
import { ApiError } from "../errors.ts";
import { json, noContent, type RouteSpec } from "../route.ts";
import { s } from "../schema.ts";

const recipient = s.object({
  address: s.string("Recipient address"),
  status: s.string("Delivery state", { enum: ["pending", "delivered", "failed"] }),
  attempts: s.integer("Delivery attempts so far"),
  nextAttemptAt: { type: ["string", "null"], format: "date-time", description: "When pending" },
  lastError: { type: ["string", "null"], description: "The last temporary or permanent error" },
});
const item = s.object({
  id: s.integer("What retry and delete take"),
  sender: s.string("The envelope sender; empty for bounces"),
  size: s.integer("Bytes"),
  queuedAt: s.string("When it was queued (ISO 8601)", { format: "date-time" }),
  recipients: s.array(recipient),
});
const idParam = { id: "The queue item's id" };

function parseId(text: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new ApiError(400, `Invalid queue id '${text}'`, "id");
  return Number(text);
}

function notFound(id: number): never {
  throw new ApiError(404, `No queue item ${id}`);
}

export const queueRoutes = [
  {
    method: "GET",
    path: "/api/v1/queue",
    summary: "List queued outbound mail",
    tag: "queue",
    access: "admin",
    responses: { 200: { description: "Oldest first", schema: s.array(item) } },
    handle: ({ services }) => json(listQueue(services.store).map(queueItemJson)),
  } satisfies RouteSpec,
  {
    method: "POST",
    path: "/api/v1/queue/{id}/retry",
    summary: "Make a queued message due now",
    tag: "queue",
    access: "admin",
    params: idParam,
    responses: { 204: { description: "Due now; the queue runner tries it within seconds" } },
    handle: ({ params, services }) => {
      const id = parseId(params.id);
      if (!retryNow(services.store, id)) notFound(id);
      services.outbound.wake();
      return noContent();
    },
  } satisfies RouteSpec,
  {
    method: "DELETE",
    path: "/api/v1/queue/{id}",
    summary: "Remove a queued message without delivering it",
    tag: "queue",
    access: "admin",
    params: idParam,
    responses: { 204: { description: "Removed" } },
    handle: ({ params, services }) => {
      const id = parseId(params.id);
      if (!deleteQueueItem(services.store, id)) notFound(id);
      return noContent();
    },
  } satisfies RouteSpec,
];
