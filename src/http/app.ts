/**
 * The HTTP application shared by the `http` and `https` listeners: health,
 * metrics, client autoconfig, MTA-STS, the JSON API with its OpenAPI
 * document, and the web UI. Plain HTTP from anywhere but loopback gets only
 * what must be plain (autoconfig, health) when HTTPS runs too; the rest is
 * redirected there.
 */
import { Hono } from "hono";
import { MetricsRegistry } from "../metrics/registry.ts";
import { aliasRoutes } from "./api/aliases.ts";
import { accountRoutes } from "./api/account.ts";
import { dkimRoutes } from "./api/dkim.ts";
import { domainRoutes } from "./api/domains.ts";
import { queueRoutes } from "./api/queue.ts";
import { sendRoutes } from "./api/send.ts";
import { sessionRoutes } from "./api/session.ts";
import { statsRoutes } from "./api/stats.ts";
import { userRoutes } from "./api/users.ts";
import { authenticate, isLoopback } from "./auth.ts";
import type { HttpEnv, HttpServices } from "./context.ts";
import { ApiError, errorResponse, jsonError, unauthorized } from "./errors.ts";
import { openApiDocument } from "./openapi.ts";
import { allowedMethods, mountRoutes, type RouteSpec } from "./route.ts";
import { mountUi } from "./ui/pages.ts";
import { mountWellKnown } from "./well_known.ts";

/** Every API route, in the order the OpenAPI document lists them. */
export function apiRoutes(maxMessageSize: number): RouteSpec<never>[] {
  return [
    ...sessionRoutes,
    ...domainRoutes,
    ...userRoutes,
    ...aliasRoutes,
    ...dkimRoutes,
    ...queueRoutes,
    ...sendRoutes(maxMessageSize),
    ...accountRoutes,
    ...statsRoutes,
  ] as RouteSpec<never>[];
}

/** Paths answered over plain HTTP from afar even when HTTPS runs. */
function plainAllowed(path: string): boolean {
  return path === "/healthz" || path.startsWith("/.well-known/acme-challenge/") ||
    path.startsWith("/.well-known/autoconfig/") || path === "/mail/config-v1.1.xml" ||
    path.toLowerCase() === "/autodiscover/autodiscover.xml";
}

/** Builds the application for `services`. */
export function createHttpApp(services: HttpServices): Hono<{ Bindings: HttpEnv }> {
  const app = new Hono<{ Bindings: HttpEnv }>();

  app.use("*", async (c, next) => {
    const env = c.env;
    const url = new URL(c.req.url);
    const https = services.listening("https");
    if (
      env.listener === "http" && https && !isLoopback(env.remoteAddr) && !plainAllowed(url.pathname)
    ) {
      const host = url.hostname.includes(":") ? `[${url.hostname}]` : url.hostname;
      const port = https.port === 443 ? "" : `:${https.port}`;
      c.res = new Response(null, {
        status: 308,
        headers: { Location: `https://${host}${port}${url.pathname}${url.search}` },
      });
    } else {
      await next();
    }
    const headers = c.res.headers;
    // Our pages handle a 401 themselves; a Basic challenge would make the browser ask instead.
    if (c.res.status === 401 && c.req.header("x-requested-with") === "XMLHttpRequest") {
      headers.delete("WWW-Authenticate");
    }
    headers.set("X-Content-Type-Options", "nosniff");
    headers.set("Referrer-Policy", "same-origin");
    headers.set("X-Frame-Options", "DENY");
    if (env.secure) headers.set("Strict-Transport-Security", "max-age=31536000");
    services.metrics.httpRequest(env.listener, c.res.status);
  });

  app.get("/healthz", () => {
    const problems: string[] = [];
    if (!services.store.healthy()) problems.push("the store does not answer");
    if (!services.healthy()) problems.push("a listener is down");
    return Response.json(
      problems.length ? { status: "unavailable", problems } : { status: "ok" },
      { status: problems.length ? 503 : 200, headers: { "Cache-Control": "no-store" } },
    );
  });

  app.get("/metrics", async (c) => {
    try {
      if (!isLoopback(c.env.remoteAddr)) {
        const principal = await authenticate(c.req.raw, c.env, services);
        if (!principal) throw unauthorized();
        if (!principal.admin) throw new ApiError(403, "This needs an admin");
      }
      return new Response(services.metrics.registry.render(), {
        headers: { "Content-Type": MetricsRegistry.contentType, "Cache-Control": "no-store" },
      });
    } catch (err) {
      return errorResponse(err);
    }
  });

  const routes = apiRoutes(services.config.maxMessageSize);
  // Made at the first request, not at start (see etag() in ui/pages.ts on work done at start).
  let document: Record<string, unknown> | undefined;
  app.get("/api/v1/openapi.json", () => Response.json(document ??= openApiDocument(routes)));
  mountRoutes(app, routes, services);
  mountWellKnown(app, services);
  mountUi(app);

  app.notFound((c) => {
    if (!c.req.path.startsWith("/api/")) {
      return new Response("Not found\n", {
        status: 404,
        headers: { "Content-Type": "text/plain; charset=utf-8" },
      });
    }
    const allowed = allowedMethods(routes, c.req.path);
    if (allowed.length > 0) {
      return jsonError(
        405,
        `${c.req.method} is not allowed here; use ${allowed.join(", ")}`,
        undefined,
        {
          Allow: allowed.join(", "),
        },
      );
    }
    return jsonError(404, `No such API path: ${c.req.method} ${c.req.path}`);
  });
  app.onError((err) => errorResponse(err));
  return app;
}
