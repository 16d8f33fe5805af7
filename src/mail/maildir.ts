/**
 * Maildir and Maildir++ names (https://cr.yp.to/proto/maildir.html, Courier's
 * Maildir++): a message file's name carries its flags in the info suffix
 * `:2,FLAGS` (`!2,` where `:` cannot be used), and a folder of a Maildir++
 * tree is a directory `.Name.Sub` beside the root's cur/new/tmp. The same
 * folder naming gives the file names of a directory of mbox files
 * (`Name.Sub.mbox`).
 *
 * Folder names: each level of the IMAP name (levels separated by "/") is
 * written with `%XX` (the UTF-8 bytes in hex) for ".", "/", "%", "&", ":"
 * and the characters file systems dislike, so a name never mixes with the
 * "." between levels. Reading takes such escapes back; a level with "&" is
 * read as modified UTF-7 (RFC 3501 §5.1.3) when it is valid as that, as
 * Courier and Dovecot write non-ASCII names, by the caller's decoder.
 *
 * Flags are IMAP names here. Dovecot's `dovecot-uidlist` (the uid of each
 * file) is written on export and read on import, so a folder's messages
 * keep their order.
 */

/** Maildir flag letters and the IMAP flags they stand for, in ASCII order (as names must be). */
export const MAILDIR_FLAGS: readonly [string, string][] = [
  ["D", "\\Draft"],
  ["F", "\\Flagged"],
  ["R", "\\Answered"],
  ["S", "\\Seen"],
  ["T", "\\Deleted"],
];

/** What a message file's name says. */
export interface MaildirName {
  /** The unique part, before the info suffix. */
  unique: string;
  /** IMAP flags named by uppercase letters of the info (P, "passed", has none and is ignored). */
  flags: string[];
  /** Lowercase letters of the info: keywords by position (Dovecot's `dovecot-keywords`). */
  keywordLetters: string[];
}

/** Parses a message file's name: `UNIQUE[:2,FLAGS]` (or `!2,`). */
export function parseMaildirName(name: string): MaildirName {
  const m = /^(.*?)[:!]2,([^:!]*)$/.exec(name);
  if (!m) return { unique: name, flags: [], keywordLetters: [] };
  const letters = m[2];
  const flags = MAILDIR_FLAGS.filter(([letter]) => letters.includes(letter)).map(([, f]) => f);
  const keywordLetters = [...new Set(letters.match(/[a-z]/g) ?? [])].sort();
  return { unique: m[1], flags, keywordLetters };
}

/**
 * The info suffix for IMAP flags and keyword letters: `:2,` and the letters
 * in ASCII order (uppercase flags, then lowercase keywords).
 */
export function maildirInfo(
  flags: readonly string[],
  keywordLetters: readonly string[] = [],
): string {
  const lower = flags.map((f) => f.toLowerCase());
  const letters = MAILDIR_FLAGS.filter(([, f]) => lower.includes(f.toLowerCase()))
    .map(([letter]) => letter);
  return `:2,${letters.join("")}${[...new Set(keywordLetters)].sort().join("")}`;
}

/**
 * A message file name that is unique in its folder: the internal date in
 * seconds (the usual first part), the mailbox's UIDVALIDITY and the uid,
 * our name, the size (`S=`, read by Courier and Dovecot), and the info.
 */
export function maildirFileName(
  options: {
    internalDate: number;
    uidvalidity: number;
    uid: number;
    size: number;
    flags: readonly string[];
    keywordLetters?: readonly string[];
  },
): string {
  const seconds = Math.max(0, Math.floor(options.internalDate / 1000));
  return `${seconds}.V${options.uidvalidity}U${options.uid}.postino,S=${options.size}` +
    maildirInfo(options.flags, options.keywordLetters);
}

