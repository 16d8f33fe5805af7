/**
 * What each account's junk filter has learned (migrations 7 and 8): feature counts
 * and the messages trained on each side. Training is idempotent per message:
 * the same message trained twice on one side counts once, and trained on the
 * other side it first takes its earlier training back. The features of a
 * message are the caller's (src/junk/tokenize.ts); this module only counts.
 */
import type { StatementSync } from "node:sqlite";
import type { Store } from "./db.ts";

/** What {@link trainJunk} did. */
export type TrainOutcome = "trained" | "retrained" | "unchanged";

function side(spam: boolean): "spam" | "ham" {
  return spam ? "spam" : "ham";
}

/** Adds `delta` (1 or -1) to one side of every feature; counts never go below 0. */
function count(
  store: Store,
  userId: number,
  features: readonly string[],
  column: "spam" | "ham",
  delta: 1 | -1,
  now: number,
): void {
  const sql = delta > 0
    ? `INSERT INTO junk_features (user_id, feature, ${column}, seen_at) VALUES (?, ?, 1, ?)
       ON CONFLICT (user_id, feature) DO UPDATE SET ${column} = ${column} + 1, seen_at = excluded.seen_at`
    : `UPDATE junk_features SET ${column} = max(${column} - 1, 0) WHERE user_id = ? AND feature = ?`;
  for (const feature of new Set(features)) {
    if (delta > 0) store.run(sql, userId, feature, now);
    else store.run(sql, userId, feature);
  }
}

/** Trains message `messageId` of user `userId`, whose features are `features`, as spam or ham. */
export function trainJunk(
  store: Store,
  userId: number,
  messageId: number,
  features: readonly string[],
  spam: boolean,
  now = Date.now(),
): TrainOutcome {
  return store.transaction(() => {
    const earlier = store.get<{ spam: number }>(
      "SELECT spam FROM junk_trained WHERE user_id = ? AND message_id = ?",
      userId,
      messageId,
    );
    if (earlier && (earlier.spam === 1) === spam) return "unchanged";
    if (earlier) {
      count(store, userId, features, side(!spam), -1, now);
      total(store, userId, side(!spam), -1);
    }
    count(store, userId, features, side(spam), 1, now);
    total(store, userId, side(spam), 1);
    store.run(
      `INSERT INTO junk_trained (user_id, message_id, spam, trained_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (user_id, message_id) DO UPDATE SET spam = excluded.spam,
         trained_at = excluded.trained_at`,
      userId,
      messageId,
      spam ? 1 : 0,
      now,
    );
    return earlier ? "retrained" : "trained";
  });
}

/** Takes back the training of a message; false when it was not trained. */
export function untrainJunk(
  store: Store,
  userId: number,
  messageId: number,
  features: readonly string[],
): boolean {
  return store.transaction(() => {
    const earlier = store.get<{ spam: number }>(
      "DELETE FROM junk_trained WHERE user_id = ? AND message_id = ? RETURNING spam",
      userId,
      messageId,
    );
    if (!earlier) return false;
    count(store, userId, features, side(earlier.spam === 1), -1, 0);
    total(store, userId, side(earlier.spam === 1), -1);
    return true;
  });
}

/** How often each of `features` was seen in spam and in ham by user `userId` (the ones ever seen). */
export function junkFeatureCounts(
  store: Store,
  userId: number,
  features: readonly string[],
): Map<string, { spam: number; ham: number }> {
  if (features.length === 0) return new Map();
  const statement = store.prepare(
    `SELECT feature, spam, ham FROM junk_features
     WHERE user_id = ? AND feature IN (SELECT value FROM json_each(?))`,
  );
  returnArrays(statement);
  const rows = statement.all(userId, JSON.stringify([...new Set(features)])) as unknown as [
    string,
    number,
    number,
  ][];
  return new Map(rows.map(([feature, spam, ham]) => [feature, { spam, ham }]));
}

/**
 * Keeps an account's learning bounded: drops features no longer seen on
 * either side, then, above `maxFeatures`, the rarest and oldest first, the
 * sender reputation (`rep:` features, one sighting weighs heavily) last.
 * Gives how many were dropped.
 */
