/**
 * The sources `postino import` reads: an mbox file, a directory of mbox
 * files, or a Maildir (Maildir++ tree), found by looking at the path when
 * the format is not given. Each gives the mailboxes it names and then its
 * messages one at a time, so that nothing but the current message is held:
 * an mbox is read as a stream, a Maildir file by file.
 */
import { basename, join } from "node:path";
import { decodeMutf7 } from "../imap/mutf7.ts";
import { headerDate, toCrlf } from "../mail/import_message.ts";
import { folderLevels, parseMaildirName, parseUidlist } from "../mail/maildir.ts";
import { readMbox } from "../mail/mbox_reader.ts";
import { takeMboxStatus } from "../mail/mbox_status.ts";
import { CliError } from "./usage.ts";

/** The format of a source. */
export type ImportFormat = "mbox" | "maildir";

/** One message of a source, or what stood in the place of one. */
export interface ImportItem {
  /** The mailbox it goes to. */
  mailbox: string;
  /** Where it is in the source, for reports: `INBOX.mbox message 3 (byte 5120)`, a file name. */
  position: string;
  /** The message, CRLF line ends; undefined when `problem` says why there is none. */
  message?: Uint8Array;
  /** IMAP flags and keywords. */
  flags: string[];
  keywords: string[];
  internalDate: Date;
  /** Why this is skipped (too large, not a message). */
  problem?: string;
}

/** An opened source. */
export interface ImportSource {
  format: ImportFormat;
  /** What was found: "an mbox file", "a Maildir with 3 folders", ... */
  description: string;
  /** The bytes of its messages (file sizes), for the progress bar. */
  totalBytes: number;
  /** Every mailbox it names, parents before children, also the empty ones. */
  mailboxes: string[];
  /** Its messages, in order; `onRead` hears how many bytes of it have been read so far. */
  items(onRead: (bytes: number) => void): AsyncGenerator<ImportItem>;
}

/** How a source is opened. */
export interface SourceOptions {
  format?: ImportFormat;
  /** Where the source's mail goes: an mbox into it, a tree's root into it and its folders below. */
  mailbox?: string;
  maxMessageSize: number;
}

/** The INBOX spelling the store uses for any case of "inbox". */
function canonical(name: string): string {
  return name.toUpperCase() === "INBOX" ? "INBOX" : name;
}

/**
 * The mailbox for a folder's levels below the root (none: the root, as is a
 * first level INBOX): INBOX and its children, or with `--mailbox` that
 * mailbox and its children.
 */
function target(levels: string[], prefix: string | undefined): string {
  const inbox = levels.length === 0 || canonical(levels[0]) === "INBOX";
  const below = inbox ? levels.slice(1) : levels;
  return [prefix ?? (inbox ? "INBOX" : undefined), ...below].filter((l) => l !== undefined)
    .join("/");
}

function decodeLevel(level: string): string | undefined {
  try {
    return decodeMutf7(level);
  } catch {
    return undefined;
  }
}

async function statOrUndefined(path: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

async function isDir(path: string): Promise<boolean> {
  return (await statOrUndefined(path))?.isDirectory ?? false;
}

/** True for a Maildir: a directory with cur/ or new/. */
async function isMaildir(path: string): Promise<boolean> {
  return await isDir(join(path, "cur")) || await isDir(join(path, "new"));
}

/** The first bytes of a file. */
async function head(path: string, n: number): Promise<Uint8Array> {
  using file = await Deno.open(path);
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await file.read(buf.subarray(got));
    if (r === null) break;
    got += r;
  }
  return buf.subarray(0, got);
}

async function startsWithFrom(path: string): Promise<boolean> {
  return new TextDecoder("latin1").decode(await head(path, 5)) === "From ";
}

/** Opens the source at `path`, telling its format from what is there unless given. */
export async function openSource(path: string, options: SourceOptions): Promise<ImportSource> {
  const info = await statOrUndefined(path);
  if (!info) throw new CliError(`${path} does not exist`);
  const prefix = options.mailbox === undefined ? undefined : canonical(options.mailbox);
  if (info.isDirectory) {
    const maildir = await isMaildir(path);
    if (options.format === "maildir" && !maildir) {
      throw new CliError(`${path} is not a Maildir: it has no cur/ or new/ directory`);
    }
    if (maildir && options.format !== "mbox") return await maildirSource(path, prefix, options);
    if (maildir) throw new CliError(`${path} is a Maildir, not mbox (leave out --format)`);
    return await mboxDirSource(path, prefix, options);
  }
  if (!info.isFile) throw new CliError(`${path} is neither a file nor a directory`);
  if (options.format === "maildir") {
    throw new CliError(`${path} is a file; a Maildir is a directory with cur/ and new/`);
  }
  if (options.format === undefined && info.size > 0 && !await startsWithFrom(path)) {
    throw new CliError(
      `Cannot tell the format of ${path}: not a Maildir and not an mbox file (it does not ` +
        `begin with "From "); give --format mbox to read it as one anyway`,
    );
  }
  const mailbox = prefix ?? "INBOX";
  return {
    format: "mbox",
    description: "an mbox file",
    totalBytes: info.size,
    mailboxes: [mailbox],
    items: (onRead) => mboxItems([{ path, label: basename(path), mailbox }], options, onRead),
  };
}

