/**
 * LIST (RFC 9051 §6.3.9) with LIST-EXTENDED (RFC 5258), SPECIAL-USE (RFC
 * 6154) and CHILDREN attributes: which mailboxes match, and their lines.
 */
import type { Folder } from "../store/folders.ts";
import { SEPARATOR } from "../store/folders.ts";
import type { ListArgs } from "./command.ts";

/** A pattern as a regular expression: `*` matches anything, `%` anything but the separator. */
export function patternToRegExp(reference: string, pattern: string): RegExp {
  // RFC 9051 §6.3.9: the reference is prefixed to the pattern (unless the pattern is absolute).
  const full = pattern.startsWith(SEPARATOR) || reference === ""
    ? pattern
    : reference.endsWith(SEPARATOR)
    ? reference + pattern
    : reference + SEPARATOR + pattern;
  let source = "";
  for (const c of full) {
    if (c === "*") source += ".*";
    else if (c === "%") source += `[^${SEPARATOR}]*`;
    else source += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${source}$`, "s");
}

/** True when `name` matches the pattern; INBOX matches case-insensitively. */
export function matchesPattern(name: string, reference: string, pattern: string): boolean {
  const re = patternToRegExp(reference, pattern);
  if (re.test(name)) return true;
  if (name === "INBOX") return re.test("inbox") || new RegExp(re.source, "i").test("INBOX");
  return false;
}

/** One mailbox of a LIST answer, with its attributes. */
export interface ListedFolder {
  folder: Folder;
  attributes: string[];
}

/** The mailboxes a LIST names, in order, with their attributes (RFC 5258 §3). */
export function listFolders(folders: Folder[], args: ListArgs): ListedFolder[] {
  const onlySubscribed = args.select.includes("SUBSCRIBED");
  const onlySpecial = args.select.includes("SPECIAL-USE");
  const wantSubscribed = onlySubscribed || args.returns.includes("SUBSCRIBED");
  const out: ListedFolder[] = [];
  for (const folder of folders) {
    if (!args.patterns.some((p) => matchesPattern(folder.name, args.reference, p))) continue;
    if (onlySubscribed && !folder.subscribed) continue;
    if (onlySpecial && !folder.specialUse) continue;
    const children = folders.some((f) => f.name.startsWith(folder.name + SEPARATOR));
    const attributes = [children ? "\\HasChildren" : "\\HasNoChildren"];
    if (wantSubscribed && folder.subscribed) attributes.push("\\Subscribed");
    // RFC 6154 §2: special-use attributes are always sent; clients that do not know them ignore them.
    if (folder.specialUse) attributes.push(folder.specialUse);
    out.push({ folder, attributes });
  }
  return out;
}
