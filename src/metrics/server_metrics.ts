/**
 * What the running server counts, for `/metrics` and the admin page: the
 * metrics are declared here once, with their names, help and labels; the
 * listeners, sessions, queue runner and commit queue report into them.
 * Label values come from small fixed sets (listener names, reasons,
 * results), never from addresses.
 */
import type { Store } from "../store/db.ts";
import { queueStats } from "../store/queue.ts";
import { VERSION } from "../version.ts";
import { MetricsRegistry } from "./registry.ts";

/** Why a message was refused, as counted. */
export type RejectReason =
  | "relay"
  | "unknown_recipient"
  | "size"
  | "smuggling"
  | "policy"
  | "sender"
  | "pregreet"
  | "dnsbl"
  | "quota"
  | "store_error";

/** The server's metrics and the calls that move them. */
export class ServerMetrics {
  readonly registry: MetricsRegistry;
  readonly #connectionsOpen;
  readonly #connectionsTotal;
  readonly #accepted;
  readonly #rejected;
  readonly #deliveries;
  readonly #authFailures;
  readonly #commitBatch;
  readonly #commitSeconds;
  readonly #httpRequests;
  readonly #sendLimited;
  readonly #junkVerdicts;
  readonly startedAt = Date.now();
  #open = 0;

  constructor(store: Store) {
    const r = new MetricsRegistry();
    this.registry = r;
    r.gauge("postino_info", "The running version", ["version"]).set({ version: VERSION }, 1);
    r.gauge("process_start_time_seconds", "When the process started (Unix time)").set(
      undefined,
      Math.floor(this.startedAt / 1000),
    );
    r.gauge("process_resident_memory_bytes", "Resident memory of the process", [], (g) => {
      g.set(undefined, Deno.memoryUsage().rss);
    });
    this.#connectionsOpen = r.gauge(
      "postino_connections_open",
      "Connections open now, per listener",
      ["listener"],
    );
    this.#connectionsTotal = r.counter(
      "postino_connections_total",
      "Connections accepted since start, per listener",
      ["listener"],
    );
    this.#accepted = r.counter(
      "postino_messages_accepted_total",
      "Messages accepted (committed) since start, by how they came",
      ["source"],
    );
    this.#rejected = r.counter(
      "postino_messages_rejected_total",
      "Messages and recipients refused since start, per reason",
      ["reason"],
    );
    this.#deliveries = r.counter(
      "postino_deliveries_total",
      "Outbound delivery attempts per recipient, per result",
      ["result"],
    );
    // One query per scrape sets both queue gauges: this one's collect runs first and sets the
    // age gauge too, which renders right after it.
    r.gauge("postino_queue_messages", "Messages in the outbound queue", [], (g) => {
      const { messages, oldestAt } = queueStats(store);
      g.set(undefined, messages);
      oldest.set(
        undefined,
        oldestAt === undefined ? 0 : Math.max(0, (Date.now() - oldestAt) / 1000),
      );
    });
    const oldest = r.gauge(
      "postino_queue_oldest_age_seconds",
      "Age of the oldest message in the outbound queue (0 when empty)",
    );
    this.#authFailures = r.counter(
      "postino_auth_failures_total",
      "Failed logins since start, per protocol",
      ["protocol"],
    );
    this.#commitBatch = r.histogram(
      "postino_commit_batch_size",
      "Deliveries committed together in one transaction (group commit)",
      [1, 2, 4, 8, 16, 32, 64, 128],
    );
    this.#commitSeconds = r.histogram(
      "postino_commit_seconds",
      "Time from a batch's hand-over to the writer until it is durable",
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    );
    this.#httpRequests = r.counter(
      "postino_http_requests_total",
      "HTTP requests answered, per listener and status class",
      ["listener", "status"],
    );
    this.#sendLimited = r.counter(
      "postino_send_limited_total",
      "Messages (MAIL, API sends) and recipients (RCPT) of users refused by the hourly send " +
        "limits since start, per limit",
      ["limit"],
    );
    this.#junkVerdicts = r.counter(
      "postino_junk_verdicts_total",
      "Junk filter decisions on mail from the outside since start, one per message and " +
        "account, by verdict (spam, ham, undecided) and what decided (reputation, dnsbl, " +
        "content, none)",
      ["verdict", "by"],
    );
    for (const source of ["mx", "submission", "api"]) this.#accepted.inc({ source }, 0);
    for (const limit of ["messages", "recipients"]) this.#sendLimited.inc({ limit }, 0);
  }

  /** A connection was accepted (+1) or ended (-1) on `listener`. */
  connection(listener: string, delta: 1 | -1): void {
    this.#connectionsOpen.inc({ listener }, delta);
    this.#open += delta;
    if (delta > 0) this.#connectionsTotal.inc({ listener });
  }

  /** Mail connections open now, all listeners together. */
  openConnections(): number {
    return this.#open;
  }

  /** A message was committed. */
  accepted(source: "mx" | "submission" | "api"): void {
    this.#accepted.inc({ source });
  }

  /** Messages committed since start. */
  acceptedSinceStart(): number {
    return ["mx", "submission", "api"].reduce((n, source) => n + this.#accepted.get({ source }), 0);
  }

  /** A message or recipient was refused. */
  rejected(reason: RejectReason): void {
    this.#rejected.inc({ reason });
  }

  /** A user's message or recipient was refused by an hourly send limit. */
  sendLimited(limit: "messages" | "recipients"): void {
    this.#sendLimited.inc({ limit });
  }

  /** The junk filter judged a message for one account. */
  junkVerdict(verdict: "spam" | "ham" | "undecided", by: string): void {
    this.#junkVerdicts.inc({ verdict, by });
  }

  /** One recipient's delivery attempt ended so. */
  delivery(result: "delivered" | "deferred" | "failed", count = 1): void {
    this.#deliveries.inc({ result }, count);
  }

  /** A login failed. */
  authFailure(protocol: string): void {
    this.#authFailures.inc({ protocol });
  }

  /** A group commit of `size` deliveries took `seconds`. */
  commit(size: number, seconds: number): void {
    this.#commitBatch.observe(undefined, size);
    this.#commitSeconds.observe(undefined, seconds);
  }

  /** An HTTP request was answered with `status`. */
  httpRequest(listener: string, status: number): void {
    this.#httpRequests.inc({ listener, status: `${Math.floor(status / 100)}xx` });
  }
}
