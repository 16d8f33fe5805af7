/** `postino queue list|retry|del`: look at and act on the outbound queue. */
import { deleteQueueItem, listQueue, queueItemJson, retryNow } from "../store/queue.ts";
import { openCommandStore } from "./open_store.ts";
import { COMMON_FLAGS, parseSubcommand, UsageError } from "./usage.ts";

const HELP = `Usage:
  postino queue list [--json]  queued messages: id, sender, size, age, and every recipient
                               with its status, attempts, next attempt and last error
  postino queue retry ID       make message ID due now (a running server tries it within seconds)
  postino queue del ID         remove message ID from the queue without delivering it

ID is the number that starts a message's line in 'queue list' (the "id" field with --json).
With --json, 'queue list' prints a JSON array with one object per message:
  {"id", "sender", "size", "queuedAt", "recipients": [{"address", "status",
   "attempts", "nextAttemptAt", "lastError"}]}   (times in ISO 8601, UTC)

Retries after a temporary failure come after 1m, 5m, 15m, 30m, 1h, 2h, then every 4h,
until the message is 5 days old ([queue] max_age); then it bounces.

Options:
  --json         list: print JSON instead of lines
  --data DIR     data directory (default $POSTINO_DATA, else ./data)
  --config FILE  config file
  -h, --help     show this help
`;

const ONE = { min: 1, max: 1 };
const GROUP = {
  name: "queue",
  help: HELP,
  arity: { list: { min: 0, max: 0 }, retry: ONE, del: ONE },
};

function parseId(text: string): number {
  if (!/^\d{1,15}$/.test(text)) {
    throw new UsageError(`Invalid queue id '${text}' (see 'postino queue list')`);
  }
  return Number(text);
}

function age(ms: number): string {
  const m = Math.floor(ms / 60_000);
  return m < 60
    ? `${m}m`
    : m < 1440
    ? `${Math.floor(m / 60)}h${m % 60}m`
    : `${Math.floor(m / 1440)}d${Math.floor(m % 1440 / 60)}h`;
}

/** Runs `postino queue ...`; returns the exit status. */
export function queueCommand(args: string[]): number {
  const parsed = parseSubcommand(args, GROUP, { ...COMMON_FLAGS, json: { type: "boolean" } });
  if (!parsed) return 0;
  const { sub, values, positionals } = parsed;
  if (values.json && sub !== "list") throw new UsageError("Option --json is for list only");
  const id = positionals[0] === undefined ? 0 : parseId(positionals[0]);
  const store = openCommandStore(values);
  try {
    switch (sub) {
      case "list": {
        const items = listQueue(store);
        if (values.json) {
          console.log(JSON.stringify(items.map(queueItemJson), null, 2));
          break;
        }
        const now = Date.now();
        for (const item of items) {
          console.log(
            `${item.id}\tfrom=<${item.sender}>\tsize=${item.size}\tage=${
              age(now - item.queuedAt.getTime())
            }`,
          );
          for (const r of item.recipients) {
            const next = r.status === "pending" ? `\tnext=${r.nextAttemptAt.toISOString()}` : "";
            const error = r.lastError ? `\terror=${r.lastError}` : "";
            console.log(`  <${r.address}>\t${r.status}\tattempts=${r.attempts}${next}${error}`);
          }
        }
        if (items.length === 0) console.log("The queue is empty");
        break;
      }
      case "retry":
        if (!retryNow(store, id)) return notFound(id);
        console.log(`Queue item ${id} is due now`);
        break;
      case "del":
        if (!deleteQueueItem(store, id)) return notFound(id);
        console.log(`Removed queue item ${id}`);
        break;
    }
  } finally {
    store.close();
  }
  return 0;
}

function notFound(id: number): number {
  console.error(`postino: No queue item ${id}`);
  return 1;
}
