/**
 * `postino import ADDRESS IN [--mailbox NAME] [--format mbox|maildir]`:
 * brings mail from an mbox file, a directory of mbox files or a Maildir++
 * tree into a user's mailboxes, keeping flags and internal dates.
 *
 * Every message goes through the store's delivery functions (as SMTP's do),
 * so IMAP's uids and modseqs and the usage counters stay right, in
 * transactions of a few hundred messages that hold the write lock briefly:
 * a running server keeps accepting mail meanwhile, and its IMAP clients see
 * the new messages (IDLE within a second or two, the others at their next
 * command). Messages it has stored before are skipped (import_dedupe.ts),
 * so importing the same source twice adds nothing; a message that is not
 * one, or too large, is reported with its position and skipped.
 */
import { normalizeAddress } from "../address.ts";
import { brokenReason, hasDotLines } from "../mail/import_message.ts";
import { buildMessageMeta } from "../mail/message_meta.ts";
import { findUser } from "../store/accounts.ts";
import { type Store, StoreError } from "../store/db.ts";
import { parseFlags as parseFlagNames } from "../store/entries.ts";
import { createFolder, findFolder } from "../store/folders.ts";
import { deliver, type Delivery, insertDelivery } from "../store/mailboxes.ts";
import { DuplicateIndex } from "./import_dedupe.ts";
import { ProgressBar } from "./import_progress.ts";
import { formatBytes } from "./terminal_line.ts";
import { type ImportFormat, type ImportItem, openSource } from "./import_sources.ts";
import { openCommandContext } from "./open_store.ts";
import { COMMON_FLAGS, parseFlags, UsageError } from "./usage.ts";

const HELP = `Usage: postino import ADDRESS IN [--mailbox NAME] [--format mbox|maildir]

Imports mail into ADDRESS's mailboxes from IN: an mbox file (mboxrd or mboxo,
LF or CRLF line ends), a directory of mbox files (NAME.mbox; "Work.2026" goes
to Work/2026), or a Maildir++ tree (cur/ and new/; folders .A.B go to A/B).
The format is told from IN unless --format gives it.

An mbox goes to INBOX, or to --mailbox NAME; a tree keeps its folders, below
NAME with --mailbox. Flags come from Maildir file names (:2,DFRST) and from
mbox Status/X-Status fields; the internal date from the "From " line or the
file's time. Messages already in the mailbox (same Message-ID and body) are
skipped, so importing twice adds nothing. A message that is not one, or is
larger than max_message_size, is reported with its place and skipped.
Missing mailboxes are created. The server may run meanwhile.

Options:
  --mailbox NAME   where the mail goes (default INBOX, or the tree's folders)
  --format F       mbox or maildir (default: told from IN)
  --data DIR       data directory (default $POSTINO_DATA, else ./data)
  --config FILE    config file
  -h, --help       show this help
`;

/** A batch is committed when it holds this many messages, or bytes, or is this old. */
const BATCH_MESSAGES = 200;
const BATCH_BYTES = 8 * 1024 * 1024;
const BATCH_MS = 500;

/** Runs `postino import ...`; returns the exit status. */
export async function importCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      ...COMMON_FLAGS,
      mailbox: { type: "string" },
      format: { type: "string" },
    },
    "import",
    { min: 2, max: 2 },
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const format = parseFormat(values.format, "import");
  const address = normalizeAddress(positionals[0]);
  const { config, store } = openCommandContext(values);
  try {
    const user = findUser(store, address);
    if (!user) throw new StoreError(`User ${address} does not exist`, "not_found");
    const source = await openSource(positionals[1], {
      format,
      mailbox: values.mailbox,
      maxMessageSize: config.maxMessageSize,
    });
    const run = new ImportRun(store, user.id, Deno.stdout.isTerminal(), source.totalBytes);
    for (const name of source.mailboxes) run.mailbox(name);
    try {
      for await (const item of source.items((bytes) => run.read(bytes))) {
        if (item.problem !== undefined || item.message === undefined) {
          run.skip(item.position, item.problem ?? "it cannot be read");
          continue;
        }
        await run.add({ ...item, message: item.message });
      }
    } catch (err) {
      // Keep what was read before the failure; importing again skips it.
      run.abandon();
      throw err;
    }
    return run.finish(address, source.description) ? 0 : 1;
  } finally {
    store.close();
  }
}

/** Checks a --format value. */
export function parseFormat(value: string | undefined, command: string): ImportFormat | undefined {
  if (value === undefined || value === "mbox" || value === "maildir") return value;
  throw new UsageError(
    `--format must be mbox or maildir, not '${value}' (see 'postino ${command} --help')`,
  );
}

interface Pending {
  delivery: Delivery;
  mailboxId: number;
  position: string;
  /** Its duplicate key, forgotten should it not be stored. */
  key: Uint8Array;
}

