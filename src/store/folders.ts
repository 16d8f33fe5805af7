/**
 * A user's mailboxes as IMAP names them (RFC 9051 §5.1): a hierarchy with
 * "/" as separator, INBOX always there, the special-use mailboxes (RFC 6154)
 * created for every user, subscriptions, and STATUS counters.
 */
import type { Store } from "./db.ts";
import { StoreError } from "./db.ts";
import { moveEntries } from "./entries.ts";
import {
  createMailbox,
  FLAG_DELETED,
  FLAG_SEEN,
  INBOX,
  nextUidValidity,
  SPECIAL_USE,
} from "./mailboxes.ts";

/** The hierarchy separator. */
export const SEPARATOR = "/";

/** One mailbox of a user. */
export interface Folder {
  id: number;
  name: string;
  specialUse?: string;
  subscribed: boolean;
}

/** STATUS counters (RFC 9051 §6.3.11, RFC 7162 HIGHESTMODSEQ, STATUS=SIZE). */
export interface FolderStatus {
  messages: number;
  unseen: number;
  deleted: number;
  size: number;
  /** Octets of the \Deleted messages: what EXPUNGE would free (STATUS DELETED-STORAGE). */
  deletedSize: number;
  recent: number;
  uidnext: number;
  uidvalidity: number;
  highestModseq: number;
}

/** Creates INBOX and the special-use mailboxes a user lacks (idempotent). */
export function ensureStandardFolders(store: Store, userId: number): void {
  store.transaction(() => {
    for (const name of [INBOX, ...SPECIAL_USE.keys()]) {
      const exists = store.get(
        "SELECT 1 FROM mailboxes WHERE user_id = ? AND name = ?",
        userId,
        name,
      );
      if (!exists) createMailbox(store, userId, name, SPECIAL_USE.get(name));
    }
  });
}

/** All of a user's mailboxes, sorted by name (INBOX first). */
export function listFolders(store: Store, userId: number): Folder[] {
  return store.all<{ id: number; name: string; special_use: string | null; subscribed: number }>(
    `SELECT id, name, special_use, subscribed FROM mailboxes WHERE user_id = ?
     ORDER BY name <> 'INBOX', name`,
    userId,
  ).map((r) => ({
    id: r.id,
    name: r.name,
    specialUse: r.special_use ?? undefined,
    subscribed: r.subscribed !== 0,
  }));
}

/** The mailbox called `name` (INBOX in any case), or undefined. */
export function findFolder(store: Store, userId: number, name: string): Folder | undefined {
  const key = name.toUpperCase() === INBOX ? INBOX : name;
  return listFolders(store, userId).find((f) => f.name === key);
}

function checkName(name: string): void {
  if (
    name === "" || name.startsWith(SEPARATOR) || name.endsWith(SEPARATOR) || name.includes("//")
  ) {
    throw new StoreError(`Invalid mailbox name: ${name}`);
  }
  if ([...name].some((c) => c < " " || c === "\x7f" || c === "*" || c === "%")) {
    throw new StoreError(`Invalid character in mailbox name: ${name}`);
  }
}

/**
 * Creates a mailbox and any missing parents (RFC 9051 §6.3.4). A trailing
 * separator is the client's hint that it wants a parent; it is dropped.
 */
export function createFolder(store: Store, userId: number, name: string): void {
  const clean = name.endsWith(SEPARATOR) ? name.slice(0, -1) : name;
  checkName(clean);
  store.transaction(() => {
    if (findFolder(store, userId, clean)) {
      throw new StoreError(`Mailbox already exists: ${clean}`, "conflict");
    }
    const parts = clean.split(SEPARATOR);
    for (let i = 1; i <= parts.length; i++) {
      const path = parts.slice(0, i).join(SEPARATOR);
      if (!findFolder(store, userId, path)) createMailbox(store, userId, path);
    }
  });
}

/** True when a mailbox has mailboxes below it in the hierarchy. */
export function hasChildren(store: Store, userId: number, name: string): boolean {
  return listFolders(store, userId).some((f) => f.name.startsWith(name + SEPARATOR));
}

