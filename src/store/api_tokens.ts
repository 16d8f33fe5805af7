/**
 * API tokens for `Authorization: Bearer`. A token is a random secret shown
 * once at creation; the store keeps only its SHA-256, which is enough since
 * the secret has 256 bits of entropy (no password-style stretching needed).
 * A token without a user has admin rights; one with a user acts as that user.
 */
import { type Store, StoreError } from "./db.ts";

/** A token as listed; the secret never leaves the store. */
export interface ApiTokenInfo {
  name: string;
  /** The user it acts as; undefined for an admin token. */
  user?: string;
  createdAt: Date;
  lastUsedAt?: Date;
}

/** Whom a presented token stands for. */
export interface TokenHolder {
  name: string;
  /** The user it acts as (with their admin flag), or undefined for an admin token. */
  user?: { id: number; address: string; admin: boolean };
}

/** The prefix of every token, so that a leaked one is recognisable in logs and scanners. */
export const TOKEN_PREFIX = "postino_";

/** Hex SHA-256 of a secret. */
export async function secretHash(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A new random secret: 32 bytes, base64url. */
export function newSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** Token names: what `token del NAME` takes. */
export function isValidTokenName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name);
}

/**
 * Creates a token named `name` (for `user` when given) and returns its
 * secret, which is not stored and cannot be shown again.
 */
export async function createApiToken(
  store: Store,
  name: string,
  user?: string,
): Promise<string> {
  if (!isValidTokenName(name)) {
    throw new StoreError(
      `Invalid token name "${name}" (letters, digits, ".", "_" and "-", at most 64)`,
    );
  }
  const secret = TOKEN_PREFIX + newSecret();
  const hash = await secretHash(secret);
  store.transaction(() => {
    if (store.get("SELECT 1 FROM api_tokens WHERE name = ?", name)) {
      throw new StoreError(`Token ${name} already exists`, "conflict");
    }
    let userId: number | null = null;
    if (user !== undefined) {
      userId = store.get<{ id: number }>("SELECT id FROM users WHERE address = ?", user)?.id ??
        null;
      if (userId === null) throw new StoreError(`User ${user} does not exist`, "not_found");
    }
    store.run(
      "INSERT INTO api_tokens (name, secret_hash, user_id, created_at) VALUES (?, ?, ?, ?)",
      name,
      hash,
      userId,
      Date.now(),
    );
  });
  return secret;
}

/** Every token, by name. */
export function listApiTokens(store: Store): ApiTokenInfo[] {
  return store.all<
    { name: string; address: string | null; created_at: number; last_used_at: number | null }
  >(
    `SELECT t.name, u.address, t.created_at, t.last_used_at
     FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id ORDER BY t.name`,
  ).map((r) => ({
    name: r.name,
    user: r.address ?? undefined,
    createdAt: new Date(r.created_at),
    lastUsedAt: r.last_used_at === null ? undefined : new Date(r.last_used_at),
  }));
}

/** Deletes a token; it stops working at once. */
export function deleteApiToken(store: Store, name: string): void {
  if (store.run("DELETE FROM api_tokens WHERE name = ?", name).changes === 0) {
    throw new StoreError(`Token ${name} does not exist`, "not_found");
  }
}

/** Whom `secret` stands for, or undefined when it is no token of ours. Records its use. */
export async function findApiToken(store: Store, secret: string): Promise<TokenHolder | undefined> {
  if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 200) return undefined;
  const hash = await secretHash(secret);
  const row = store.get<
    { id: number; name: string; user_id: number | null; address: string; admin: number }
  >(
    `SELECT t.id, t.name, t.user_id, u.address, u.admin
     FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id WHERE t.secret_hash = ?`,
    hash,
  );
  if (!row) return undefined;
  // At most one write a minute per token: the time of use is a hint, not a log.
  store.run(
    "UPDATE api_tokens SET last_used_at = ?1 WHERE id = ?2 AND coalesce(last_used_at, 0) < ?1 - 60000",
    Date.now(),
    row.id,
  );
  return {
    name: row.name,
    user: row.user_id === null
      ? undefined
      : { id: row.user_id, address: row.address, admin: row.admin === 1 },
  };
}
