/**
 * `postino export ADDRESS OUT [--mailbox NAME] [--format mbox|maildir]`:
 * writes a user's mail out as mbox or Maildir, read from the store a page at
 * a time (a mailbox is never held in memory whole).
 *
 * - mbox (mboxrd): each message after a `From ` line with its envelope
 *   sender (Return-Path, else MAILER-DAEMON) and internal date; its flags in
 *   Status/X-Status and keywords in X-Keywords at the end of its header
 *   (mbox_status.ts), which import takes out again. With --mailbox, that
 *   mailbox into the file OUT; without, a directory OUT of `NAME.mbox` files.
 * - Maildir: with --mailbox, OUT is that mailbox's Maildir; without, OUT is
 *   a Maildir++ tree whose root is INBOX and whose folders are `.Name.Sub`.
 *   Messages are in cur/ with their flags in the `:2,` suffix (keywords as
 *   Dovecot's letters, named in `dovecot-keywords`), the internal date as
 *   the file's mtime, and their order in `dovecot-uidlist`.
 *
 * OUT must not exist, or be empty.
 */
import { join } from "node:path";
import { normalizeAddress } from "../address.ts";
import { headerValue } from "../mail/headers.ts";
import {
  maildirFileName,
  maildirFolderDir,
  mboxFileName,
  uidlistHeader,
  uidlistLine,
} from "../mail/maildir.ts";
import { mboxrdEntry } from "../mail/mbox.ts";
import { withMboxStatus } from "../mail/mbox_status.ts";
import { findUser } from "../store/accounts.ts";
import { type Store, StoreError } from "../store/db.ts";
import {
  entriesAfter,
  type Entry,
  flagNames,
  mailboxState,
  messageBody,
} from "../store/entries.ts";
import { findFolder, type Folder, listFolders } from "../store/folders.ts";
import { parseFormat } from "./import.ts";
import { formatBytes } from "./terminal_line.ts";
import { openCommandStore } from "./open_store.ts";
import { CliError, COMMON_FLAGS, parseFlags } from "./usage.ts";

const HELP = `Usage: postino export ADDRESS OUT [--mailbox NAME] [--format mbox|maildir]

Writes ADDRESS's mail to OUT, with flags and internal dates:
  mbox (default)  mboxrd; flags in Status/X-Status. With --mailbox, that
                  mailbox into the file OUT; without, a directory OUT with a
                  NAME.mbox file per mailbox (Work/2026 in Work.2026.mbox).
  maildir         With --mailbox, OUT is that mailbox as a Maildir; without,
                  a Maildir++ tree: INBOX at its root, folders as .Name.Sub.
                  Flags in the file names (:2,DFRST), dates as file times.
OUT must not exist or be empty. 'postino import' reads both back.

Options:
  --mailbox NAME   only this mailbox
  --format F       mbox or maildir (default mbox)
  --data DIR       data directory (default $POSTINO_DATA, else ./data)
  --config FILE    config file
  -h, --help       show this help
`;

const encoder = new TextEncoder();

/** Messages read from the store per step. */
const PAGE = 100;
/** mbox output is written in pieces of about this size. */
const WRITE_CHUNK = 1024 * 1024;

/** Runs `postino export ...`; returns the exit status. */
export async function exportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(
    args,
    {
      ...COMMON_FLAGS,
      mailbox: { type: "string" },
      format: { type: "string" },
    },
    "export",
    { min: 2, max: 2 },
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const format = parseFormat(values.format, "export") ?? "mbox";
  const address = normalizeAddress(positionals[0]);
  const out = positionals[1];
  const store = openCommandStore(values);
  try {
    const user = findUser(store, address);
    if (!user) throw new StoreError(`User ${address} does not exist`, "not_found");
    let folders: Folder[];
    if (values.mailbox !== undefined) {
      const folder = findFolder(store, user.id, values.mailbox);
      if (!folder) {
        throw new StoreError(`${address} has no mailbox ${values.mailbox}`, "not_found");
      }
      folders = [folder];
    } else {
      folders = listFolders(store, user.id);
    }
    const single = values.mailbox !== undefined;
    await checkOut(out, single && format === "mbox" ? "file" : "directory");
    const counts = { messages: 0, bytes: 0 };
    if (format === "mbox" && single) {
      await writeMbox(store, folders[0].id, out, counts);
    } else if (format === "mbox") {
      await Deno.mkdir(out, { recursive: true });
      for (const f of folders) {
        await writeMbox(store, f.id, join(out, mboxFileName(f.name)), counts);
      }
    } else if (single) {
      await writeMaildir(store, folders[0].id, out, counts);
    } else {
      await Deno.mkdir(out, { recursive: true });
      for (const f of folders) {
        const dir = f.name === "INBOX" ? out : join(out, maildirFolderDir(f.name));
        await writeMaildir(store, f.id, dir, counts);
        // Maildir++: a folder says it is one (Courier, Dovecot).
        if (dir !== out) await Deno.writeFile(join(dir, "maildirfolder"), new Uint8Array());
      }
    }
    const boxes = `${folders.length} mailbox${folders.length === 1 ? "" : "es"}`;
    console.log(
      `Exported ${counts.messages} message${counts.messages === 1 ? "" : "s"} ` +
        `(${formatBytes(counts.bytes)}) from ${boxes} of ${address} to ${out} (${format})`,
    );
  } finally {
    store.close();
  }
  return 0;
}

