/**
 * Storage quotas (issue 15, migration 9): each user's limit and usage. Usage
 * is kept by triggers on mailbox_entries as running counters (every copy in
 * a mailbox counts, as IMAP QUOTA's STORAGE does, RFC 9208 §5.1); nothing
 * here sums messages.
 *
 * A user's own limit wins over the configured default: `quota_bytes` NULL
 * means the default, -1 none, anything else that many bytes.
 */
import type { Store } from "./db.ts";

/** A user's quota and usage. */
export interface Quota {
  /** The storage limit in bytes; undefined: none. */
  limitBytes?: number;
  /** The limit on messages; undefined: none. */
  limitMessages?: number;
  usedBytes: number;
  usedMessages: number;
  /** Whether the limit is the user's own (set by `user quota`) or the default. */
  own: boolean;
}

/** The defaults from config (`limits.quota`, `limits.quota_messages`); undefined: none. */
export interface QuotaDefaults {
  bytes?: number;
  messages?: number;
}

/** User `userId`'s quota and usage, or undefined for no such user. */
export function userQuota(
  store: Store,
  userId: number,
  defaults: QuotaDefaults = {},
): Quota | undefined {
  const row = store.get<{ quota_bytes: number | null; used_bytes: number; used_messages: number }>(
    "SELECT quota_bytes, used_bytes, used_messages FROM users WHERE id = ?",
    userId,
  );
  if (!row) return undefined;
  const own = row.quota_bytes !== null;
  const limitBytes = own ? (row.quota_bytes! < 0 ? undefined : row.quota_bytes!) : defaults.bytes;
  return {
    limitBytes,
    // A user whose own quota is "none" has no message limit either.
    limitMessages: own && row.quota_bytes! < 0 ? undefined : defaults.messages,
    usedBytes: row.used_bytes,
    usedMessages: row.used_messages,
    own,
  };
}

/**
 * Sets user `address`'s own storage limit: bytes, "none", or "default" (the
 * configured one). False when there is no such user.
 */
export function setUserQuota(
  store: Store,
  address: string,
  quota: number | "none" | "default",
): boolean {
  const value = quota === "none" ? -1 : quota === "default" ? null : quota;
  return store.run("UPDATE users SET quota_bytes = ? WHERE address = ?", value, address).changes >
    0;
}

/** True when adding `bytes` in `messages` more messages would take the user past their quota. */
export function overQuota(quota: Quota, bytes: number, messages = 1): boolean {
  if (quota.limitBytes !== undefined && quota.usedBytes + bytes > quota.limitBytes) return true;
  return quota.limitMessages !== undefined && quota.usedMessages + messages > quota.limitMessages;
}