/** One import: its mailboxes, the batch being gathered, and the counts. */
class ImportRun {
  readonly #store: Store;
  readonly #userId: number;
  readonly #index: DuplicateIndex;
  readonly #progress?: ProgressBar;
  readonly #mailboxes = new Map<string, number>();
  readonly #started = performance.now();
  #batch: Pending[] = [];
  #batchBytes = 0;
  #batchStarted = 0;
  #imported = 0;
  #importedBytes = 0;
  #duplicates = 0;
  #broken = 0;
  #failed = 0;
  #read = 0;

  constructor(store: Store, userId: number, terminal: boolean, totalBytes: number) {
    this.#store = store;
    this.#userId = userId;
    this.#index = new DuplicateIndex(store);
    if (terminal) this.#progress = new ProgressBar(totalBytes);
  }

  /** The id of mailbox `name`, created (with its parents) when missing. */
  mailbox(name: string): number {
    let id = this.#mailboxes.get(name);
    if (id === undefined) {
      id = findFolder(this.#store, this.#userId, name)?.id;
      if (id === undefined) {
        createFolder(this.#store, this.#userId, name);
        id = findFolder(this.#store, this.#userId, name)!.id;
      }
      this.#mailboxes.set(name, id);
    }
    return id;
  }

  /** Hears how many bytes of the source have been read. */
  read(bytes: number): void {
    this.#read = bytes;
    this.#progress?.update(this.#imported + this.#batch.length, bytes);
  }

  /** Reports a message that is skipped, on stderr. */
  skip(position: string, why: string): void {
    this.#broken++;
    this.#say(`skipped ${position}: ${why}`);
  }

  #say(line: string): void {
    this.#progress?.clear();
    console.error(`postino: ${line}`);
  }

  /** Takes one message: checked, looked up, and added to the batch. */
  async add(item: ImportItem & { message: Uint8Array }): Promise<void> {
    const { mailbox, position, message, keywords, internalDate } = item;
    const broken = brokenReason(message);
    if (broken !== undefined) {
      this.skip(position, broken);
      return;
    }
    const mailboxId = this.mailbox(mailbox);
    const key = await this.#index.add(mailboxId, message);
    if (key === undefined) {
      this.#duplicates++;
      return;
    }
    const { flags } = parseFlagNames(item.flags);
    const delivery: Delivery = {
      body: message,
      mailboxes: [{ userId: this.#userId, mailbox }],
      internalDate,
      flags,
      keywords,
      dotLines: hasDotLines(message),
      meta: JSON.stringify(buildMessageMeta(message)),
    };
    if (this.#batch.length === 0) this.#batchStarted = performance.now();
    this.#batch.push({ delivery, mailboxId, position, key });
    this.#batchBytes += message.length;
    if (
      this.#batch.length >= BATCH_MESSAGES || this.#batchBytes >= BATCH_BYTES ||
      performance.now() - this.#batchStarted >= BATCH_MS
    ) {
      this.#commit();
    }
    this.#progress?.update(this.#imported + this.#batch.length, this.#read);
  }

  /**
   * Stores the batch in one transaction; should that fail, each message on
   * its own, so one that cannot be stored does not take the others along.
   */
  #commit(): void {
    const batch = this.#batch;
    this.#batch = [];
    this.#batchBytes = 0;
    if (batch.length === 0) return;
    try {
      this.#store.transaction(() => {
        for (const p of batch) insertDelivery(this.#store, p.delivery);
      });
      this.#imported += batch.length;
      for (const p of batch) this.#importedBytes += p.delivery.body.length;
    } catch {
      for (const p of batch) {
        try {
          deliver(this.#store, p.delivery);
          this.#imported++;
          this.#importedBytes += p.delivery.body.length;
        } catch (err) {
          this.#failed++;
          this.#index.forget(p.mailboxId, p.key);
          this.#say(`could not store ${p.position}: ${(err as Error).message}`);
        }
      }
    }
  }

  /** Commits what was gathered when the import cannot go on. */
  abandon(): void {
    try {
      this.#commit();
    } finally {
      this.#progress?.clear();
    }
  }

  /** Commits what is left and prints the summary; false when some message could not be stored. */
  finish(address: string, description: string): boolean {
    this.#commit();
    if (this.#progress) {
      this.#progress.update(this.#imported, this.#read);
      this.#progress.finish();
    }
    const seconds = (performance.now() - this.#started) / 1000;
    const rate = seconds > 0 ? Math.round(this.#imported / seconds) : 0;
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
    console.log(
      `Imported ${plural(this.#imported, "message")} (${formatBytes(this.#importedBytes)}) ` +
        `from ${description} into ${address} in ${seconds.toFixed(1)} s (${rate} messages/s); ` +
        `${plural(this.#duplicates, "duplicate")} skipped, ${this.#broken} broken skipped` +
        (this.#failed > 0 ? `, ${this.#failed} could not be stored` : ""),
    );
    return this.#failed === 0;
  }
}
