/**
 * `postino backup FILE` and `postino restore FILE [--force]`: a consistent
 * copy of the whole store while the server runs, and putting one back into
 * a data directory (see src/store/backup.ts for how).
 */
import { loadConfig } from "../config.ts";
import {
  type BackupProgress,
  backupStore,
  restoreStore,
  type StoreSummary,
} from "../store/backup.ts";
import { storePath } from "../store/db.ts";
import { migrations } from "../store/migrations.ts";
import { formatBytes, progressBar, TerminalLine } from "./terminal_line.ts";
import { CliError, COMMON_FLAGS, parseFlags } from "./usage.ts";

const BACKUP_HELP = `Usage: postino backup FILE [options]

Writes a consistent copy of the whole store (users, mail, queue, keys) to FILE
while the server runs and keeps accepting mail: every message acknowledged
before the backup started is in it. The copy is checked (PRAGMA
integrity_check) and only then renamed onto FILE, so a failed backup leaves no
partial file. Shows a progress bar on a terminal, then the size and the number
of messages.

Options:
  --data DIR     data directory (default $POSTINO_DATA, else ./data)
  --config FILE  config file
  -h, --help     show this help
`;

const RESTORE_HELP = `Usage: postino restore FILE [options]

Restores the backup FILE as the store of the data directory. FILE is checked
first (integrity, and that it is a Postino store this version can open). A data
directory that is not empty is refused unless --force, and a store that a
running server holds open is always refused: stop the server first. The old
store is replaced in one step (and its -wal/-shm files removed).

Options:
  --force        replace the store of a data directory that is not empty
  --data DIR     data directory (default $POSTINO_DATA, else ./data)
  --config FILE  config file
  -h, --help     show this help
`;

function count(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;
}

/** "1,234 messages in 12 mailboxes of 3 users (schema 9)". */
export function describeStore(s: StoreSummary): string {
  return `${count(s.messages, "message")} in ${count(s.mailboxes, "mailbox", "mailboxes")} of ${
    count(s.users, "user")
  } (schema ${s.version})`;
}

/**
 * The backup's progress line on a terminal, redrawn at most ten times a second:
 * `[#########...........]  45%  1,024/2,275 pages  16.0/35.5 MiB`.
 */
class ProgressLine {
  readonly #line = new TerminalLine();
  #last = 0;
  #pageSize = 0;

  constructor(pageSize: number) {
    this.#pageSize = pageSize;
  }

  update(p: BackupProgress): void {
    const now = performance.now();
    if (now - this.#last < 100 && p.pages < p.totalPages && !p.checking) return;
    this.#last = now;
    const fraction = p.totalPages > 0 ? p.pages / p.totalPages : 1;
    const pages = `${p.pages.toLocaleString("en-US")}/${
      p.totalPages.toLocaleString("en-US")
    } pages`;
    const bytes = this.#pageSize > 0
      ? `  ${formatBytes(p.pages * this.#pageSize)}/${formatBytes(p.totalPages * this.#pageSize)}`
      : "";
    const checking = p.checking ? "  checking" : "";
    this.#line.show(`${progressBar(fraction)}  ${pages}${bytes}${checking}`);
  }

  /** Clears the line, so the summary takes its place. */
  clear(): void {
    this.#line.clear();
  }
}

/** The page size of the store at `path` (from its header), or 0 when unreadable. */
function pageSizeOf(path: string): number {
  try {
    const file = Deno.openSync(path);
    try {
      const header = new Uint8Array(18);
      if (file.readSync(header) !== 18) return 0;
      const size = (header[16] << 8) | header[17];
      return size === 1 ? 65536 : size;
    } finally {
      file.close();
    }
  } catch {
    return 0;
  }
}

function dataDirOf(values: { data?: string; config?: string }): string {
  return loadConfig({ flags: values, systemHostname: () => "localhost" }).dataDir;
}

/** Runs `postino backup FILE`; resolves with the exit status. */
export async function backupCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, COMMON_FLAGS, "backup", { min: 1, max: 1 });
  if (values.help) {
    console.log(BACKUP_HELP);
    return 0;
  }
  const file = positionals[0];
  const source = storePath(dataDirOf(values));
  const terminal = Deno.stdout.isTerminal();
  const progress = terminal ? new ProgressLine(pageSizeOf(source)) : undefined;
  // Ctrl-C stops the copy and removes the partial file.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const result = await backupStore(source, file, {
      onProgress: progress && ((p) => progress.update(p)),
      signal: interrupt.signal,
    });
    progress?.clear();
    console.log(
      `Backed up ${source} to ${file}: ${formatBytes(result.bytes)}, ${describeStore(result)}, ` +
        `integrity ok, ${result.seconds.toFixed(1)} s`,
    );
    return 0;
  } catch (err) {
    progress?.clear();
    if (interrupt.signal.aborted) throw new CliError(`Backup interrupted; ${file} was not written`);
    throw err;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}

/** Runs `postino restore FILE [--force]`; returns the exit status. */
export function restoreCommand(args: string[]): number {
  const flags = { ...COMMON_FLAGS, force: { type: "boolean" } } as const;
  const { values, positionals } = parseFlags(args, flags, "restore", { min: 1, max: 1 });
  if (values.help) {
    console.log(RESTORE_HELP);
    return 0;
  }
  const file = positionals[0];
  const dataDir = dataDirOf(values);
  const result = restoreStore(file, dataDir, { force: values.force });
  const later = result.version < migrations.length
    ? "; postino upgrades it when it next opens it, keeping a copy of it as it is"
    : "";
  console.log(
    `Restored ${file} into ${result.store}: ${formatBytes(result.bytes)}, ${
      describeStore(result)
    }${later}`,
  );
  return 0;
}
