/**
 * The running server: one listener per configured protocol, all sharing the
 * store and the TLS identity. `startServer` returns a handle with the bound
 * addresses and a graceful `close`; nothing here is global, so tests can run
 * several servers in one process.
 */
import {
  type Config,
  formatHostPort,
  type HostPort,
  type ListenerName,
  LISTENERS,
} from "./config.ts";
import { log } from "./log.ts";
import { Authenticator } from "./auth/authenticator.ts";
import { ConnectionLimits } from "./net/limits.ts";
import { collectGarbage, MemoryGuard } from "./net/memory_guard.ts";
import { Listener, type SessionHandler } from "./net/listener.ts";
import type { Connection } from "./net/connection.ts";
import type { ServedCertificate } from "./net/tls.ts";
import { formatReply, reply } from "./smtp/reply.ts";
import { SmtpSession } from "./smtp/session.ts";
import { MaildropLocks } from "./pop3/locks.ts";
import { Pop3Session } from "./pop3/session.ts";
import { CommitQueue } from "./store/commit_queue.ts";
import { Resolver } from "./dns/resolver.ts";
import { QueueRunner } from "./delivery/outbound.ts";
import { dkimSigner } from "./delivery/signing.ts";
import { SendLimits } from "./delivery/send_limits.ts";
import { startJunkPruning } from "./junk/pruning.ts";
import { startRetention } from "./store/retention_schedule.ts";
import { startBackups } from "./store/backup_schedule.ts";
import { InboundChecker } from "./security/inbound_checker.ts";
import { ImapSession } from "./imap/session.ts";
import { MailboxChanges, watchOtherWriters } from "./store/changes.ts";
import type { Store } from "./store/db.ts";
import { ServerMetrics } from "./metrics/server_metrics.ts";
import type { HttpListener } from "./http/listener.ts";

/** What the server is started with. */
export interface ServerContext {
  config: Config;
  store: Store;
  tls?: ServedCertificate;
  /** ACME http-01 answers the HTTP listener serves: token -> key authorization. */
  acmeChallenges?: Map<string, string>;
  /**
   * The clock of the hourly send limits. Only tests that start the server in
   * their own process give one, to move an hour on at once. @default Date.now
   */
  now?: () => number;
}

/** What every protocol session may use: the context plus the shared services. */
export interface ServerServices extends ServerContext {
  authenticator: Authenticator;
  commits: CommitQueue;
  locks: MaildropLocks;
  /** Delivers the outbound queue; woken when a message for remote recipients is accepted. */
  outbound: QueueRunner;
  /** DNS for MX routing. */
  resolver: Resolver;
  /** The checks of inbound mail, on their own thread. */
  checker: InboundChecker;
  /** Tells IMAP sessions that a mailbox changed. */
  changes: MailboxChanges;
  /** Open IMAP sessions per user. */
  sessionsPerUser: Map<number, number>;
  /** What the server counts, for /metrics. */
  metrics: ServerMetrics;
  /** Slows intake near `limits.memory`. */
  memory: MemoryGuard;
  /** The hourly send limits of users, shared by SMTP submission and the send API. */
  sendLimits: SendLimits;
}

/** How a listener's sessions are made. */
interface Protocol {
  /** The TLS handshake comes first (RFC 8314 implicit TLS). */
  implicitTls: boolean;
  create(services: ServerServices): SessionHandler;
  /** Tells a client refused by the connection caps, then closes. */
  refuse(conn: Connection, reason: string): Promise<void>;
}

async function refuseSmtp(conn: Connection, reason: string): Promise<void> {
  await conn.write(formatReply(reply(421, "4.7.0", reason)));
  await conn.close();
}

const smtp = (role: "mx" | "submission", implicitTls: boolean): Protocol => ({
  implicitTls,
  create: (services) => (conn) => new SmtpSession(conn, services, role).run(),
  refuse: refuseSmtp,
});

const pop3 = (implicitTls: boolean): Protocol => ({
  implicitTls,
  create: (services) => (conn) => new Pop3Session(conn, services).run(),
  refuse: async (conn, reason) => {
    await conn.write(`-ERR [SYS/TEMP] ${reason}\r\n`);
    await conn.close();
  },
});

