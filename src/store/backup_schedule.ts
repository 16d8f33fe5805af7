/**
 * Scheduled backups (`[backup] dir`, `every`, `keep`): the server backs its
 * store up every `every` into `dir` as `postino-YYYYMMDDTHHMMSSZ.db` (UTC,
 * when the backup started), exactly as `postino backup` does, keeps the
 * newest `keep` of those files and removes the older ones. Files of other
 * names in `dir` are never touched.
 *
 * The first backup is due `every` after the newest one already in `dir`, or
 * at once when there is none (or it is older), so restarts do not postpone
 * backups. A failed backup is logged and tried again after `every`. The copy
 * runs on a worker thread; mail keeps flowing meanwhile.
 */
import { join } from "node:path";
import { log } from "../log.ts";
import { backupStore } from "./backup.ts";
import { removeQuietly } from "./store_files.ts";

const logger = log("backup");

/** The schedule, as configured. */
export interface BackupSchedule {
  dir: string;
  everyMs: number;
  keep: number;
}

/** The longest single wait of the schedule's timer. */
const MAX_WAIT_MS = 3_600_000;

/** A backup's file name: `postino-20261203T163433Z.db`. */
const NAME = /^postino-(\d{8})T(\d{6})Z\.db$/;
/** What an interrupted backup leaves (backup.ts names its temporary file so). */
const PARTIAL = /^\.postino-\d{8}T\d{6}Z\.db\.[0-9a-f]{8}\.partial$/;

/** The file name of a backup started at `ms`. */
export function backupName(ms: number): string {
  const iso = new Date(ms).toISOString(); // 2026-12-03T16:34:33.123Z
  return `postino-${iso.slice(0, 10).replaceAll("-", "")}T${
    iso.slice(11, 19).replaceAll(":", "")
  }Z.db`;
}

/** When the backup named `name` started (ms), or undefined for another name. */
export function backupTime(name: string): number | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  const [d, t] = [m[1], m[2]];
  const iso = `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}T${t.slice(0, 2)}:${t.slice(2, 4)}:${
    t.slice(4)
  }Z`;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The backups in `dir`, newest first. */
export function listBackups(dir: string): string[] {
  const names: string[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isFile && backupTime(entry.name) !== undefined) names.push(entry.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return names.sort().reverse();
}

/** Removes all but the newest `keep` backups in `dir`; gives the names removed. */
export function pruneBackups(dir: string, keep: number): string[] {
  const old = listBackups(dir).slice(keep);
  for (const name of old) removeQuietly(join(dir, name));
  return old;
}

/** Running scheduled backups. */
export interface ScheduledBackups {
  /** Stops the schedule; a backup under way is abandoned (its partial file removed). */
  stop(): Promise<void>;
}

/** Starts backing up the store at `storeFile` on `schedule`. */
export function startBackups(
  storeFile: string,
  schedule: BackupSchedule,
  now: () => number = Date.now,
): ScheduledBackups {
  const { dir, everyMs, keep } = schedule;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;
  const abort = new AbortController();

  const arm = (dueMs: number) => {
    if (stopped) return;
    // A timer waits at most an hour and is armed again: longer delays overflow setTimeout
    // (about 24.8 days), and a clock set back or forth is noticed within the hour.
    const t = setTimeout(() => {
      timer = undefined;
      if (now() < dueMs) return arm(dueMs);
      running = run().finally(() => running = undefined);
    }, Math.min(Math.max(0, dueMs - now()), MAX_WAIT_MS));
    Deno.unrefTimer(t);
    timer = t;
  };

  const run = async () => {
    const started = now();
    const file = join(dir, backupName(started));
    try {
      Deno.mkdirSync(dir, { recursive: true });
      const result = await backupStore(storeFile, file, { signal: abort.signal });
      logger.info(
        "Backup written to {file}: {bytes} bytes, {messages} messages, {users} users, in {seconds} s",
        {
          file,
          bytes: result.bytes,
          messages: result.messages,
          users: result.users,
          seconds: Number(result.seconds.toFixed(2)),
        },
      );
      for (const name of pruneBackups(dir, keep)) {
        logger.info("Removed old backup {file} (keeping the newest {keep})", {
          file: join(dir, name),
          keep,
        });
      }
    } catch (err) {
      if (stopped) return;
      logger.error("Backup to {file} failed: {error}", {
        file,
        error: (err as Error)?.message ?? String(err),
      });
    }
    arm(Math.max(now(), started + everyMs));
  };

  // What an interrupted backup of an earlier run left.
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (PARTIAL.test(entry.name)) removeQuietly(join(dir, entry.name));
    }
  } catch {
    // No directory yet: the first backup makes it.
  }
  const newest = listBackups(dir)[0];
  const last = newest === undefined ? undefined : backupTime(newest);
  const due = last === undefined ? now() : Math.min(last + everyMs, now() + everyMs);
  logger.info("Backing up every {every} s into {dir}, keeping the newest {keep}", {
    every: everyMs / 1000,
    dir,
    keep,
  });
  arm(due);

  return {
    stop: async () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      abort.abort();
      await running;
    },
  };
}
