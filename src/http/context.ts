/** What an HTTP handler knows of its request's connection and of the server. */
import type { HostPort, ListenerName } from "../config.ts";
import type { ServerMetrics } from "../metrics/server_metrics.ts";
import type { ServerServices } from "../server.ts";

/** The connection a request came on (Hono's `c.env`). */
export interface HttpEnv {
  /** The client's IP address. */
  remoteAddr: string;
  /** The request came over TLS. */
  secure: boolean;
  listener: "http" | "https";
}

/** The server's services plus what only the HTTP layer needs. */
export interface HttpServices extends ServerServices {
  metrics: ServerMetrics;
  /** The bound address of a running listener (for autoconfig and health). */
  listening(name: ListenerName): HostPort | undefined;
  /** True while every listener is up (health). */
  healthy(): boolean;
}