export function pruneJunk(store: Store, userId: number, maxFeatures: number): number {
  return store.transaction(() => {
    let dropped = store.run(
      "DELETE FROM junk_features WHERE user_id = ? AND spam = 0 AND ham = 0",
      userId,
    ).changes;
    const { n } = store.get<{ n: number }>(
      "SELECT count(*) n FROM junk_features WHERE user_id = ?",
      userId,
    )!;
    if (n > maxFeatures) {
      dropped += store.run(
        `DELETE FROM junk_features WHERE user_id = ? AND feature IN (
           SELECT feature FROM junk_features WHERE user_id = ?
           ORDER BY feature LIKE 'rep:%', spam + ham, seen_at LIMIT ?)`,
        userId,
        userId,
        n - maxFeatures,
      ).changes;
    }
    if (dropped > 0) {
      store.run("UPDATE junk_totals SET version = version + 1 WHERE user_id = ?", userId);
    }
    return dropped;
  });
}

/**
 * Remembers that user `userId` wrote to `addresses` (migration 8): they
 * become the account's correspondents. Addresses are kept lower-cased.
 */
export function noteCorrespondents(
  store: Store,
  userId: number,
  addresses: readonly string[],
  now = Date.now(),
): void {
  store.transaction(() => {
    for (const address of new Set(addresses.map((a) => a.toLowerCase()))) {
      store.run(
        `INSERT INTO junk_correspondents (user_id, address, messages, last_at) VALUES (?, ?, 1, ?)
         ON CONFLICT (user_id, address) DO UPDATE SET messages = messages + 1,
           last_at = excluded.last_at`,
        userId,
        address,
        now,
      );
    }
  });
}

/** True when user `userId` has written to anyone. */
export function hasCorrespondents(store: Store, userId: number): boolean {
  return store.get("SELECT 1 FROM junk_correspondents WHERE user_id = ? LIMIT 1", userId) !==
    undefined;
}

/** True when user `userId` has written to `address`. */
export function isCorrespondent(store: Store, userId: number, address: string): boolean {
  return store.get(
    "SELECT 1 FROM junk_correspondents WHERE user_id = ? AND address = ?",
    userId,
    address.toLowerCase(),
  ) !== undefined;
}

/**
 * Prunes every account's learning ({@link pruneJunk}) whose features are
 * over `maxFeatures` or have gone to nothing; gives how many were dropped.
 */
export function pruneAllJunk(store: Store, maxFeatures: number): number {
  const users = store.all<{ user_id: number }>(
    `SELECT user_id FROM junk_features GROUP BY user_id
     HAVING count(*) > ? OR min(spam + ham) = 0`,
    maxFeatures,
  );
  let dropped = 0;
  for (const { user_id } of users) dropped += pruneJunk(store, user_id, maxFeatures);
  return dropped;
}

/**
 * How many messages an account has trained as spam and as ham, and the
 * version of its training (it goes up with every change).
 */
export function junkTotals(
  store: Store,
  userId: number,
): { spam: number; ham: number; version: number } {
  return store.get<{ spam: number; ham: number; version: number }>(
    "SELECT spam, ham, version FROM junk_totals WHERE user_id = ?",
    userId,
  ) ?? { spam: 0, ham: 0, version: 0 };
}

/** Every feature user `userId` has counts for, as `[feature, spam, ham]`, without `rep:` ones. */
export function junkWordCounts(store: Store, userId: number): [string, number, number][] {
  const statement = store.prepare(
    "SELECT feature, spam, ham FROM junk_features WHERE user_id = ? AND feature NOT LIKE 'rep:%'",
  );
  returnArrays(statement);
  return statement.all(userId) as unknown as [string, number, number][];
}

/** Adds `delta` to the number of messages user `userId` trained on one side. */
function total(store: Store, userId: number, column: "spam" | "ham", delta: 1 | -1): void {
  store.run(
    `INSERT INTO junk_totals (user_id, spam, ham) VALUES (?, 0, 0)
     ON CONFLICT (user_id) DO NOTHING`,
    userId,
  );
  store.run(
    `UPDATE junk_totals SET ${column} = max(${column} + ?, 0), version = version + 1
     WHERE user_id = ?`,
    delta,
    userId,
  );
}

/** Rows as arrays, not objects: half the time of a lookup. */
function returnArrays(statement: StatementSync): void {
  // Deno's node:sqlite has it (Node 24's API); its type declarations do not yet.
  (statement as unknown as { setReturnArrays(on: boolean): void }).setReturnArrays(true);
}