/** One mbox file of a source. */
interface MboxFile {
  path: string;
  /** How reports name it. */
  label: string;
  mailbox: string;
}

async function* mboxItems(
  files: MboxFile[],
  options: SourceOptions,
  onRead: (bytes: number) => void,
): AsyncGenerator<ImportItem> {
  let done = 0;
  for (const f of files) {
    const file = await Deno.open(f.path);
    try {
      const messages = readMbox(file.readable, {
        maxMessageSize: options.maxMessageSize,
        onRead: (bytes) => onRead(done + bytes),
      });
      for await (const m of messages) {
        const position = m.number === 0
          ? `${f.label} (byte 0)`
          : `${f.label} message ${m.number} (byte ${m.offset})`;
        const base = { mailbox: f.mailbox, position, flags: [], keywords: [] };
        if (m.broken) {
          yield { ...base, internalDate: new Date(), problem: m.broken };
        } else if (m.tooLarge) {
          yield {
            ...base,
            internalDate: new Date(),
            problem: `it is too large (${m.size} bytes; the limit is ${options.maxMessageSize})`,
          };
        } else {
          const { message, flags, keywords } = takeMboxStatus(m.body);
          const internalDate = m.date ?? headerDate(message) ?? new Date();
          yield { ...base, message, flags, keywords, internalDate };
        }
      }
    } finally {
      try {
        file.close();
      } catch {
        // closed by the end of its stream
      }
    }
    done += (await Deno.stat(f.path)).size;
    onRead(done);
  }
}

/** The mbox files of a directory (and of its subdirectories, as levels of the hierarchy). */
async function mboxDirSource(
  root: string,
  prefix: string | undefined,
  options: SourceOptions,
): Promise<ImportSource> {
  const files: MboxFile[] = [];
  let totalBytes = 0;
  const walk = async (dir: string, levels: string[], rel: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) if (!e.name.startsWith(".")) entries.push(e);
    entries.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (const e of entries) {
      const path = join(dir, e.name);
      const label = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory) {
        // Thunderbird keeps the children of "Name" in "Name.sbd".
        const name = e.name.replace(/\.sbd$/, "");
        await walk(path, [...levels, ...folderLevels(name, decodeLevel)], label);
        continue;
      }
      const info = await Deno.stat(path);
      if (!info.isFile) continue;
      const isMbox = e.name.endsWith(".mbox");
      if (!isMbox && (info.size === 0 || !await startsWithFrom(path))) continue;
      const name = isMbox ? e.name.slice(0, -".mbox".length) : e.name;
      const own = [...levels, ...folderLevels(name, decodeLevel)];
      files.push({ path, label, mailbox: target(own, prefix) });
      totalBytes += info.size;
    }
  };
  await walk(root, [], "");
  if (files.length === 0) {
    throw new CliError(`${root} has no mbox files (NAME.mbox, or files that begin with "From ")`);
  }
  // INBOX first, then by name, so that uids follow the order a person expects.
  const order = (m: string) => m === "INBOX" ? "" : m;
  files.sort((a, b) => order(a.mailbox) < order(b.mailbox) ? -1 : 1);
  return {
    format: "mbox",
    description: `a directory of ${files.length} mbox file${files.length === 1 ? "" : "s"}`,
    totalBytes,
    mailboxes: withParents(files.map((f) => f.mailbox)),
    items: (onRead) => mboxItems(files, options, onRead),
  };
}

/** Names with their parents added, each once, parents first. */
function withParents(names: string[]): string[] {
  const out: string[] = [];
  for (const name of names) {
    const levels = name.split("/");
    for (let i = 1; i <= levels.length; i++) {
      const path = levels.slice(0, i).join("/");
      if (!out.includes(path)) out.push(path);
    }
  }
  return out;
}

/** One folder of a Maildir tree. */
interface MaildirFolder {
  path: string;
  /** How reports name it ("" for the root). */
  label: string;
  mailbox: string;
}

/** One message file. */
interface MaildirFile {
  path: string;
  name: string;
  size: number;
  mtime: Date | null;
}

