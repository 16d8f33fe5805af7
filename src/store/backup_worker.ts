/// <reference lib="deno.worker" />
/**
 * The thread that copies the store for a backup (see backup.ts), so neither
 * the server's event loop nor a command's progress bar waits for the disk:
 * node:sqlite's `backup()` holds its thread until the copy is done.
 *
 * Messages: {type:"backup",source,dest,pagesPerStep} ->
 * {type:"progress",pages,totalPages}..., {type:"checking"}, then {type:"done",summary} |
 * {type:"failed",error,kind}.
 */
import { backup, DatabaseSync } from "node:sqlite";
import { checkStoreFile } from "./backup.ts";
import { StoreError } from "./db.ts";

/** How long the copy waits for a lock another connection holds (a checkpoint, a migration). */
const BUSY_TIMEOUT_MS = 10_000;

/**
 * The copy is flushed to disk every this many bytes. Left to the end, the
 * flush of a whole large store stalls every other fsync on the disk for as
 * long, the server's commits among them (measured: 1.5 s at 1 GB); in steps,
 * each waits for a little only.
 */
const SYNC_EVERY_BYTES = 32 * 1024 * 1024;

async function copy(source: string, dest: string, pagesPerStep: number): Promise<void> {
  const db = new DatabaseSync(source, { timeout: BUSY_TIMEOUT_MS });
  try {
    // One read transaction for the whole copy: in WAL mode it holds one snapshot, the
    // transactions committed before it began, while writers go on beside it. Without it
    // every step would read the newest state and SQLite would restart the copy each time
    // another connection (the server's writer thread) committed: forever, under load.
    db.exec("BEGIN");
    db.prepare("SELECT count(*) FROM sqlite_master").get();
    const pageSize = (db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size;
    let synced = 0;
    await backup(db, dest, {
      rate: pagesPerStep,
      progress: ({ totalPages, remainingPages }) => {
        const pages = totalPages - remainingPages;
        if ((pages - synced) * pageSize >= SYNC_EVERY_BYTES) {
          syncData(dest);
          synced = pages;
        }
        self.postMessage({ type: "progress", pages, totalPages });
      },
    });
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

/** Flushes what is written of `path` so far (SQLite has it open; this is another handle). */
function syncData(path: string): void {
  try {
    const file = Deno.openSync(path, { read: true });
    try {
      file.syncDataSync();
    } finally {
      file.close();
    }
  } catch {
    // Only a way to spread the writes; the copy's own commit makes it durable.
  }
}

self.onmessage = async (event: MessageEvent) => {
  const { type, source, dest, pagesPerStep } = event.data;
  if (type !== "backup") return;
  try {
    await copy(source, dest, pagesPerStep);
    self.postMessage({ type: "checking" });
    const summary = checkStoreFile(dest, "The copy", { selfContained: true });
    self.postMessage({ type: "done", summary });
  } catch (err) {
    self.postMessage({
      type: "failed",
      error: (err as Error)?.message ?? String(err),
      store: err instanceof StoreError,
    });
  }
};
