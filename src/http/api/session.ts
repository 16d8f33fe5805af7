/**
 * /api/v1/session: the web UI's sign-in. A session is a random secret in an
 * `HttpOnly`, `SameSite=Strict` cookie (`Secure` over TLS), kept server-side
 * with an expiry; every state change made with it must also carry the
 * session's CSRF token, which only our own pages can read.
 */
import { connectionId } from "../../net/listener.ts";
import { closeWebSession, openWebSession } from "../../store/web_sessions.ts";
import { cookieValue, credentialsAllowed, insecureRefusal, SESSION_COOKIE } from "../auth.ts";
import type { HttpEnv } from "../context.ts";
import { ApiError, unauthorized } from "../errors.ts";
import { json, type RouteSpec } from "../route.ts";
import { s } from "../schema.ts";

const session = s.object({
  address: s.string("The signed-in user"),
  admin: s.boolean("May administer the server"),
  csrfToken: s.string("Send it as X-CSRF-Token with every POST, PUT and DELETE"),
});
/** GET answers whoever asks: Basic and tokens have no session, admin tokens no user. */
const caller = s.object({
  address: { type: ["string", "null"], description: "The user; null for an admin token" },
  admin: s.boolean("May administer the server"),
  csrfToken: {
    type: ["string", "null"],
    description: "The session's CSRF token; null without a session cookie",
  },
});

/** How long a browser keeps the cookie; the server ends sessions sooner when idle. */
const COOKIE_MAX_AGE_S = 7 * 86_400;

/** The Set-Cookie value that stores `secret`, or with "" removes the cookie. */
export function sessionCookie(secret: string, env: HttpEnv): string {
  const attributes = [
    `${SESSION_COOKIE}=${secret}`,
    "Path=/",
    "HttpOnly",
    "SameSite=Strict",
    `Max-Age=${secret ? COOKIE_MAX_AGE_S : 0}`,
  ];
  if (env.secure) attributes.push("Secure");
  return attributes.join("; ");
}

export const sessionRoutes = [
  {
    method: "POST",
    path: "/api/v1/session",
    summary: "Sign in (web UI)",
    description: "Sets the session cookie. Refused over plain HTTP except from loopback.",
    tag: "session",
    access: "public",
    body: s.object({
      address: s.string("The user's address", { minLength: 1, maxLength: 320 }),
      password: s.string("The password", { minLength: 1, maxLength: 1024, format: "password" }),
    }),
    responses: {
      201: { description: "Signed in", schema: session },
      401: { description: "Wrong address or password" },
    },
    handle: async ({ body, env, request, services }) => {
      if (!credentialsAllowed(env)) throw insecureRefusal();
      // A page elsewhere must not sign the browser in to an account of its choosing.
      const origin = request.headers.get("origin");
      if (origin !== null && origin !== new URL(request.url).origin) {
        throw new ApiError(403, "Cross-origin request refused");
      }
      const user = await services.authenticator.login({
        username: body.address,
        password: body.password,
        remoteAddress: env.remoteAddr,
        protocol: "http",
        connectionId: connectionId(),
      });
      if (!user) throw unauthorized("Wrong address or password");
      const { secret, csrfToken } = await openWebSession(services.store, user.id);
      return json({ address: user.address, admin: user.admin, csrfToken }, 201, {
        "Set-Cookie": sessionCookie(secret, env),
        "Cache-Control": "no-store",
      });
    },
  } satisfies RouteSpec<{ address: string; password: string }>,
  {
    method: "GET",
    path: "/api/v1/session",
    summary: "Who is signed in",
    tag: "session",
    access: "user",
    responses: { 200: { description: "The caller", schema: caller } },
    handle: ({ principal }) =>
      json(
        {
          address: principal.user?.address ?? null,
          admin: principal.admin,
          csrfToken: principal.csrfToken ?? null,
        },
        200,
        { "Cache-Control": "no-store" },
      ),
  } satisfies RouteSpec,
  {
    method: "DELETE",
    path: "/api/v1/session",
    summary: "Sign out",
    tag: "session",
    access: "user",
    responses: { 204: { description: "Signed out; the cookie is removed" } },
    handle: async ({ request, env, services }) => {
      const secret = cookieValue(request.headers.get("cookie"), SESSION_COOKIE);
      if (secret) await closeWebSession(services.store, secret);
      return new Response(null, {
        status: 204,
        headers: { "Set-Cookie": sessionCookie("", env) },
      });
    },
  } satisfies RouteSpec,
];
