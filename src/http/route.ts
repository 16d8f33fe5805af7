/**
 * An API route, described once: method, path, who may call it, the schema
 * of its body and answers, and its handler. `mountRoutes` turns the table
 * into Hono routes that authenticate, check CSRF, read and validate the
 * body, and map every error to the one error shape; `openApiDocument`
 * (openapi.ts) turns the same table into the OpenAPI document.
 */
import type { Context, Hono } from "hono";
import { authenticate, checkCsrf, type Principal } from "./auth.ts";
import type { HttpEnv, HttpServices } from "./context.ts";
import { ApiError, errorResponse, unauthorized } from "./errors.ts";
import { type Schema, validate } from "./schema.ts";

/** Who may call a route. */
export type Access = "public" | "user" | "admin";

/** What a handler gets. */
export interface ApiRequest<B = unknown> {
  /** The caller; `via: "anonymous"` on a public route. */
  principal: Principal;
  /** Path parameters, decoded. */
  params: Record<string, string>;
  /** The validated JSON body (routes with a body schema). */
  body: B;
  request: Request;
  env: HttpEnv;
  services: HttpServices;
}

/** One answer a route may give, for the OpenAPI document. */
export interface ResponseSpec {
  description: string;
  schema?: Schema;
  /** @default "application/json" when there is a schema */
  contentType?: string;
}

/** An API route. */
export interface RouteSpec<B = unknown> {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** OpenAPI-style path, `/api/v1/users/{address}`. */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  /** A longer description of who may call it and what it does. */
  description?: string;
  params?: Record<string, string>;
  body?: Schema;
  /** The largest body accepted, in bytes. @default 65536 */
  maxBodyBytes?: number;
  responses: Record<number, ResponseSpec>;
  handle(request: ApiRequest<B>): Response | Promise<Response>;
}

const ANONYMOUS: Principal = { admin: false, via: "anonymous" };
const UNSAFE = new Set(["POST", "PUT", "DELETE", "PATCH"]);
const DEFAULT_BODY_LIMIT = 64 * 1024;

/** Registers `routes` on `app`; every answer, error or not, goes through here. */
export function mountRoutes(
  app: Hono<{ Bindings: HttpEnv }>,
  routes: readonly RouteSpec<never>[],
  services: HttpServices,
): void {
  for (const route of routes) {
    const honoPath = route.path.replace(/\{(\w+)\}/g, ":$1");
    app.on(route.method, honoPath, (c) => dispatch(route as RouteSpec<unknown>, c, services));
  }
}

async function dispatch(
  route: RouteSpec<unknown>,
  c: Context<{ Bindings: HttpEnv }>,
  services: HttpServices,
): Promise<Response> {
  try {
    let principal: Principal | undefined;
    if (route.access !== "public") {
      principal = await authenticate(c.req.raw, c.env, services);
      if (!principal) throw unauthorized();
      if (UNSAFE.has(route.method)) checkCsrf(c.req.raw, principal);
      if (route.access === "admin" && !principal.admin) {
        throw new ApiError(403, "This needs an admin");
      }
    }
    const body = route.body
      ? await readJson(c.req.raw, route.body, route.maxBodyBytes ?? DEFAULT_BODY_LIMIT)
      : undefined;
    return await route.handle({
      principal: principal ?? ANONYMOUS,
      params: c.req.param() as Record<string, string>,
      body,
      request: c.req.raw,
      env: c.env,
      services,
    });
  } catch (err) {
    return errorResponse(err);
  }
}

/**
 * The methods `routes` offer for `path`, for a 405's Allow header (RFC 9110
 * §15.5.6); empty when no route has that path.
 */
export function allowedMethods(routes: readonly RouteSpec<never>[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    const pattern = new RegExp(`^${route.path.replace(/\{\w+\}/g, "[^/]+")}$`);
    if (pattern.test(path)) methods.add(route.method);
  }
  return [...methods];
}

/** Reads a JSON body of at most `limit` bytes and checks it against `schema`. */
export async function readJson(request: Request, schema: Schema, limit: number): Promise<unknown> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) {
    throw new ApiError(415, "The body must be JSON (Content-Type: application/json)");
  }
  const text = new TextDecoder("utf-8", { fatal: false }).decode(await readLimited(request, limit));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError(400, "The body is not valid JSON");
  }
  validate(value, schema);
  return value;
}

/** The body's bytes; a 413 as soon as it passes `limit` (declared or sent). */
async function readLimited(request: Request, limit: number): Promise<Uint8Array> {
  const tooBig = () => new ApiError(413, `The body is larger than ${limit} bytes`);
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw tooBig();
  if (!request.body) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) throw tooBig();
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** A JSON answer. */
export function json(data: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return Response.json(data, { status, headers });
}

/** The caller's user; a 403 for an admin token, which belongs to nobody. */
export function requireUser(principal: Principal): { id: number; address: string } {
  if (!principal.user) {
    throw new ApiError(403, "This needs a user's credentials, not an admin token");
  }
  return principal.user;
}

/** A 204 No Content. */
export function noContent(): Response {
  return new Response(null, { status: 204 });
}
