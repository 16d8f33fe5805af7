/**
 * Backups of the store while the server runs, and restoring one.
 *
 * A backup is SQLite's online backup (node:sqlite `backup()`) taken inside
 * one read transaction on the store (backup_worker.ts). In WAL mode that
 * transaction holds one snapshot, so the copy holds exactly the transactions
 * committed before it began — every message acknowledged by then, since a
 * 250 is sent only after the commit — while the server goes on committing
 * beside it. The copy runs on a worker thread, is written to a temporary
 * file beside the target, switched out of WAL mode (one self-contained
 * file), checked with `PRAGMA integrity_check`, and only then renamed onto
 * the target: a failed or interrupted backup leaves no partial file.
 *
 * A restore checks the file (integrity, a Postino schema this version
 * knows) on a temporary copy in the data directory, refuses a store that a
 * running process holds open, removes the old store's stale -wal/-shm files
 * and renames the copy into place.
 */
import { basename, dirname, join, resolve } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { StoreError, storePath } from "./db.ts";
import { migrations } from "./migrations.ts";
import {
  COMPANION_SUFFIXES,
  removeDatabaseFiles,
  removeQuietly,
  renameDurably,
  syncDir,
  tempSuffix,
} from "./store_files.ts";

/** Tables every Postino store has had since schema 1. */
const REQUIRED_TABLES = ["domains", "users", "mailboxes", "messages", "mailbox_entries"];

/** Pages copied per step of the backup between progress reports (16 KiB pages: 4 MiB). */
const PAGES_PER_STEP = 256;

/** What a store file holds. */
export interface StoreSummary {
  /** Its schema version (`PRAGMA user_version`). */
  version: number;
  /** Its size in database pages. */
  pages: number;
  users: number;
  mailboxes: number;
  /** Messages in mailboxes (a message delivered to two users counts twice). */
  messages: number;
}

/** A finished backup. */
export interface BackupResult extends StoreSummary {
  /** The backup file. */
  file: string;
  /** Its size. */
  bytes: number;
  /** How long it took, copy and check. */
  seconds: number;
}

/** How far a backup has come. */
export interface BackupProgress {
  pages: number;
  totalPages: number;
  /** The copy is whole and being checked (integrity_check reads it all again). */
  checking?: boolean;
}

/** Options of {@link backupStore}. */
export interface BackupOptions {
  /** Hears of each step of the copy. */
  onProgress?: (progress: BackupProgress) => void;
  /** Stops the backup; it then rejects and leaves no file. */
  signal?: AbortSignal;
  /** @default 256 */
  pagesPerStep?: number;
}

function describe(err: unknown): string {
  return (err as Error)?.message ?? String(err);
}

/**
 * Checks that `path` is a sound Postino store this version can open: an
 * SQLite database that passes `PRAGMA integrity_check`, has the tables of a
 * Postino store and a schema version from 1 to the newest known. Gives what
 * it holds; throws a {@link StoreError} that names `label` otherwise. With
 * `selfContained`, the file is switched out of WAL mode first, so it is one
 * file that needs no -wal or -shm beside it.
 */
