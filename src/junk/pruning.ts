/**
 * Keeps each account's junk filter bounded in the store: every hour, the
 * features that went to nothing are dropped, and an account above
 * MAX_FEATURES loses its rarest, oldest ones (store/junk.ts pruneJunk).
 * Classifying reads only a message's own features, so memory does not grow
 * with training; this bounds the disk.
 */
import type { Store } from "../store/db.ts";
import { pruneAllJunk } from "../store/junk.ts";
import { runPeriodically } from "../store/periodic.ts";
import { log } from "../log.ts";

const logger = log("junk");

/**
 * Features kept per account at most. 1,000 trained messages of the
 * SpamAssassin corpus make about 30,000, so this lasts many thousands of
 * trained messages; at about 50 bytes a row it is some 10 MB.
 */
export const MAX_FEATURES = 200_000;

/** Options of {@link startJunkPruning}. */
export interface JunkPruningOptions {
  /** @default one hour */
  everyMs?: number;
  /** @default MAX_FEATURES */
  maxFeatures?: number;
}

/** Prunes now and then every `everyMs` until the returned function is called. */
export function startJunkPruning(store: Store, options: JunkPruningOptions = {}): () => void {
  const maxFeatures = options.maxFeatures ?? MAX_FEATURES;
  return runPeriodically(
    () => {
      const dropped = pruneAllJunk(store, maxFeatures);
      if (dropped > 0) logger.info("Pruned {dropped} junk filter features", { dropped });
    },
    options.everyMs ?? 3_600_000,
    {
      // Pruning is housekeeping: the next round tries again.
      onError: (err) =>
        logger.warn("Could not prune the junk filters: {error}", {
          error: (err as Error)?.message ?? String(err),
        }),
    },
  );
}
