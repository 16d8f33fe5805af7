/**
 * The copy of the store kept before an upgrade changes its schema: when
 * `openStore` finds a store of an older schema version (not a new, empty
 * one), it first writes `<store>.v<N>.backup` beside it, N being the version
 * the copy holds, so a person can go back to the previous Postino with their
 * mail as it was. The copy is made with `VACUUM INTO` (a consistent
 * snapshot, compacted, in one self-contained file) into a temporary name
 * and renamed into place once it is on disk.
 */
import type { DatabaseSync } from "node:sqlite";
import { removeDatabaseFiles, renameDurably, tempSuffix } from "./store_files.ts";

/** A copy written before an upgrade. */
export interface UpgradeBackup {
  /** Where the copy is. */
  file: string;
  /** The schema version it holds (the store's version before the upgrade). */
  fromVersion: number;
  /** The version the store is being upgraded to. */
  toVersion: number;
}

/** Where the copy of a store of schema version `version` is kept: `postino.db.v8.backup`. */
export function upgradeBackupPath(storePath: string, version: number): string {
  return `${storePath}.v${version}.backup`;
}

/**
 * Writes the copy of the open database `db` (the store at `storePath`, at
 * schema version `fromVersion`) beside it. An earlier copy of the same
 * version is replaced. Throws, leaving no partial file, when it cannot.
 */
export function writeUpgradeBackup(
  db: DatabaseSync,
  storePath: string,
  fromVersion: number,
  toVersion: number,
): UpgradeBackup {
  const file = upgradeBackupPath(storePath, fromVersion);
  const temp = `${file}.${tempSuffix()}.partial`;
  try {
    // exec, not a prepared statement: nothing is left to finalize when the connection closes.
    db.exec(`VACUUM INTO '${temp.replaceAll("'", "''")}'`);
    Deno.chmodSync(temp, 0o600); // password hashes and DKIM private keys
    renameDurably(temp, file);
  } catch (err) {
    removeDatabaseFiles(temp);
    throw err;
  }
  return { file, fromVersion, toVersion };
}
