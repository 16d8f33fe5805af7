/** /api/v1/stats: the live figures of the admin page. */
import { accountCounts } from "../../store/accounts.ts";
import { messagesStoredSince } from "../../store/mailboxes.ts";
import { queueStats } from "../../store/queue.ts";
import { json, type RouteSpec } from "../route.ts";
import { s } from "../schema.ts";

/** Midnight UTC of the day of `now`. */
function startOfDay(now: number): number {
  return now - now % 86_400_000;
}

export const statsRoutes = [
  {
    method: "GET",
    path: "/api/v1/stats",
    summary: "Live figures",
    tag: "stats",
    access: "admin",
    responses: {
      200: {
        description: "Counts of now",
        schema: s.object({
          messagesToday: s.integer("Messages stored since midnight UTC that are still stored"),
          acceptedSinceStart: s.integer("Messages accepted since the server started"),
          queue: s.object({
            messages: s.integer("Messages waiting for delivery"),
            oldestAgeSeconds: s.integer("Age of the oldest (0 when empty)"),
          }),
          connections: s.integer("Mail connections open now"),
          domains: s.integer("Local domains"),
          users: s.integer("Users"),
          uptimeSeconds: s.integer("Since the server started"),
          rssBytes: s.integer("Resident memory of the process"),
        }),
      },
    },
    handle: ({ services }) => {
      const now = Date.now();
      const queue = queueStats(services.store);
      const counts = accountCounts(services.store);
      return json(
        {
          messagesToday: messagesStoredSince(services.store, startOfDay(now)),
          acceptedSinceStart: services.metrics.acceptedSinceStart(),
          queue: {
            messages: queue.messages,
            oldestAgeSeconds: queue.oldestAt === undefined
              ? 0
              : Math.max(0, Math.floor((now - queue.oldestAt) / 1000)),
          },
          connections: services.metrics.openConnections(),
          domains: counts.domains,
          users: counts.users,
          uptimeSeconds: Math.floor((now - services.metrics.startedAt) / 1000),
          rssBytes: Deno.memoryUsage().rss,
        },
        200,
        { "Cache-Control": "no-store" },
      );
    },
  } satisfies RouteSpec,
];
