/**
 * File plumbing of the store's copies (backups, restores, the copy kept
 * before an upgrade): making a finished file durable before and after it is
 * renamed into place, and removing a store file with its SQLite companions.
 */
import { dirname } from "node:path";

/** The files SQLite may keep beside a database file. */
export const COMPANION_SUFFIXES = ["-wal", "-shm", "-journal"] as const;

/** Flushes a file's content to disk. */
export function syncFile(path: string): void {
  const file = Deno.openSync(path, { read: true, write: true });
  try {
    file.syncSync();
  } finally {
    file.close();
  }
}

/** Flushes a directory, so a rename or a new file in it survives a crash. */
export function syncDir(dir: string): void {
  let handle: Deno.FsFile | undefined;
  try {
    handle = Deno.openSync(dir, { read: true });
    handle.syncSync();
  } catch {
    // Not every file system lets a directory be opened and flushed; the rename stands anyway.
  } finally {
    handle?.close();
  }
}

/** Renames `from` onto `to` (atomically replacing it) and makes the rename durable. */
export function renameDurably(from: string, to: string): void {
  syncFile(from);
  Deno.renameSync(from, to);
  syncDir(dirname(to));
}

/** Removes a file if it is there. */
export function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** Removes a database file and whatever SQLite kept beside it (-wal, -shm, -journal). */
export function removeDatabaseFiles(path: string): void {
  removeQuietly(path);
  for (const suffix of COMPANION_SUFFIXES) removeQuietly(path + suffix);
}

/** A random suffix for a temporary file name. */
export function tempSuffix(): string {
  return crypto.randomUUID().slice(0, 8);
}
