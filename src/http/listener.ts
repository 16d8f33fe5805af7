/**
 * An HTTP or HTTPS listener: Deno's built-in server (`Deno.serve`, HTTP/1.1
 * and HTTP/2 over TLS), handing each request to the application with the
 * client's address and whether TLS was used.
 */
import type { HostPort } from "../config.ts";
import { normalizeIp } from "../net/listener.ts";
import type { HttpEnv } from "./context.ts";
import { jsonError } from "./errors.ts";

/** What a listener needs. */
export interface HttpListenerOptions {
  name: "http" | "https";
  address: HostPort;
  /** The application: Hono's `fetch`. */
  fetch: (request: Request, env: HttpEnv) => Response | Promise<Response>;
  /** PEM certificate chain and key for HTTPS. */
  tls?: { cert: string; key: string };
}

/** A bound HTTP listener. */
export class HttpListener {
  readonly name: "http" | "https";
  readonly address: HostPort;
  readonly #options: HttpListenerOptions;
  #server: Deno.HttpServer<Deno.NetAddr>;
  /** Servers being replaced that still finish their requests. */
  #retiring = new Set<Promise<void>>();

  private constructor(options: HttpListenerOptions, server: Deno.HttpServer<Deno.NetAddr>) {
    this.name = options.name;
    this.#options = options;
    this.#server = server;
    this.address = { host: server.addr.hostname, port: server.addr.port };
  }

  /** Binds and starts serving; throws the bind error (address in use, no permission). */
  static start(options: HttpListenerOptions): HttpListener {
    return new HttpListener(options, HttpListener.#serve(options, options.address, options.tls));
  }

  /**
   * Serves `tls` to new connections: Deno's server takes its certificate
   * once, so a new server takes over the port (the old one stops accepting
   * at once and finishes what it has). Rebinding leaves a gap of a few
   * milliseconds; SO_REUSEPORT would avoid it but is unstable in Deno for TLS.
   */
  async replaceCertificate(tls: { cert: string; key: string }): Promise<void> {
    const old = this.#server;
    const finished = old.shutdown();
    this.#retiring.add(finished);
    finished.finally(() => this.#retiring.delete(finished));
    for (let attempt = 0;; attempt++) {
      try {
        this.#server = HttpListener.#serve(this.#options, this.address, tls);
        return;
      } catch (err) {
        if (!(err instanceof Deno.errors.AddrInUse) || attempt >= 200) throw err;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  }

  static #serve(
    options: HttpListenerOptions,
    address: HostPort,
    tls: { cert: string; key: string } | undefined,
  ): Deno.HttpServer<Deno.NetAddr> {
    const secure = tls !== undefined;
    return Deno.serve({
      hostname: address.host || "::",
      port: address.port,
      // Copied field by field: a certificate object may hold them as getters, which spread loses.
      ...(tls ? { cert: tls.cert, key: tls.key } : {}),
      onListen: () => {},
      // A handler that throws is a bug; the client gets a bare 500, the log the cause.
      onError: () => jsonError(500, "Internal error; the server log has the details"),
    }, (request, info) =>
      options.fetch(request, {
        remoteAddr: normalizeIp(info.remoteAddr.hostname),
        secure,
        listener: options.name,
      }));
  }

  /** Stops accepting and lets requests in flight finish for up to `graceMs`. */
  async close(graceMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs));
    await Promise.race([Promise.all([this.#server.shutdown(), ...this.#retiring]), deadline]);
    clearTimeout(timer);
  }
}