/** The folders of a Maildir++ tree: the root, `.A.B` beside it, and `.X` inside a folder (Python's). */
async function maildirFolders(root: string, prefix: string | undefined): Promise<MaildirFolder[]> {
  const folders: MaildirFolder[] = [{ path: root, label: "", mailbox: target([], prefix) }];
  const walk = async (dir: string, levels: string[], rel: string) => {
    const subdirs: string[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".") && e.name !== "." && e.name !== ".." && e.isDirectory) {
        subdirs.push(e.name);
      }
    }
    subdirs.sort();
    for (const name of subdirs) {
      const path = join(dir, name);
      const own = [...levels, ...folderLevels(name.slice(1), decodeLevel)];
      if (own.length === levels.length) continue;
      const label = rel === "" ? name : `${rel}/${name}`;
      if (await isMaildir(path)) folders.push({ path, label, mailbox: target(own, prefix) });
      await walk(path, own, label);
    }
  };
  await walk(root, [], "");
  return folders;
}

/**
 * The message files of a folder's cur/ and new/, in the order of Dovecot's
 * `dovecot-uidlist` when there is one, the others after them oldest first
 * (by mtime, then name).
 */
async function maildirFiles(folder: string): Promise<MaildirFile[]> {
  let uids = new Map<string, number>();
  try {
    uids = parseUidlist(await Deno.readTextFile(join(folder, "dovecot-uidlist")));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const files: MaildirFile[] = [];
  for (const sub of ["cur", "new"]) {
    const dir = join(folder, sub);
    if (!await isDir(dir)) continue;
    for await (const e of Deno.readDir(dir)) {
      if (e.name.startsWith(".")) continue;
      const path = join(dir, e.name);
      const info = await statOrUndefined(path);
      if (!info?.isFile) continue;
      files.push({ path, name: `${sub}/${e.name}`, size: info.size, mtime: info.mtime });
    }
  }
  const time = (f: MaildirFile) => f.mtime?.getTime() ?? 0;
  const uid = (f: MaildirFile) =>
    uids.get(parseMaildirName(basename(f.path)).unique) ?? Number.MAX_SAFE_INTEGER;
  files.sort((a, b) =>
    uid(a) - uid(b) || time(a) - time(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
  return files;
}

/** Dovecot's keyword letters of a folder (`dovecot-keywords`: "0 name" per line, 0 = "a"). */
async function keywordLetters(folder: string): Promise<Map<string, string>> {
  const letters = new Map<string, string>();
  let text: string;
  try {
    text = await Deno.readTextFile(join(folder, "dovecot-keywords"));
  } catch {
    return letters;
  }
  for (const line of text.split("\n")) {
    const m = /^(\d+)\s+(\S+)\s*$/.exec(line);
    if (m && Number(m[1]) < 26) letters.set(String.fromCharCode(0x61 + Number(m[1])), m[2]);
  }
  return letters;
}

async function maildirSource(
  root: string,
  prefix: string | undefined,
  options: SourceOptions,
): Promise<ImportSource> {
  const folders = await maildirFolders(root, prefix);
  const listed: { folder: MaildirFolder; files: MaildirFile[] }[] = [];
  let totalBytes = 0;
  for (const folder of folders) {
    const files = await maildirFiles(folder.path);
    for (const f of files) totalBytes += f.size;
    listed.push({ folder, files });
  }
  const count = folders.length - 1;
  return {
    format: "maildir",
    description: `a Maildir with ${count} folder${count === 1 ? "" : "s"}`,
    totalBytes,
    mailboxes: withParents(folders.map((f) => f.mailbox)),
    items: async function* (onRead) {
      let read = 0;
      for (const { folder, files } of listed) {
        const letters = await keywordLetters(folder.path);
        for (const f of files) {
          const position = folder.label === "" ? f.name : `${folder.label}/${f.name}`;
          const parsed = parseMaildirName(basename(f.path));
          const keywords = parsed.keywordLetters.map((l) => letters.get(l)).filter((k) =>
            k !== undefined
          );
          const base = {
            mailbox: folder.mailbox,
            position,
            flags: parsed.flags,
            keywords,
            internalDate: f.mtime ?? new Date(),
          };
          read += f.size;
          if (f.size > options.maxMessageSize) {
            onRead(read);
            yield {
              ...base,
              problem: `it is too large (${f.size} bytes; the limit is ${options.maxMessageSize})`,
            };
            continue;
          }
          let bytes: Uint8Array;
          try {
            bytes = await Deno.readFile(f.path);
          } catch (err) {
            // Gone meanwhile (a mail program moved it), or unreadable.
            onRead(read);
            yield { ...base, problem: `it cannot be read: ${(err as Error).message}` };
            continue;
          }
          const message = toCrlf(bytes);
          onRead(read);
          if (message.length > options.maxMessageSize) {
            yield {
              ...base,
              problem: `it is too large (${message.length} bytes with CRLF line ends; ` +
                `the limit is ${options.maxMessageSize})`,
            };
            continue;
          }
          yield { ...base, internalDate: f.mtime ?? headerDate(message) ?? new Date(), message };
        }
      }
    },
  };
}