/** Characters written as `%XX` in a level of a folder name. */
// deno-lint-ignore no-control-regex
const ESCAPED = /[\x00-\x1f\x7f.\/%&:\\*?"<>|]/g;

function escapeLevel(level: string): string {
  let out = level.replace(
    ESCAPED,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
  );
  // A leading "~" or "-" confuses shells and tools; an empty level cannot be written at all.
  if (/^[~-]/.test(out)) out = `%${out.charCodeAt(0).toString(16).toUpperCase()}${out.slice(1)}`;
  return out === "" ? "%00" : out;
}

/**
 * The name of a mailbox in a Maildir++ tree or a directory of mbox files,
 * without the leading "." of a Maildir++ folder: levels escaped and joined
 * with ".". `Work/2026 plans` gives `Work.2026 plans`, `v1.2` gives `v1%2E2`.
 */
export function folderFileName(mailbox: string): string {
  return mailbox.split("/").map(escapeLevel).join(".");
}

/** The Maildir++ directory of a mailbox below the root: `.` and its {@link folderFileName}. */
export function maildirFolderDir(mailbox: string): string {
  return `.${folderFileName(mailbox)}`;
}

/** A mailbox's file in a directory of mbox files: its {@link folderFileName} and `.mbox`. */
export function mboxFileName(mailbox: string): string {
  return `${folderFileName(mailbox)}.mbox`;
}

const utf8 = new TextDecoder("utf-8", { fatal: false });

/** Takes `%XX` escapes back (as UTF-8 bytes); anything else stays as it is. */
function unescapeLevel(level: string): string {
  if (!level.includes("%")) return level;
  return level.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    const bytes = new Uint8Array(run.length / 3);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16);
    return utf8.decode(bytes);
  });
}

/** What may not be in a level of a mailbox name we store (control characters, wildcards). */
// deno-lint-ignore no-control-regex
const NOT_IN_NAME = /[\x00-\x1f\x7f*%\/]/g;

/**
 * The levels of a mailbox from a folder's file name (a Maildir++ folder
 * without its leading ".", or an mbox file without ".mbox"): split at ".",
 * each level unescaped (`decode` first gets a level with "&", for modified
 * UTF-7, and returns undefined when it is not that), characters a mailbox
 * name cannot hold replaced by "_". Empty levels are dropped.
 */
export function folderLevels(
  fileName: string,
  decode: (level: string) => string | undefined = () => undefined,
): string[] {
  return fileName.split(".").filter((level) => level !== "").map((level) => {
    const decoded = level.includes("&") ? decode(level) : undefined;
    const name = decoded ?? unescapeLevel(level);
    return name.replace(NOT_IN_NAME, "_");
  }).filter((level) => level !== "");
}

/**
 * The uids of Dovecot's `dovecot-uidlist` (versions 1 and 3) by file name
 * without its info suffix: which order the messages of a folder were in.
 * Lines that do not parse are skipped.
 */
export function parseUidlist(text: string): Map<string, number> {
  const uids = new Map<string, number>();
  const lines = text.split("\n");
  for (const line of lines.slice(1)) {
    const m = /^(\d+)\s+(.*)$/.exec(line.trimEnd());
    if (!m) continue;
    // Version 3: "UID [EXTENSIONS] :NAME"; version 1: "UID NAME".
    const at = m[2].startsWith(":") ? 0 : m[2].indexOf(" :");
    const name = at < 0 ? m[2].split(/\s+/)[0] : m[2].slice(at === 0 ? 1 : at + 2);
    if (name !== "") uids.set(parseMaildirName(name).unique, Number(m[1]));
  }
  return uids;
}

/** The header line of a `dovecot-uidlist` (version 3) for a mailbox. */
export function uidlistHeader(uidvalidity: number, uidnext: number): string {
  return `3 V${uidvalidity} N${uidnext}\n`;
}

/** One message's line of a `dovecot-uidlist`: its uid and file name without the info suffix. */
export function uidlistLine(uid: number, fileName: string): string {
  return `${uid} :${parseMaildirName(fileName).unique}\n`;
}
