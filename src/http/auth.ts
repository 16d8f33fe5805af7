/**
 * Who is asking: HTTP Basic with a user's address and password, a Bearer API
 * token, or the web UI's session cookie. Credentials travel only over TLS or
 * from loopback, as for the mail protocols; failures share the mail
 * protocols' login throttle.
 */
import { connectionId } from "../net/listener.ts";
import { findApiToken } from "../store/api_tokens.ts";
import { findWebSession } from "../store/web_sessions.ts";
import { ApiError, unauthorized } from "./errors.ts";
import type { HttpEnv, HttpServices } from "./context.ts";

/** An authenticated caller. */
export interface Principal {
  /** The user, unless this is an admin token that belongs to nobody. */
  user?: { id: number; address: string };
  admin: boolean;
  via: "basic" | "token" | "session" | "anonymous";
  /** For a session: the token every state change must carry (X-CSRF-Token). */
  csrfToken?: string;
}

/** The cookie that holds the web session's secret. */
export const SESSION_COOKIE = "postino_session";

/**
 * True for 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. Stricter than
 * net/limits.ts's, which mail listeners call with addresses already
 * unmapped: a remote address from an HTTP stack is checked as written.
 */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase().replace(/^::ffff:/, "");
  return a === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** True when credentials may be sent on this connection. */
export function credentialsAllowed(env: HttpEnv): boolean {
  return env.secure || isLoopback(env.remoteAddr);
}

/** The refusal of credentials over plain HTTP from elsewhere than loopback. */
export function insecureRefusal(): ApiError {
  return new ApiError(
    403,
    "Credentials are accepted only over HTTPS (or from loopback); use the https:// address",
  );
}

/** The value of cookie `name` in a Cookie header, if present. */
export function cookieValue(header: string | null, name: string): string | undefined {
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The caller of `request`, or undefined when it carries no credentials.
 * Throws a 401 for wrong credentials and a 403 for credentials sent in the
 * clear from elsewhere than loopback.
 */
export async function authenticate(
  request: Request,
  env: HttpEnv,
  services: HttpServices,
): Promise<Principal | undefined> {
  const header = request.headers.get("authorization");
  if (header !== null) {
    if (!credentialsAllowed(env)) throw insecureRefusal();
    const [scheme, value = ""] = header.trim().split(/\s+/, 2);
    switch (scheme.toLowerCase()) {
      case "basic":
        return await basic(value, env, services);
      case "bearer":
        return await bearer(value, env, services);
      default:
        throw unauthorized(`Unsupported authorization scheme ${scheme.slice(0, 20)}`);
    }
  }
  const secret = cookieValue(request.headers.get("cookie"), SESSION_COOKIE);
  // A session cookie seen in the clear from afar is ignored, not honoured.
  if (secret === undefined || !credentialsAllowed(env)) return undefined;
  const session = await findWebSession(services.store, secret);
  if (!session) return undefined;
  return {
    user: { id: session.userId, address: session.address },
    admin: session.admin,
    via: "session",
    csrfToken: session.csrfToken,
  };
}

async function basic(value: string, env: HttpEnv, services: HttpServices): Promise<Principal> {
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(value), (c) => c.charCodeAt(0)),
    );
  } catch {
    throw unauthorized("Malformed Basic credentials");
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) throw unauthorized("Malformed Basic credentials");
  const user = await services.authenticator.login({
    username: decoded.slice(0, colon),
    password: decoded.slice(colon + 1),
    remoteAddress: env.remoteAddr,
    protocol: "http",
    connectionId: connectionId(),
  });
  if (!user) throw unauthorized("Wrong address or password");
  return { user: { id: user.id, address: user.address }, admin: user.admin, via: "basic" };
}

async function bearer(value: string, env: HttpEnv, services: HttpServices): Promise<Principal> {
  const holder = value ? await findApiToken(services.store, value) : undefined;
  if (!holder) {
    await services.authenticator.failed({
      username: "(api token)",
      remoteAddress: env.remoteAddr,
      protocol: "http",
      connectionId: connectionId(),
    });
    throw unauthorized("Unknown API token");
  }
  if (!holder.user) return { admin: true, via: "token" };
  const { id, address, admin } = holder.user;
  return { user: { id, address }, admin, via: "token" };
}

/**
 * A state change made with the session cookie must carry the session's CSRF
 * token in X-CSRF-Token and, when the browser names an Origin, come from our
 * own: a page elsewhere can do neither.
 */
export function checkCsrf(request: Request, principal: Principal): void {
  if (principal.via !== "session") return;
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== new URL(request.url).origin) {
    throw new ApiError(403, "Cross-origin request refused");
  }
  const token = request.headers.get("x-csrf-token");
  if (!token || !timingSafeEqual(token, principal.csrfToken ?? "")) {
    throw new ApiError(403, "Missing or wrong CSRF token", "X-CSRF-Token");
  }
}

function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
