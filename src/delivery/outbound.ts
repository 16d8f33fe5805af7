/**
 * The queue runner: delivers queued messages to their remote recipients,
 * through the relay when one is configured, else to each domain's MX hosts.
 *
 * Invariants:
 * - A recipient's status changes only after a reply about it: delivered on
 *   2xx, failed (and bounced, in the same transaction) on 5xx or when the
 *   message is older than the maximum age, deferred otherwise.
 * - Recipients of one message and one domain share a connection and a
 *   transaction; no recipient is ever sent to twice by one runner.
 * - At most `concurrency` deliveries at once, `perDomain` per destination.
 */
import type { Config } from "../config.ts";
import type { Resolver } from "../dns/resolver.ts";
import { log } from "../log.ts";
import {
  type ClientOptions,
  type ClientReply,
  describeReply,
  SmtpClient,
  SmtpClientError,
} from "../smtp/client.ts";
import type { Store } from "../store/db.ts";
import {
  type DueRecipient,
  dueRecipients,
  markDeferred,
  markDelivered,
  markFailed,
  nextDueAt,
  queuedBody,
} from "../store/queue.ts";
import type { FailedRecipient } from "./dsn.ts";
import { storeBounce } from "./bounce.ts";
import { resolveDestination } from "./mx.ts";

/** When to try again after the n-th temporary failure (then every 4 hours). */
export const RETRY_SCHEDULE_MS = [60_000, 300_000, 900_000, 1_800_000, 3_600_000, 7_200_000];
const LAST_RETRY_MS = 4 * 3_600_000;
/** How often the queue is looked at even without a wake-up (a CLI `queue retry`). */
const POLL_MS = 2_000;

/** The delay before attempt `attempts + 1`, after `attempts` failed ones (at least one). */
export function retryDelay(attempts: number): number {
  return RETRY_SCHEDULE_MS[attempts - 1] ?? LAST_RETRY_MS;
}

/** What the runner needs. */
export interface OutboundOptions {
  config: Config;
  store: Store;
  resolver: Resolver;
  /** Signs a message before it leaves (DKIM); returns it unchanged when there is no key. */
  sign?: (message: Uint8Array, sender: string) => Promise<Uint8Array>;
  /** Client timeouts (tests shorten them). */
  clientTimeouts?: ClientOptions["timeouts"];
  /** @default Date.now */
  now?: () => number;
  /** Told of bounces stored in local mailboxes. */
  changes?: { notify(mailboxId: number): void };
  /** Hears how each recipient's attempt ended, for the metrics. */
  onOutcome?: (result: "delivered" | "deferred" | "failed", count: number) => void;
}

interface Group {
  key: string;
  domain: string;
  queueId: number;
  messageId: number;
  sender: string;
  queuedAt: number;
  recipients: string[];
  /** Attempts made so far, by recipient. */
  attempts: Map<string, number>;
}

/** What happened to one recipient in an attempt. */
type Outcome =
  | { kind: "delivered"; detail: string }
  | { kind: "deferred"; detail: string }
  | { kind: "failed"; status: string; detail: string; remoteMta?: string };

const logger = log("outbound");

/** Delivers the outbound queue in the background. */
export class QueueRunner {
  readonly #options: OutboundOptions;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running = new Map<string, Promise<void>>();
  #perDomain = new Map<string, number>();
  #stopped = true;
  #ticking = false;
  #again = false;