/** Deletes a mailbox and its messages; INBOX cannot go, nor a parent of others (RFC 9051 §6.3.5). */
export function deleteFolder(store: Store, userId: number, name: string): void {
  store.transaction(() => {
    const folder = findFolder(store, userId, name);
    if (!folder) throw new StoreError(`No such mailbox: ${name}`, "not_found");
    if (folder.name === INBOX) throw new StoreError("INBOX cannot be deleted");
    if (hasChildren(store, userId, folder.name)) {
      throw new StoreError(
        `Mailbox ${folder.name} has child mailboxes; delete them first`,
        "conflict",
      );
    }
    store.run("DELETE FROM mailboxes WHERE id = ?", folder.id);
  });
}

/**
 * Renames a mailbox with its children (RFC 9051 §6.3.6). Renaming INBOX
 * moves its messages into the new mailbox and leaves INBOX empty.
 */
export function renameFolder(store: Store, userId: number, from: string, to: string): void {
  checkName(to);
  store.transaction(() => {
    const folder = findFolder(store, userId, from);
    if (!folder) throw new StoreError(`No such mailbox: ${from}`, "not_found");
    if (findFolder(store, userId, to)) {
      throw new StoreError(`Mailbox already exists: ${to}`, "conflict");
    }
    if (to.toUpperCase() === INBOX) throw new StoreError("Cannot rename a mailbox to INBOX");
    if (folder.name !== INBOX && to.startsWith(folder.name + SEPARATOR)) {
      throw new StoreError(`Cannot rename ${folder.name} into itself`);
    }
    const parents = to.split(SEPARATOR).slice(0, -1);
    for (let i = 1; i <= parents.length; i++) {
      const path = parents.slice(0, i).join(SEPARATOR);
      if (!findFolder(store, userId, path)) createMailbox(store, userId, path);
    }
    if (folder.name === INBOX) {
      const target = createMailbox(store, userId, to);
      // The messages move with new uids; INBOX keeps its uidvalidity and stays, empty.
      const uids = store.all<{ uid: number }>(
        "SELECT uid FROM mailbox_entries WHERE mailbox_id = ? ORDER BY uid",
        folder.id,
      ).map((r) => r.uid);
      moveEntries(store, folder.id, uids, target);
      return;
    }
    for (const f of listFolders(store, userId)) {
      if (f.id === folder.id || f.name.startsWith(folder.name + SEPARATOR)) {
        const renamed = to + f.name.slice(folder.name.length);
        // A new name means a new UIDVALIDITY (RFC 9051 §2.3.1.1 keeps names and uids paired).
        store.run(
          "UPDATE mailboxes SET name = ?, uidvalidity = ? WHERE id = ?",
          renamed,
          nextUidValidity(store),
          f.id,
        );
      }
    }
  });
}

/** Subscribes to or unsubscribes from a mailbox (RFC 9051 §6.3.7). */
export function setSubscribed(store: Store, userId: number, name: string, on: boolean): void {
  const folder = findFolder(store, userId, name);
  if (!folder) throw new StoreError(`No such mailbox: ${name}`, "not_found");
  store.run("UPDATE mailboxes SET subscribed = ? WHERE id = ?", on ? 1 : 0, folder.id);
}

/** STATUS counters of a mailbox. */
export function folderStatus(store: Store, mailboxId: number): FolderStatus {
  const m = store.get<
    { uidnext: number; uidvalidity: number; highest_modseq: number; first_recent_uid: number }
  >(
    "SELECT uidnext, uidvalidity, highest_modseq, first_recent_uid FROM mailboxes WHERE id = ?",
    mailboxId,
  )!;
  const c = store.get<
    {
      messages: number;
      unseen: number;
      deleted: number;
      size: number;
      deleted_size: number;
      recent: number;
    }
  >(
    `SELECT count(*) messages,
       coalesce(sum(flags & ? = 0), 0) unseen,
       coalesce(sum(flags & ? <> 0), 0) deleted,
       coalesce(sum(size), 0) size,
       coalesce(sum(CASE WHEN flags & ? <> 0 THEN size ELSE 0 END), 0) deleted_size,
       coalesce(sum(uid >= ?), 0) recent
     FROM mailbox_entries WHERE mailbox_id = ?`,
    FLAG_SEEN,
    FLAG_DELETED,
    FLAG_DELETED,
    m.first_recent_uid,
    mailboxId,
  )!;
  return {
    messages: c.messages,
    unseen: c.unseen,
    deleted: c.deleted,
    size: c.size,
    deletedSize: c.deleted_size,
    recent: c.recent,
    uidnext: m.uidnext,
    uidvalidity: m.uidvalidity,
    highestModseq: m.highest_modseq,
  };
}
