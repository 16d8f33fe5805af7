/**
 * Sign-in sessions of the web UI, kept server-side: the browser holds a
 * random secret in a cookie, the store its SHA-256, the user, a CSRF token
 * and an expiry. A session lasts `idleMs` past its last use and never more
 * than `maxMs` after sign-in; expired rows are removed as they are met.
 */
import { newSecret, secretHash } from "./api_tokens.ts";
import type { Store } from "./db.ts";

/** An open session. */
export interface WebSession {
  userId: number;
  address: string;
  admin: boolean;
  /** Sent with every form and checked on every state change. */
  csrfToken: string;
}

/** How long sessions last. */
export interface SessionLifetime {
  /** @default 12 hours */
  idleMs: number;
  /** @default 7 days */
  maxMs: number;
}

const DEFAULT_LIFETIME: SessionLifetime = { idleMs: 12 * 3_600_000, maxMs: 7 * 86_400_000 };

/** Opens a session for a user; returns the secret for the cookie and the session. */
export async function openWebSession(
  store: Store,
  userId: number,
  lifetime: SessionLifetime = DEFAULT_LIFETIME,
): Promise<{ secret: string; csrfToken: string }> {
  const secret = newSecret();
  const csrfToken = newSecret();
  const now = Date.now();
  store.run(
    `INSERT INTO web_sessions (secret_hash, user_id, csrf_token, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?)`,
    await secretHash(secret),
    userId,
    csrfToken,
    now,
    now + Math.min(lifetime.idleMs, lifetime.maxMs),
  );
  return { secret, csrfToken };
}

/** The session a cookie secret belongs to, extending its life; undefined when none or expired. */
export async function findWebSession(
  store: Store,
  secret: string,
  lifetime: SessionLifetime = DEFAULT_LIFETIME,
): Promise<WebSession | undefined> {
  if (secret.length === 0 || secret.length > 100) return undefined;
  const hash = await secretHash(secret);
  const now = Date.now();
  const row = store.get<{
    user_id: number;
    address: string;
    admin: number;
    csrf_token: string;
    created_at: number;
    expires_at: number;
  }>(
    `SELECT s.user_id, u.address, u.admin, s.csrf_token, s.created_at, s.expires_at
     FROM web_sessions s JOIN users u ON u.id = s.user_id WHERE s.secret_hash = ?`,
    hash,
  );
  if (!row) return undefined;
  if (row.expires_at <= now) {
    store.run("DELETE FROM web_sessions WHERE expires_at <= ?", now);
    return undefined;
  }
  const expires = Math.min(now + lifetime.idleMs, row.created_at + lifetime.maxMs);
  // Extend at most once a minute: a page's requests should not each write.
  if (expires - row.expires_at > 60_000) {
    store.run("UPDATE web_sessions SET expires_at = ? WHERE secret_hash = ?", expires, hash);
  }
  return {
    userId: row.user_id,
    address: row.address,
    admin: row.admin === 1,
    csrfToken: row.csrf_token,
  };
}

/** Ends a session (sign-out). */
export async function closeWebSession(store: Store, secret: string): Promise<void> {
  store.run("DELETE FROM web_sessions WHERE secret_hash = ?", await secretHash(secret));
}