  constructor(options: OutboundOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Starts looking at the queue. */
  start(): void {
    this.#stopped = false;
    this.wake();
  }

  /** Looks at the queue now (new mail, `queue retry`). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#ticking) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#tick(), 0);
  }

  /**
   * Stops starting deliveries and waits up to `graceMs` for those under way.
   * One still running then is left to its timeouts; its recipients stay
   * pending and are tried again after a restart.
   */
  async stop(graceMs = 10_000): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#running.values()]),
      new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#ticking = true;
    try {
      this.#startDue();
    } catch (err) {
      logger.error("Queue run failed: {error}", { error: (err as Error)?.stack ?? String(err) });
    } finally {
      this.#ticking = false;
    }
    if (this.#again) {
      this.#again = false;
      this.#timer = setTimeout(() => this.#tick(), 0);
      return;
    }
    const next = nextDueAt(this.#options.store);
    const wait = next === undefined ? POLL_MS : Math.max(0, Math.min(POLL_MS, next - this.#now()));
    this.#timer = setTimeout(() => this.#tick(), wait);
  }

  /** Starts a delivery for every due group that the caps allow. */
  #startDue(): void {
    const { config } = this.#options;
    const groups = new Map<string, Group>();
    for (const due of dueRecipients(this.#options.store, this.#now())) {
      const domain = config.relay ? "" : domainOf(due.recipient);
      const key = `${due.queueId}|${domain}`;
      const group = groups.get(key) ?? newGroup(key, domain, due);
      group.recipients.push(due.recipient);
      group.attempts.set(due.recipient, due.attempts);
      groups.set(key, group);
    }
    for (const group of groups.values()) {
      if (this.#running.has(group.key)) continue;
      if (this.#running.size >= config.queue.concurrency) break;
      const busy = this.#perDomain.get(group.domain) ?? 0;
      if (busy >= config.queue.perDomain) continue;
      this.#perDomain.set(group.domain, busy + 1);
      const run = this.#deliverGroup(group)
        .catch((err) => {
          logger.error("Delivery of queue item {id} failed: {error}", {
            id: group.queueId,
            error: (err as Error)?.stack ?? String(err),
          });
          // Back off like any temporary failure, rather than retrying at once, forever.
          this.#record(
            group,
            new Map(group.recipients.map((r) => [r, {
              kind: "deferred" as const,
              detail: `Internal error: ${(err as Error)?.message ?? err}`,
            }])),
          );
        })
        .finally(() => {
          this.#running.delete(group.key);
          const left = (this.#perDomain.get(group.domain) ?? 1) - 1;
          if (left > 0) this.#perDomain.set(group.domain, left);
          else this.#perDomain.delete(group.domain);
          this.wake();
        });
      this.#running.set(group.key, run);
    }
  }

  async #deliverGroup(group: Group): Promise<void> {
    const { store, sign } = this.#options;
    let message = queuedBody(store, group.messageId);
    if (message.length === 0) return; // deleted meanwhile
    if (sign) message = await sign(message, group.sender);
    const outcomes = await this.#attempt(group, message);
    this.#record(group, outcomes);
  }

  /** Tries the relay or the MX hosts in order until one gives an answer about the recipients. */
  async #attempt(group: Group, message: Uint8Array): Promise<Map<string, Outcome>> {
    const { config, resolver } = this.#options;
    const all = (outcome: Outcome) => new Map(group.recipients.map((r) => [r, outcome]));
    let targets: { name: string; address: string; port: number; tls: ClientOptions["tls"] }[];
    if (config.relay) {
      targets = [{
        name: config.relay.host,
        address: config.relay.host,
        port: config.relay.port,
        tls: config.relayTls,
      }];
    } else {
      const destination = await resolveDestination(resolver, group.domain);
      if (destination.kind === "temporary") {
        return all({ kind: "deferred", detail: destination.reason });
      }
      if (destination.kind === "permanent") {
        return all({ kind: "failed", status: destination.status, detail: destination.reason });
      }
      targets = destination.hosts.flatMap((h) =>
        h.addresses.map((address) => ({
          name: h.name,
          address,
          port: config.mxPort,
          tls: "opportunistic" as const,
        }))
      );
    }
    let lastError = "No host to try";
    for (const target of targets) {
      let client: SmtpClient;
      try {
        client = await SmtpClient.connect({
          host: target.address,
          port: target.port,
          servername: target.name,
          helo: config.hostname,
          tls: target.tls,
          auth: config.relay ? config.relayAuth : undefined,
          timeouts: this.#options.clientTimeouts,
        });
      } catch (err) {
        lastError = `${target.name}[${target.address}]:${target.port}: ${(err as Error).message}`;
        logger.info("{error}; trying the next host", { error: lastError });
        continue;
      }
      try {
        return await this.#transaction(client, group, message, target.name);
      } catch (err) {
        // Anything else (a write that timed out, a reset) is trouble with this host: try the next.
        lastError = `${target.name}: ${(err as Error)?.message ?? err}`;
        if (err instanceof SmtpClientError && !err.temporary) {
          return all({
            kind: "failed",
            status: err.reply?.enhanced ?? "5.0.0",
            detail: lastError,
            remoteMta: target.name,
          });
        }
      } finally {
        await client.quit();
      }
    }
    return all({ kind: "deferred", detail: lastError });
  }

  /** One transaction on an open connection; per-recipient outcomes. */
  async #transaction(
    client: SmtpClient,
    group: Group,
    message: Uint8Array,
    host: string,
  ): Promise<Map<string, Outcome>> {
    const outcomes = new Map<string, Outcome>();
    const all = (o: Outcome) => group.recipients.forEach((r) => outcomes.set(r, o));
    const ext = client.extensions;
    const limit = Number(ext.get("SIZE") || 0);
    const eightBit = message.some((b) => b > 0x7f);
    const smtputf8 = [group.sender, ...group.recipients].some((a) =>
      [...a].some((c) => c.charCodeAt(0) > 0x7f)
    );
    // Checks a receiver could only fail later, with a less clear reason (issue: bounce clearly).
    if (limit > 0 && message.length > limit) {
      all({
        kind: "failed",
        status: "5.3.4",
        detail: `${host} takes messages up to ${limit} octets; this one has ${message.length}`,
        remoteMta: host,
      });
      return outcomes;
    }
    if (smtputf8 && !ext.has("SMTPUTF8")) {
      all({
        kind: "failed",
        status: "5.6.7",
        detail: `${host} does not accept non-ASCII addresses (no SMTPUTF8)`,
        remoteMta: host,
      });
      return outcomes;
    }
    if (eightBit && !ext.has("8BITMIME") && !smtputf8) {
      all({
        kind: "failed",
        status: "5.6.3",
        detail: `${host} does not accept 8-bit content (no 8BITMIME)`,
        remoteMta: host,
      });
      return outcomes;
    }
    const tls = client.tls;
    const result = await client.send(
      { from: group.sender, to: group.recipients, smtputf8, eightBit },
      message,
    );
    for (const rcpt of group.recipients) {
      const r = result.recipients.get(rcpt)!;
      const accepted = r.code === 250 || r.code === 251;
      const final: ClientReply | undefined = accepted ? result.data : r;
      if (!final) {
        outcomes.set(rcpt, { kind: "deferred", detail: `${host}: no reply after DATA` });
      } else if (final.code >= 200 && final.code < 300) {
        const via = tls
          ? ` (${tls.protocol}, certificate ${tls.verified ? "verified" : "not verified"})`
          : " (no TLS)";
        outcomes.set(rcpt, { kind: "delivered", detail: `${host}: ${describeReply(final)}${via}` });
      } else if (final.code >= 500) {
        outcomes.set(rcpt, {
          kind: "failed",
          status: final.enhanced ?? "5.0.0",
          detail: `${host} said: ${describeReply(final)}`,
          remoteMta: host,
        });
      } else {
        outcomes.set(rcpt, { kind: "deferred", detail: `${host} said: ${describeReply(final)}` });
      }
    }
    return outcomes;
  }

  /** Writes the outcomes to the store: delivered, deferred (or expired) and failed with a bounce. */
  #record(group: Group, outcomes: Map<string, Outcome>): void {
    const { store, config } = this.#options;
    const delivered: string[] = [];
    const failed: FailedRecipient[] = [];
    const deferred: { rcpt: string; detail: string }[] = [];
    const expired = this.#now() - group.queuedAt > config.queue.maxAgeMs;
    for (const [rcpt, o] of outcomes) {
      if (o.kind === "delivered") {
        delivered.push(rcpt);
        logger.info("Queue item {id}: delivered to <{rcpt}> via {detail}", {
          id: group.queueId,
          rcpt,
          detail: o.detail,
        });
      } else if (o.kind === "failed") {
        failed.push({
          recipient: rcpt,
          status: o.status,
          diagnostic: o.detail,
          remoteMta: o.remoteMta,
        });
      } else if (expired) {
        // RFC 3463 4.4.7: the message has been in the queue too long.
        failed.push({
          recipient: rcpt,
          status: "4.4.7",
          diagnostic: `Gave up after ${
            describeAge(this.#now() - group.queuedAt)
          } in the queue: ${o.detail}`,
        });
      } else {
        deferred.push({ rcpt, detail: o.detail });
      }
    }
    if (delivered.length > 0) markDelivered(store, group.queueId, delivered);
    const report = this.#options.onOutcome;
    if (report) {
      for (
        const [result, n] of [["delivered", delivered.length], ["deferred", deferred.length], [
          "failed",
          failed.length,
        ]] as const
      ) {
        if (n > 0) report(result, n);
      }
    }
    for (const d of deferred) {
      const next = this.#now() + retryDelay((group.attempts.get(d.rcpt) ?? 0) + 1);
      markDeferred(store, group.queueId, [d.rcpt], next, d.detail);
      logger.info("Queue item {id}: deferred <{rcpt}> until {next}: {detail}", {
        id: group.queueId,
        rcpt: d.rcpt,
        next: new Date(next).toISOString(),
        detail: d.detail,
      });
    }
    if (failed.length > 0) this.#fail(group, failed);
  }

  /** Marks recipients failed and bounces them to the sender, in one transaction. */
  #fail(group: Group, failed: FailedRecipient[]): void {
    const { store, config } = this.#options;
    const original = queuedBody(store, group.messageId);
    store.transaction(() => {
      markFailed(
        store,
        group.queueId,
        failed.map((f) => f.recipient),
        failed.map((f) => f.diagnostic).join("; "),
      );
      for (const f of failed) {
        logger.warn("Queue item {id}: failed <{rcpt}> ({status}): {detail}", {
          id: group.queueId,
          rcpt: f.recipient,
          status: f.status,
          detail: f.diagnostic,
        });
      }
      const bounced = storeBounce(store, config, {
        sender: group.sender,
        failed,
        arrivalDate: new Date(group.queuedAt),
        original,
      });
      if (!bounced.stored) {
        if (bounced.why === "no route") {
          logger.warn("Queue item {id}: no way back to <{sender}>; bounce dropped", {
            id: group.queueId,
            sender: group.sender,
          });
        }
        return;
      }
      for (const id of bounced.mailboxIds) this.#options.changes?.notify(id);
    });
    if (group.sender !== "") this.wake(); // a remote bounce is new work
  }
}

function newGroup(key: string, domain: string, due: DueRecipient): Group {
  return {
    key,
    domain,
    queueId: due.queueId,
    messageId: due.messageId,
    sender: due.sender,
    queuedAt: due.queuedAt,
    recipients: [],
    attempts: new Map(),
  };
}

/** A duration for people: "40 s", "25 min", "3 h", "5 days". */
export function describeAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} days`;
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1).toLowerCase();
}