const imap = (implicitTls: boolean): Protocol => ({
  implicitTls,
  create: (services) => (conn) => new ImapSession(conn, services).run(),
  refuse: async (conn, reason) => {
    await conn.write(`* BYE [UNAVAILABLE] ${reason}\r\n`);
    await conn.close();
  },
});

/** The protocols this build serves, by listener name. */
const PROTOCOLS: Partial<Record<ListenerName, Protocol>> = {
  smtp: smtp("mx", false),
  submission: smtp("submission", false),
  submissions: smtp("submission", true),
  pop3: pop3(false),
  pop3s: pop3(true),
  imap: imap(false),
  imaps: imap(true),
};

/** Raised when the server cannot start (a port in use, TLS missing for an implicit-TLS listener). */
export class ServerStartError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ServerStartError";
  }
}

/** A started server. */
export interface Server {
  readonly listeners: readonly (Listener | HttpListener)[];
  /** The bound address of a listener, if it runs. */
  address(name: ListenerName): HostPort | undefined;
  /** Stops accepting, lets sessions finish for up to `graceMs`, then drops the rest. */
  close(graceMs?: number): Promise<void>;
}

const logger = log("server");

function mebibytes(bytes: number): string {
  return `${Math.round(bytes / 1048576)} MiB`;
}

