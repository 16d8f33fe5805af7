/**
 * Runs retention (retention.ts) at start and then every hour (or a quarter
 * of the shortest age, when that is shorter, but at least every second),
 * and tells the IMAP sessions of each mailbox it expunged from, so an
 * idling client hears the EXPUNGE (or VANISHED) at once.
 */
import { log } from "../log.ts";
import type { Store } from "./db.ts";
import { runPeriodically } from "./periodic.ts";
import { expireOldMail, type RetentionAges } from "./retention.ts";

const logger = log("store");

/** Starts retention; the returned function stops it. */
export function startRetention(
  store: Store,
  ages: RetentionAges,
  changes: { notify(mailboxId: number): void },
): () => void {
  const set = [ages.trashMs, ages.junkMs].filter((ms) => ms > 0);
  if (set.length === 0) return () => {};
  const everyMs = Math.max(1000, Math.min(3_600_000, Math.min(...set) / 4));
  return runPeriodically(
    () => {
      const expired = expireOldMail(store, ages);
      let total = 0;
      for (const [mailboxId, n] of expired) {
        changes.notify(mailboxId);
        total += n;
      }
      if (total > 0) {
        logger.info("Retention expunged {total} old messages from Trash and Junk", { total });
      }
    },
    everyMs,
    {
      // Housekeeping: the next round tries again.
      onError: (err) =>
        logger.warn("Retention failed: {error}", { error: (err as Error)?.message ?? String(err) }),
    },
  );
}
