/**
 * The mailbox commands of the authenticated state (RFC 9051 §6.3): NAMESPACE,
 * CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST (with LIST-EXTENDED and
 * LIST-STATUS), LSUB and STATUS. Each handler gets what it needs of its
 * session as a {@link MailboxScope}, writes its untagged responses and
 * returns the tagged reply.
 */
import type { MailboxChanges } from "../store/changes.ts";
import type { Store } from "../store/db.ts";
import {
  createFolder,
  deleteFolder,
  findFolder,
  folderStatus,
  hasChildren,
  listFolders as storeFolders,
  renameFolder,
  SEPARATOR,
  setSubscribed,
} from "../store/folders.ts";
import { INBOX } from "../store/mailboxes.ts";
import type { QuotaDefaults } from "../store/quota.ts";
import type { CommandOf } from "./command.ts";
import { mailboxName } from "./format.ts";
import { listFolders } from "./list.ts";
import { no, ok, type Reply, type Untagged } from "./reply.ts";

/** What the mailbox commands need of their session. */
export interface MailboxScope {
  store: Store;
  /** Where changes are announced to the other sessions of a mailbox. */
  changes: MailboxChanges;
  /** The id of the logged-in user. */
  userId: number;
  /** Our host name: the authserv-id and `by` of the trace fields we add (junk training reads them). */
  hostname: string;
  /** IMAP4rev2 is enabled: mailbox names in UTF-8, no RECENT. */
  rev2: boolean;
  untagged: Untagged;
  /** Turns CONDSTORE on for the rest of the session (RFC 7162 §3.1). */
  enableCondstore: () => void;
  /** The quota of users without their own (config `limits.quota`, `limits.quota_messages`). */
  quotaDefaults: QuotaDefaults;
}

/** NAMESPACE (RFC 9051 §6.3.10): one personal namespace, no others. */
export async function namespaceCommand(scope: MailboxScope): Promise<Reply> {
  await scope.untagged(`NAMESPACE (("" "${SEPARATOR}")) NIL NIL`);
  return ok("NAMESPACE completed");
}

/** CREATE (RFC 9051 §6.3.4). */
export function createCommand(scope: MailboxScope, cmd: CommandOf<"CREATE">): Reply {
  createFolder(scope.store, scope.userId, cmd.mailbox);
  return ok("CREATE completed");
}

/**
 * DELETE (RFC 9051 §6.3.5). A mailbox with children is refused with
 * HASCHILDREN, as the RFC allows; deleting the selected mailbox deselects it.
 */
export function deleteCommand(
  scope: MailboxScope,
  cmd: CommandOf<"DELETE">,
  selection: { selectedId: number | undefined; deselect: () => void },
): Reply {
  const folder = findFolder(scope.store, scope.userId, cmd.mailbox);
  if (folder && hasChildren(scope.store, scope.userId, folder.name)) {
    return no(`Mailbox ${folder.name} has child mailboxes; delete them first`, "HASCHILDREN");
  }
  deleteFolder(scope.store, scope.userId, cmd.mailbox);
  if (folder && selection.selectedId === folder.id) selection.deselect();
  if (folder) scope.changes.notify(folder.id);
  return ok("DELETE completed");
}

/** RENAME (RFC 9051 §6.3.6). */
export function renameCommand(scope: MailboxScope, cmd: CommandOf<"RENAME">): Reply {
  const folder = findFolder(scope.store, scope.userId, cmd.from);
  renameFolder(scope.store, scope.userId, cmd.from, cmd.to);
  // Renaming INBOX moves its messages out: sessions on INBOX hear of the expunges now.
  if (folder?.name === INBOX) scope.changes.notify(folder.id);
  return ok("RENAME completed");
}

/** SUBSCRIBE and UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8). */
export function subscribeCommand(
  scope: MailboxScope,
  cmd: CommandOf<"SUBSCRIBE" | "UNSUBSCRIBE">,
): Reply {
  const on = cmd.name === "SUBSCRIBE";
  setSubscribed(scope.store, scope.userId, cmd.mailbox, on);
  return ok(`${on ? "SUBSCRIBE" : "UNSUBSCRIBE"} completed`);
}

/** LIST (RFC 9051 §6.3.9), with a STATUS line per mailbox for RETURN (STATUS ...) (RFC 5819). */
export async function listCommand(scope: MailboxScope, cmd: CommandOf<"LIST">): Promise<Reply> {
  const args = cmd.args;
  if (args.patterns.length === 1 && args.patterns[0] === "") {
    // RFC 9051 §6.3.9: an empty pattern asks for the separator and the root.
    await scope.untagged(`LIST (\\Noselect) "${SEPARATOR}" ""`);
    return ok("LIST completed");
  }
  for (const { folder, attributes } of listFolders(storeFolders(scope.store, scope.userId), args)) {
    await scope.untagged(
      `LIST (${attributes.join(" ")}) "${SEPARATOR}" ${mailboxName(folder.name, scope.rev2)}`,
    );
    if (args.status) await statusLine(scope, folder.id, folder.name, args.status);
  }
  return ok("LIST completed");
}

/** LSUB (RFC 3501 §6.3.9): the subscribed mailboxes that match. */
export async function lsubCommand(scope: MailboxScope, cmd: CommandOf<"LSUB">): Promise<Reply> {
  const listed = listFolders(storeFolders(scope.store, scope.userId), {
    reference: cmd.reference,
    patterns: [cmd.pattern],
    select: ["SUBSCRIBED"],
    returns: [],
  });
  for (const { folder } of listed) {
    await scope.untagged(`LSUB () "${SEPARATOR}" ${mailboxName(folder.name, scope.rev2)}`);
  }
  return ok("LSUB completed");
}

/** STATUS (RFC 9051 §6.3.11); asking for HIGHESTMODSEQ turns CONDSTORE on (RFC 7162 §3.1). */
export async function statusCommand(
  scope: MailboxScope,
  cmd: CommandOf<"STATUS">,
): Promise<Reply> {
  const folder = findFolder(scope.store, scope.userId, cmd.mailbox);
  if (!folder) return no(`No such mailbox: ${cmd.mailbox}`, "NONEXISTENT");
  if (cmd.items.some((i) => i.toUpperCase() === "HIGHESTMODSEQ")) scope.enableCondstore();
  await statusLine(scope, folder.id, folder.name, cmd.items);
  return ok("STATUS completed");
}

/** Writes the STATUS response of a mailbox with the items asked for that Postino knows. */
async function statusLine(
  scope: MailboxScope,
  mailboxId: number,
  name: string,
  items: string[],
): Promise<void> {
  const s = folderStatus(scope.store, mailboxId);
  const values: Record<string, number> = {
    MESSAGES: s.messages,
    UIDNEXT: s.uidnext,
    UIDVALIDITY: s.uidvalidity,
    UNSEEN: s.unseen,
    DELETED: s.deleted,
    SIZE: s.size,
    // RFC 9208 §4.1.4: what EXPUNGE would free, in the 1024-octet units of STORAGE.
    "DELETED-STORAGE": Math.ceil(s.deletedSize / 1024),
    RECENT: s.recent,
    HIGHESTMODSEQ: s.highestModseq,
  };
  const parts = items.map((i) => i.toUpperCase()).filter((i) => i in values)
    .filter((i) => !(i === "RECENT" && scope.rev2))
    .map((i) => `${i} ${values[i]}`);
  await scope.untagged(`STATUS ${mailboxName(name, scope.rev2)} (${parts.join(" ")})`);
}