export function checkStoreFile(
  path: string,
  label: string,
  options: { selfContained?: boolean } = {},
): StoreSummary {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (err) {
    throw new StoreError(`Cannot open ${label}: ${describe(err)}`);
  }
  const one = <T>(sql: string) => db.prepare(sql).get() as T;
  try {
    const version = one<{ user_version: number }>("PRAGMA user_version").user_version;
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
        name: string;
      }[]).map((r) => r.name),
    );
    const missing = REQUIRED_TABLES.find((t) => !tables.has(t));
    if (version === 0 || missing) {
      throw new StoreError(
        `${label} is not a Postino store (${
          version === 0 ? "it has no schema version" : `it has no table ${missing}`
        })`,
      );
    }
    if (version > migrations.length) {
      throw new StoreError(
        `${label} holds a store of schema ${version}, newer than this postino knows ` +
          `(${migrations.length}); restore it with a newer postino`,
      );
    }
    if (options.selfContained) db.exec("PRAGMA journal_mode = DELETE");
    const problems = (db.prepare("PRAGMA integrity_check(5)").all() as {
      integrity_check: string;
    }[]).flatMap((r) => r.integrity_check.split("\n"))
      .filter((line) => line && !line.startsWith("*** in database"));
    if (problems.length !== 1 || problems[0] !== "ok") {
      const more = problems.length > 3 ? `; and more` : "";
      throw new StoreError(
        `${label} fails its integrity check: ${problems.slice(0, 3).join("; ")}${more}`,
      );
    }
    return {
      version,
      pages: one<{ page_count: number }>("PRAGMA page_count").page_count,
      users: one<{ n: number }>("SELECT count(*) n FROM users").n,
      mailboxes: one<{ n: number }>("SELECT count(*) n FROM mailboxes").n,
      messages: one<{ n: number }>("SELECT count(*) n FROM mailbox_entries").n,
    };
  } catch (err) {
    if (err instanceof StoreError) throw err;
    const message = describe(err);
    if (/not a database/i.test(message)) {
      throw new StoreError(`${label} is not a Postino store (not an SQLite database)`);
    }
    if (/malformed|corrupt/i.test(message)) {
      throw new StoreError(`${label} fails its integrity check: ${message}`);
    }
    throw new StoreError(`Cannot read ${label}: ${message}`);
  } finally {
    db.close();
  }
}

/** True when `a` and `b` name the same file (both may be missing). */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const sa = Deno.statSync(a), sb = Deno.statSync(b);
    return sa.ino !== null && sa.ino === sb.ino && sa.dev === sb.dev;
  } catch {
    return false;
  }
}

/**
 * Backs up the store at `source` into `file` (replacing it if it exists),
 * while other connections go on reading and writing the store. Resolves once
 * the backup is checked and in place; rejects with a {@link StoreError},
 * leaving `file` as it was, when it cannot.
 */