/** Fails unless `path` is missing, or an empty file or directory of the kind needed. */
async function checkOut(path: string, kind: "file" | "directory"): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (info.isDirectory) {
    if (kind === "file") throw new CliError(`${path} is a directory; the mbox goes into a file`);
    for await (const _ of Deno.readDir(path)) {
      throw new CliError(`${path} exists and is not empty`);
    }
    return;
  }
  if (kind === "directory") throw new CliError(`${path} exists and is not a directory`);
  if (info.size > 0) throw new CliError(`${path} exists and is not empty`);
}

/** Every entry of a mailbox with its message, a page of entries at a time. */
function* entriesWithBodies(
  store: Store,
  mailboxId: number,
): Generator<{ entry: Entry; body: Uint8Array }> {
  let after = 0;
  for (;;) {
    const page = entriesAfter(store, mailboxId, after, PAGE);
    if (page.length === 0) return;
    for (const entry of page) {
      after = entry.uid;
      yield { entry, body: messageBody(store, entry.messageId) };
    }
  }
}

/** The envelope sender of a stored message: its Return-Path ("" for `<>` or none). */
function envelopeSender(message: Uint8Array): string {
  const value = headerValue(message, "Return-Path");
  return value === undefined ? "" : value.trim().replace(/^<(.*)>$/, "$1").trim();
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

/** A mailbox as an mboxrd file, written to a temporary name and renamed when complete. */
async function writeMbox(
  store: Store,
  mailboxId: number,
  path: string,
  counts: { messages: number; bytes: number },
): Promise<void> {
  const partial = `${path}.partial`;
  const file = await Deno.open(partial, { write: true, create: true, truncate: true });
  try {
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flush = async () => {
      if (pendingBytes === 0) return;
      const chunk = new Uint8Array(pendingBytes);
      let at = 0;
      for (const p of pending) {
        chunk.set(p, at);
        at += p.length;
      }
      pending = [];
      pendingBytes = 0;
      await writeAll(file, chunk);
    };
    for (const { entry, body } of entriesWithBodies(store, mailboxId)) {
      const marked = withMboxStatus(body, flagNames(entry.flags, []), entry.keywords);
      const bytes = mboxrdEntry(marked, envelopeSender(body), new Date(entry.internalDate));
      if (bytes.length >= WRITE_CHUNK) {
        await flush();
        await writeAll(file, bytes);
      } else {
        pending.push(bytes);
        pendingBytes += bytes.length;
        if (pendingBytes >= WRITE_CHUNK) await flush();
      }
      counts.messages++;
      counts.bytes += body.length;
    }
    await flush();
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(partial, path);
}

/**
 * A mailbox as a Maildir at `dir` (cur/, new/, tmp/): each message written
 * to tmp/, then moved to cur/; Dovecot's `dovecot-uidlist` keeps their order
 * (and uids, for a Dovecot that reads the tree) and `dovecot-keywords` names
 * the keyword letters (the first 26 keywords of the folder get a to z).
 */
async function writeMaildir(
  store: Store,
  mailboxId: number,
  dir: string,
  counts: { messages: number; bytes: number },
): Promise<void> {
  for (const sub of ["cur", "new", "tmp"]) await Deno.mkdir(join(dir, sub), { recursive: true });
  const { uidvalidity, uidnext } = mailboxState(store, mailboxId)!;
  const letters = new Map<string, string>();
  const uidlist = await Deno.open(join(dir, "dovecot-uidlist"), { write: true, createNew: true });
  try {
    let lines = uidlistHeader(uidvalidity, uidnext);
    for (const { entry, body } of entriesWithBodies(store, mailboxId)) {
      for (const k of entry.keywords) {
        if (!letters.has(k) && letters.size < 26) {
          letters.set(k, String.fromCharCode(0x61 + letters.size));
        }
      }
      const name = maildirFileName({
        internalDate: entry.internalDate,
        uidvalidity,
        uid: entry.uid,
        size: body.length,
        flags: flagNames(entry.flags, []),
        keywordLetters: entry.keywords.map((k) => letters.get(k)).filter((l) => l !== undefined),
      });
      const tmp = join(dir, "tmp", name);
      await Deno.writeFile(tmp, body);
      const date = new Date(entry.internalDate);
      await Deno.utime(tmp, date, date);
      await Deno.rename(tmp, join(dir, "cur", name));
      lines += uidlistLine(entry.uid, name);
      if (lines.length > 64 * 1024) {
        await writeAll(uidlist, encoder.encode(lines));
        lines = "";
      }
      counts.messages++;
      counts.bytes += body.length;
    }
    await writeAll(uidlist, encoder.encode(lines));
  } finally {
    uidlist.close();
  }
  if (letters.size > 0) {
    const text = [...letters].map(([k, l]) => `${l.charCodeAt(0) - 0x61} ${k}\n`).join("");
    await Deno.writeTextFile(join(dir, "dovecot-keywords"), text);
  }
}
