/**
 * A TCP listener (node:net) that turns each accepted socket into a
 * {@link Connection} and runs a session on it. Implicit-TLS listeners
 * (submissions, pop3s, imaps) finish the TLS handshake before the session
 * starts. Tracks its sessions so a shutdown can drain them.
 */
import net from "node:net";
import type tls from "node:tls";
import type { HostPort } from "../config.ts";
import { log } from "../log.ts";
import { Connection } from "./connection.ts";
import type { ConnectionLimits } from "./limits.ts";

/** Runs one protocol session to its end; must not throw for protocol reasons. */
export type SessionHandler = (conn: Connection) => Promise<void>;

/** What a listener needs to start. */
export interface ListenerOptions {
  /** Listener name for logs ("smtp", "pop3s", ...). */
  name: string;
  address: HostPort;
  handler: SessionHandler;
  /** Present for implicit TLS: the handshake happens before the session starts. */
  implicitTls?: () => tls.SecureContext;
  /** Idle timeout given to each connection. @default 300000 */
  idleTimeoutMs?: number;
  /** Caps shared with the other listeners; a refused connection gets `refuse`. */
  limits?: ConnectionLimits;
  /** Tells a refused client why, in its protocol's words (SMTP 421, POP3 -ERR, ...). */
  refuse?: (conn: Connection, reason: string) => Promise<void>;
  /** Hears of each connection accepted (+1) and ended (-1), for the metrics. */
  onConnection?: (delta: 1 | -1) => void;
}

const logger = log("net");

let nextId = 0;
const idPrefix = crypto.randomUUID().slice(0, 4);

/** A new connection id, unique within this process and unlikely to repeat across restarts. */
export function connectionId(): string {
  return `${idPrefix}${(++nextId).toString(36).padStart(4, "0")}`;
}

/** A bound listener. */
export class Listener {
  readonly name: string;
  /** The address actually bound (the real port when 0 was asked for). */
  readonly address: HostPort;
  #server: net.Server;
  #sessions = new Map<Connection, Promise<void>>();
  #options: ListenerOptions;

  private constructor(server: net.Server, address: HostPort, options: ListenerOptions) {
    this.name = options.name;
    this.address = address;
    this.#server = server;
    this.#options = options;
    server.on("connection", (socket) => this.#accept(socket));
  }

  /** Binds and starts accepting; rejects with the bind error (address in use, no permission). */
  static async start(options: ListenerOptions): Promise<Listener> {
    const server = net.createServer({ pauseOnConnect: false, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: options.address.host || undefined, port: options.address.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (err) =>
      logger.error("{listener} error: {error}", {
        listener: options.name,
        error: String(err),
      }));
    const bound = server.address() as net.AddressInfo;
    return new Listener(server, { host: bound.address, port: bound.port }, options);
  }

  /** Number of open sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  #accept(socket: net.Socket): void {
    const conn = new Connection(socket, {
      id: connectionId(),
      remoteAddress: normalizeIp(socket.remoteAddress ?? ""),
      remotePort: socket.remotePort ?? 0,
      localAddress: normalizeIp(socket.localAddress ?? ""),
      localPort: socket.localPort ?? 0,
      idleTimeoutMs: this.#options.idleTimeoutMs,
    });
    this.#options.onConnection?.(1);
    const run = this.#run(conn).finally(() => {
      this.#sessions.delete(conn);
      this.#options.onConnection?.(-1);
    });
    this.#sessions.set(conn, run);
  }

  async #run(conn: Connection): Promise<void> {
    const slot = this.#options.limits?.acquire(conn.remoteAddress) ?? { release: () => {} };
    try {
      if (this.#options.implicitTls) {
        try {
          await conn.startTls(this.#options.implicitTls());
        } catch (err) {
          logger.info("{id} {listener} TLS handshake with {remote} failed: {error}", {
            id: conn.id,
            listener: this.name,
            remote: conn.remoteAddress,
            error: String((err as Error).message ?? err),
          });
          return;
        }
      }
      if ("refused" in slot) {
        const reason = slot.refused === "total"
          ? "Too many connections, try again later"
          : "Too many connections from your address, try again later";
        logger.warn("{id} {listener} refused {remote}: {reason}", {
          id: conn.id,
          listener: this.name,
          remote: conn.remoteAddress,
          reason,
        });
        await this.#options.refuse?.(conn, reason);
        return;
      }
      await this.#options.handler(conn);
    } catch (err) {
      logger.error("{id} {listener} session failed: {error}", {
        id: conn.id,
        listener: this.name,
        error: (err as Error)?.stack ?? String(err),
      });
    } finally {
      if ("release" in slot) slot.release();
      conn.destroy();
    }
  }

  /**
   * Stops accepting, asks every session to end, waits up to `graceMs` for
   * them, then drops what is left.
   */
  async close(graceMs: number): Promise<void> {
    const stopped = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const conn of this.#sessions.keys()) conn.shutdown();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs));
    await Promise.race([Promise.allSettled([...this.#sessions.values()]), deadline]);
    clearTimeout(timer);
    for (const conn of this.#sessions.keys()) conn.destroy();
    await Promise.allSettled([...this.#sessions.values()]);
    await stopped;
  }
}

/** Strips the IPv4-mapped prefix (`::ffff:127.0.0.1` -> `127.0.0.1`). */
export function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}