/** Starts every configured listener whose protocol exists; fails as a whole if one cannot bind. */
export async function startServer(ctx: ServerContext): Promise<Server> {
  const resolver = new Resolver({
    servers: ctx.config.dns ? [ctx.config.dns] : undefined,
    cache: true,
  });
  const changes = new MailboxChanges();
  const metrics = new ServerMetrics(ctx.store);
  const authenticator = new Authenticator(ctx.store);
  authenticator.onFailure = (protocol) => metrics.authFailure(protocol);
  const commits = new CommitQueue(ctx.store, {
    onCommitted: (r) => {
      for (const id of new Set(r.entries.map((e) => e.mailboxId))) changes.notify(id);
    },
    onBatch: (size, seconds) => metrics.commit(size, seconds),
  });
  const checker = new InboundChecker(ctx.config.dns ? [ctx.config.dns] : undefined);
  const memory = new MemoryGuard({
    limitBytes: ctx.config.limits.memoryBytes,
    collect: () => {
      collectGarbage();
      commits.collectGarbage();
      checker.collectGarbage();
    },
    onPressure: (slowed, rss) => {
      const values = { rss: mebibytes(rss), limit: mebibytes(ctx.config.limits.memoryBytes) };
      if (slowed) logger.warn("Memory at {rss} of {limit}: slowing intake", values);
      else logger.info("Memory at {rss} of {limit}: intake at full speed again", values);
    },
  });
  const sendLimits = new SendLimits({
    messagesPerHour: ctx.config.limits.sendPerHour,
    recipientsPerHour: ctx.config.limits.recipientsPerHour,
    now: ctx.now,
    onRefused: (limit) => metrics.sendLimited(limit),
  });
  const services: ServerServices = {
    ...ctx,
    changes,
    metrics,
    sendLimits,
    sessionsPerUser: new Map(),
    authenticator,
    commits,
    locks: new MaildropLocks(),
    resolver,
    checker,
    memory,
    outbound: new QueueRunner({
      config: ctx.config,
      store: ctx.store,
      resolver,
      sign: dkimSigner(ctx.store),
      changes,
      onOutcome: (result, count) => metrics.delivery(result, count),
    }),
  };
  const limits = new ConnectionLimits({
    maxConnections: ctx.config.limits.connections,
    maxPerIp: ctx.config.limits.connectionsPerIp,
  });
  const listeners: (Listener | HttpListener)[] = [];
  const closeAll = (graceMs: number) => Promise.all(listeners.map((l) => l.close(graceMs)));
  const address = (name: ListenerName) => listeners.find((l) => l.name === name)?.address;
  let closing = false;
  const stopWatching: (() => void)[] = [];
  // The HTTP layer (Hono, the pages) is loaded only when it listens: a server without it
  // stays the smaller for it.
  const [httpAppModule, httpListenerModule] =
    ctx.config.listeners.http || ctx.config.listeners.https
      ? await Promise.all([import("./http/app.ts"), import("./http/listener.ts")])
      : [];
  const httpApp = httpAppModule?.createHttpApp({
    ...services,
    listening: address,
    healthy: () => !closing && LISTENERS.every((n) => !ctx.config.listeners[n] || address(n)),
  });
  /** Starts the HTTP or HTTPS listener; HTTPS follows every certificate change. */
  const startHttp = (name: "http" | "https", address: HostPort): HttpListener => {
    const tls = name === "https" ? ctx.tls! : undefined;
    const listener = httpListenerModule!.HttpListener.start({
      name,
      address,
      fetch: (request, env) => httpApp!.fetch(request, env),
      tls: tls && { cert: tls.cert, key: tls.key },
    });
    if (tls) {
      stopWatching.push(tls.onChange((identity) => {
        listener.replaceCertificate(identity).catch((err) =>
          logger.error("https could not take the new certificate: {error}", {
            error: (err as Error)?.message ?? String(err),
          })
        );
      }));
    }
    return listener;
  };
  try {
    for (const name of LISTENERS) {
      const address = ctx.config.listeners[name];
      if (!address) continue;
      const http = name === "http" || name === "https";
      const protocol = PROTOCOLS[name];
      if (!http && !protocol) {
        logger.warn("The {listener} listener is not available in this version; not started", {
          listener: name,
        });
        continue;
      }
      if ((name === "https" || protocol?.implicitTls) && !ctx.tls) {
        throw new ServerStartError(
          `The ${name} listener needs a certificate: give --tls-cert and --tls-key (or use --dev)`,
        );
      }
      let listener: Listener | HttpListener;
      try {
        listener = http ? startHttp(name, address) : await Listener.start({
          name,
          address,
          handler: protocol!.create(services),
          // Read at each handshake, so a renewed certificate reaches new connections at once.
          implicitTls: protocol!.implicitTls ? () => ctx.tls!.context : undefined,
          limits,
          refuse: protocol!.refuse,
          onConnection: (delta) => metrics.connection(name, delta),
        });
      } catch (err) {
        throw new ServerStartError(
          `Cannot listen for ${name} on ${formatHostPort(address)}: ${describeBindError(err)}`,
          { cause: err },
        );
      }
      listeners.push(listener);
      logger.info("{listener} listening on {address}", {
        listener: name,
        address: formatHostPort(listener.address),
      });
    }
  } catch (err) {
    await closeAll(0);
    await services.commits.close();
    services.checker.close();
    throw err;
  }
  services.outbound.start();
  const stopPruning = startJunkPruning(ctx.store);
  const stopRetention = startRetention(ctx.store, ctx.config.retention, changes);
  const { dir: backupDir, everyMs, keep } = ctx.config.backup;
  const backups = backupDir
    ? startBackups(ctx.store.path, { dir: backupDir, everyMs, keep })
    : null;
  // IMAP IDLE hears of mail stored by other processes (postino import) within a second.
  const stopWatchingWriters = watchOtherWriters(ctx.store, changes);
  return {
    listeners,
    address,
    close: async (graceMs = 10_000) => {
      closing = true;
      stopPruning();
      stopRetention();
      await backups?.stop();
      stopWatchingWriters();
      for (const stop of stopWatching) stop();
      await closeAll(graceMs);
      await services.commits.close(); // every acknowledged message is on disk before we return
      await services.outbound.stop(graceMs);
      services.checker.close();
    },
  };
}

function describeBindError(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "EADDRINUSE" || err instanceof Deno.errors.AddrInUse) return "the address is in use";
  if (code === "EACCES" || err instanceof Deno.errors.PermissionDenied) {
    return "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)";
  }
  if (code === "EADDRNOTAVAIL" || err instanceof Deno.errors.AddrNotAvailable) {
    return "the address is not one of this machine's";
  }
  return (err as Error).message ?? String(err);
}