export async function backupStore(
  source: string,
  file: string,
  options: BackupOptions = {},
): Promise<BackupResult> {
  const started = performance.now();
  try {
    if (!Deno.statSync(source).isFile) throw new StoreError(`${source} is not a store file`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new StoreError(`There is no store at ${source}`);
    throw err;
  }
  const target = resolve(file);
  for (const suffix of ["", ...COMPANION_SUFFIXES]) {
    if (sameFile(target, source + suffix)) {
      throw new StoreError(`Cannot back up the store onto itself (${file})`);
    }
  }
  const dir = dirname(target);
  try {
    if (!Deno.statSync(dir).isDirectory) throw new StoreError(`${dir} is not a directory`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new StoreError(`Cannot write ${file}: there is no directory ${dir}`);
    }
    throw err;
  }
  try {
    if (Deno.statSync(target).isDirectory) throw new StoreError(`${file} is a directory`);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }

  const temp = join(dir, `.${basename(target)}.${tempSuffix()}.partial`);
  const worker = new Worker(new URL("./backup_worker.ts", import.meta.url), { type: "module" });
  const onAbort = () => finish({ type: "failed", error: "the backup was interrupted" });
  let finish: (msg: { type: string; [k: string]: unknown }) => void = () => {};
  let totalPages = 0;
  try {
    const answer = await new Promise<{ type: string; [k: string]: unknown }>((resolve) => {
      finish = resolve;
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener("abort", onAbort, { once: true });
      worker.onmessage = (event) => {
        const msg = event.data;
        if (msg.type === "progress") {
          totalPages = msg.totalPages;
          options.onProgress?.({ pages: msg.pages, totalPages });
        } else if (msg.type === "checking") {
          if (totalPages > 0) {
            options.onProgress?.({ pages: totalPages, totalPages, checking: true });
          }
        } else resolve(msg);
      };
      worker.onerror = (event) => {
        event.preventDefault();
        resolve({ type: "failed", error: event.message });
      };
      worker.postMessage({
        type: "backup",
        source,
        dest: temp,
        pagesPerStep: options.pagesPerStep ?? PAGES_PER_STEP,
      });
    });
    if (answer.type !== "done") throw new StoreError(`Backup failed: ${answer.error}`);
    const summary = answer.summary as StoreSummary;
    // SQLite reports the steps before the last one; the copy is whole now.
    totalPages ||= summary.pages;
    options.onProgress?.({ pages: totalPages, totalPages });
    // It holds password hashes and DKIM private keys: for its owner's eyes only.
    Deno.chmodSync(temp, 0o600);
    renameDurably(temp, target);
    return {
      ...summary,
      file: target,
      bytes: Deno.statSync(target).size,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
    worker.terminate();
    removeDatabaseFiles(temp);
  }
}

/** Options of {@link restoreStore}. */
export interface RestoreOptions {
  /** Replace the store of a data directory that is not empty. */
  force?: boolean;
}

/** A finished restore. */
export interface RestoreResult extends StoreSummary {
  /** The store file written. */
  store: string;
  bytes: number;
}

/** True when the directory has any entry (a missing directory is empty). */
function hasEntries(dir: string): boolean {
  try {
    for (const _ of Deno.readDirSync(dir)) return true;
    return false;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/**
 * Throws when another process holds the store at `path` open (a running
 * server, a command): in WAL mode every open connection holds a shared lock,
 * so an exclusive one is refused at once. A store that cannot be read at all
 * is not in use by Postino; it is about to be replaced anyway.
 */
function assertNotInUse(path: string): void {
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(path, { timeout: 0 });
    db.exec("PRAGMA locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE");
    db.exec("COMMIT");
  } catch (err) {
    if (/locked|busy/i.test(describe(err))) {
      throw new StoreError(
        `The store ${path} is in use: stop postino serve (and other postino commands) on ` +
          `this data directory first`,
      );
    }
  } finally {
    db?.close();
  }
}

/**
 * When root restores into a data directory that belongs to the server's own
 * user, the store must be that user's too, or the server could not open it.
 */
function giveToOwnerOf(dir: string, file: string): void {
  if (Deno.uid() !== 0) return;
  const { uid, gid } = Deno.statSync(dir);
  if (uid !== null && uid !== 0) Deno.chownSync(file, uid, gid);
}

/**
 * Restores the backup `file` as the store of `dataDir` (created if missing).
 * Refuses, changing nothing, a data directory that is not empty unless
 * `force`, a store in use, and a file that fails {@link checkStoreFile}.
 */
export function restoreStore(file: string, dataDir: string, options: RestoreOptions = {}) {
  try {
    if (!Deno.statSync(file).isFile) throw new StoreError(`${file} is not a file`);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new StoreError(`There is no file ${file}`);
    throw err;
  }
  try {
    if (Deno.statSync(`${file}-wal`).size > 0) {
      throw new StoreError(
        `${file} has a write-ahead log beside it: it is a live store, not a backup ` +
          `(make one with postino backup)`,
      );
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const store = resolve(storePath(dataDir));
  if (sameFile(file, store)) throw new StoreError(`Cannot restore the store onto itself`);
  if (hasEntries(dataDir) && !options.force) {
    throw new StoreError(
      `The data directory ${dataDir} is not empty; give --force to replace its store`,
    );
  }
  Deno.mkdirSync(dataDir, { recursive: true });
  const temp = `${store}.${tempSuffix()}.restoring`;
  try {
    Deno.copyFileSync(file, temp);
    const summary = checkStoreFile(temp, file, { selfContained: true });
    let exists = true;
    try {
      Deno.statSync(store);
    } catch {
      exists = false;
    }
    if (exists) assertNotInUse(store);
    // A -wal left beside the old store would be replayed onto the restored one.
    for (const suffix of COMPANION_SUFFIXES) removeQuietly(store + suffix);
    giveToOwnerOf(dataDir, temp);
    renameDurably(temp, store);
    syncDir(dirname(store));
    return { ...summary, store, bytes: Deno.statSync(store).size } satisfies RestoreResult;
  } finally {
    removeDatabaseFiles(temp);
  }
}
