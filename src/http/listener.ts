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
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  private constructor(name: "http" | "https", server: Deno.HttpServer<Deno.NetAddr>) {
    this.name = name;
    this.#server = server;
    this.address = { host: server.addr.hostname, port: server.addr.port };
  }

  /** Binds and starts serving; throws the bind error (address in use, no permission). */
  static start(options: HttpListenerOptions): HttpListener {
    const secure = options.tls !== undefined;
    const server = Deno.serve({
      hostname: options.address.host || "::",
      port: options.address.port,
      ...(options.tls ?? {}),
      onListen: () => {},
      // A handler that throws is a bug; the client gets a bare 500, the log the cause.
      onError: () => jsonError(500, "Internal error; the server log has the details"),
    }, (request, info) =>
      options.fetch(request, {
        remoteAddr: normalizeIp(info.remoteAddr.hostname),
        secure,
        listener: options.name,
      }));
    return new HttpListener(options.name, server);
  }

  /** Stops accepting and lets requests in flight finish for up to `graceMs`. */
  async close(graceMs: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs));
    await Promise.race([this.#server.shutdown(), deadline]);
    clearTimeout(timer);
  }

  /** Resolves when the server has stopped. */
  get finished(): Promise<void> {
    return this.#server.finished;
  }
}
