/**
 * The message commands (RFC 9051 §6.4): FETCH, STORE, SEARCH, COPY and MOVE
 * (RFC 6851), EXPUNGE and UID EXPUNGE (RFC 4315) on the selected mailbox;
 * the QRESYNC report of SELECT (RFC 7162 §3.2.5); and APPEND, which needs no
 * selected mailbox. Each handler gets what it needs of its session as a
 * scope, writes its untagged responses and returns the tagged reply.
 *
 * Message numbers are those of the session's {@link MailboxView}; the session
 * holds expunges back during FETCH, STORE and SEARCH (RFC 9051 §7.5.1), so a
 * number these resolve stays valid while they run.
 */
import type { CommitQueue } from "../store/commit_queue.ts";
import {
  changedSince as entriesChangedSince,
  copyEntries,
  entryByUid,
  expungedSince,
  expungeEntries,
  fetchRows,
  flagNames,
  messageBody,
  moveEntries,
  parseFlags,
  saveMessageMeta,
  storeFlags,
} from "../store/entries.ts";
import { findFolder, folderStatus, listFolders } from "../store/folders.ts";
import { lessonOfMove, lessonOfStore, train } from "../junk/training.ts";
import { FLAG_ANSWERED, FLAG_SEEN } from "../store/mailboxes.ts";
import type { CommandOf, SearchKey, SequenceSet } from "./command.ts";
import {
  fetchResponse,
  metaOf,
  needsBody,
  needsMeta,
  setsSeen,
  UnknownTransferEncoding,
} from "./fetch.ts";
import { compactSet, flagList, imapString } from "./format.ts";
import type { MailboxScope } from "./mailbox_commands.ts";
import { MailboxView } from "./mailbox_view.ts";
import { overQuotaRefusal } from "./quota_commands.ts";
import { bad, no, ok, type Reply } from "./reply.ts";
import { matches, needsBody as searchNeedsBody, setKeys, usesModseq } from "./search.ts";

/** FETCH reads this many messages per query. */
const FETCH_BATCH = 200;

/** What the commands on the selected mailbox need of their session. */
export interface MessageScope extends MailboxScope {
  view: MailboxView;
  /** CONDSTORE is on: FETCH and STORE responses carry MODSEQ (RFC 7162 §3.1). */
  condstore: boolean;
  /** QRESYNC is enabled: expunges are reported as VANISHED (RFC 7162 §3.2). */
  qresync: boolean;
  /** The result saved by SEARCH RETURN (SAVE), as uids: what `$` names (RFC 5182). */
  saved: readonly number[];
  /** Replaces the saved search result. */
  saveResult: (uids: number[]) => void;
  write: (data: string | Uint8Array) => Promise<void>;
}

/**
 * Sends what changed in the selected mailbox since the session last looked
 * (RFC 9051 §7.4, §7.5): expunges (as VANISHED under QRESYNC, RFC 7162 §3.2.10),
 * new messages, flag changes. With `allowExpunge` false, expunges wait.
 */
export async function reportUpdates(scope: MessageScope, allowExpunge: boolean): Promise<void> {
  const view = scope.view;
  const updates = view.sync(scope.store, allowExpunge);
  if (updates.expunged.length > 0) {
    if (scope.qresync) {
      await scope.untagged(
        `VANISHED ${compactSet(updates.expunged.map((e) => e.uid).sort((a, b) => a - b))}`,
      );
    } else {
      for (const e of updates.expunged) await scope.untagged(`${e.seq} EXPUNGE`);
    }
  }
  if (updates.exists !== undefined) {
    await scope.untagged(`${updates.exists} EXISTS`);
    if (!scope.rev2) await scope.untagged(`${view.recent} RECENT`);
  }
  for (const e of updates.changed) {
    const modseq = scope.condstore ? ` MODSEQ (${e.modseq})` : "";
    await scope.untagged(
      `${e.seq} FETCH (UID ${e.uid} FLAGS ${flagList(flagNames(e.flags, e.keywords))}${modseq})`,
    );
  }
}

/** The uids a sequence set names, or BAD when a message number is out of range. */
function resolve(scope: MessageScope, set: SequenceSet, byUid: boolean): number[] | Reply {
  const uids = scope.view.resolve(set, byUid, scope.saved);
  return uids === "invalid" ? bad("Invalid message number") : uids;
}

/**
 * FETCH and UID FETCH (RFC 9051 §6.4.5), with CHANGEDSINCE and VANISHED
 * (RFC 7162 §3.1.4, §3.2.6). Fetching a body without PEEK sets \Seen first,
 * so the responses carry the new FLAGS.
 */
export async function fetchCommand(scope: MessageScope, cmd: CommandOf<"FETCH">): Promise<Reply> {
  const { args } = cmd;
  const byUid = cmd.name === "UID FETCH";
  const view = scope.view;
  const uids = resolve(scope, args.set, byUid);
  if (!Array.isArray(uids)) return uids;
  const store = scope.store;
  const wantBody = args.items.some(needsBody);
  const wantMeta = args.items.some(needsMeta);
  const markSeen = !view.readOnly && args.items.some(setsSeen);
  const changedSince = args.changedSince === undefined ? undefined : Number(args.changedSince);
  let condstore = scope.condstore;
  if (args.changedSince !== undefined) {
    scope.enableCondstore();
    condstore = true;
  }
  if (args.vanished && changedSince !== undefined && scope.qresync) {
    const saved = new Set(scope.saved);
    const inSet = (u: number) =>
      args.set.saved ? saved.has(u) : MailboxView.uidSetIncludes(args.set, u);
    const gone = expungedSince(store, view.mailboxId, changedSince).filter(inSet);
    if (gone.length > 0) await scope.untagged(`VANISHED (EARLIER) ${compactSet(gone)}`);
  }
  if (markSeen) {
    const { changed } = storeFlags(store, view.mailboxId, uids, {
      mode: "add",
      flags: FLAG_SEEN,
      keywords: [],
    });
    if (changed.length > 0) scope.changes.notify(view.mailboxId);
    view.absorb(changed); // the FETCH responses carry the new FLAGS
  }
  const items = markSeen && !args.items.some((i) => i.item === "FLAGS")
    ? [...args.items, { item: "FLAGS" as const }]
    : args.items;
  const wanted = new Set(uids);
  for (const [from, to] of ranges(uids, FETCH_BATCH)) {
    const rows = fetchRows(store, view.mailboxId, from, to, { meta: wantMeta, body: wantBody });
    for (const row of rows) {
      if (!wanted.has(row.uid)) continue;
      if (changedSince !== undefined && row.modseq <= changedSince) continue;
      const seq = view.seqOf(row.uid);
      if (seq === 0) continue;
      let parts;
      try {
        parts = fetchResponse(items, {
          seq,
          row,
          recent: !scope.rev2 && row.uid >= view.recentFrom,
          uid: byUid,
          modseq: condstore,
          meta: () => {
            if (!row.meta && !row.body) row.body = messageBody(store, row.messageId);
            return metaOf(row, (json) => saveMessageMeta(store, row.messageId, json));
          },
        });
      } catch (err) {
        if (!(err instanceof UnknownTransferEncoding)) throw err;
        return no(err.message, "UNKNOWN-CTE");
      }
      for (const p of parts) await scope.write(p);
    }
  }
  return ok(`${byUid ? "UID FETCH" : "FETCH"} completed`);
}

/**
 * STORE and UID STORE (RFC 9051 §6.4.6), with UNCHANGEDSINCE (RFC 7162
 * §3.1.3). The session's own changes are told here, not again at the next
 * sync.
 */
export async function storeCommand(scope: MessageScope, cmd: CommandOf<"STORE">): Promise<Reply> {
  const { args } = cmd;
  const byUid = cmd.name === "UID STORE";
  const view = scope.view;
  if (view.readOnly) return no("Mailbox is read-only", "READ-ONLY");
  const uids = resolve(scope, args.set, byUid);
  if (!Array.isArray(uids)) return uids;
  const { flags, keywords } = parseFlags(args.flags);
  let condstore = scope.condstore;
  if (args.unchangedSince !== undefined) {
    scope.enableCondstore();
    condstore = true;
  }
  const { changed, failed } = storeFlags(scope.store, view.mailboxId, uids, {
    mode: args.mode,
    flags,
    keywords,
    unchangedSince: args.unchangedSince === undefined ? undefined : Number(args.unchangedSince),
  });
  if (changed.length > 0) scope.changes.notify(view.mailboxId);
  // $Junk and $NotJunk (RFC 5788's registered keywords) and \Answered teach the junk filter.
  if (args.mode !== "remove" && changed.length > 0) {
    const box = listFolders(scope.store, scope.userId).find((f) => f.id === view.mailboxId);
    const lesson = box && lessonOfStore(box, (flags & FLAG_ANSWERED) !== 0, keywords);
    if (lesson) {
      const ids = messageIdsOf(scope, changed.map((e) => e.uid));
      train(scope.store, scope.userId, ids, lesson, scope.hostname);
    }
  }
  view.absorb(changed); // told below; not again at the next sync
  if (!args.silent || condstore) {
    for (const e of changed) {
      const seq = view.seqOf(e.uid);
      if (seq === 0) continue;
      const fields = [
        ...(byUid ? [`UID ${e.uid}`] : []),
        ...(args.silent ? [] : [`FLAGS ${flagList(flagNames(e.flags, e.keywords))}`]),
        ...(condstore ? [`MODSEQ (${e.modseq})`] : []),
      ];
      await scope.untagged(`${seq} FETCH (${fields.join(" ")})`);
    }
  }
  if (failed.length > 0) {
    const names = byUid ? failed : failed.map((u) => view.seqOf(u));
    return ok("Conditional STORE failed for some messages", `MODIFIED ${compactSet(names)}`);
  }
  return ok(`${byUid ? "UID STORE" : "STORE"} completed`);
}

/**
 * SEARCH and UID SEARCH (RFC 9051 §6.4.4): a SEARCH response, or ESEARCH
 * (RFC 4731) with the command's tag under IMAP4rev2 or with RETURN; RETURN
 * (SAVE) keeps the result for `$` (RFC 5182).
 */
export async function searchCommand(scope: MessageScope, cmd: CommandOf<"SEARCH">): Promise<Reply> {
  const { args, tag } = cmd;
  const byUid = cmd.name === "UID SEARCH";
  const view = scope.view;
  const store = scope.store;
  if (args.charset && !/^(us-ascii|utf-8)$/i.test(args.charset)) {
    return no(`Charset ${args.charset} is not supported`, "BADCHARSET (US-ASCII UTF-8)");
  }
  const sets = new Map<SearchKey, Set<number>>();
  for (const key of setKeys(args.key)) {
    const uids = view.resolve(key.set, key.op === "uid", scope.saved);
    sets.set(key, new Set(uids === "invalid" ? [] : uids));
  }
  const withBody = searchNeedsBody(args.key);
  const found: number[] = [];
  let maxModseq = 0;
  for (const [from, to] of ranges([...view.uids], FETCH_BATCH)) {
    for (
      const row of fetchRows(store, view.mailboxId, from, to, { meta: false, body: withBody })
    ) {
      const seq = view.seqOf(row.uid);
      if (seq === 0) continue;
      const candidate = {
        entry: row,
        seq,
        recent: !scope.rev2 && row.uid >= view.recentFrom,
        body: () => row.body ?? (row.body = messageBody(store, row.messageId)),
      };
      if (matches(args.key, candidate, { sets })) {
        found.push(byUid ? row.uid : seq);
        maxModseq = Math.max(maxModseq, row.modseq);
      }
    }
  }
  const withModseq = usesModseq(args.key);
  if (args.returns?.includes("SAVE")) {
    scope.saveResult(byUid ? found : found.map((s) => view.uids[s - 1]));
  }
  const esearch = args.returns !== undefined || scope.rev2;
  if (!esearch) {
    const modseq = withModseq && found.length > 0 ? ` (MODSEQ ${maxModseq})` : "";
    await scope.untagged(`SEARCH${found.map((n) => ` ${n}`).join("")}${modseq}`);
  } else {
    const returns = args.returns && args.returns.length > 0 ? args.returns : ["ALL"];
    const parts = [`(TAG ${imapString(tag)})`, ...(byUid ? ["UID"] : [])];
    if (found.length > 0) {
      if (returns.includes("MIN")) parts.push(`MIN ${found[0]}`);
      if (returns.includes("MAX")) parts.push(`MAX ${found[found.length - 1]}`);
      if (returns.includes("ALL")) parts.push(`ALL ${compactSet(found)}`);
    }
    if (returns.includes("COUNT")) parts.push(`COUNT ${found.length}`);
    if (withModseq && found.length > 0) parts.push(`MODSEQ ${maxModseq}`);
    if (!(returns.length === 1 && returns[0] === "SAVE")) {
      await scope.untagged(`ESEARCH ${parts.join(" ")}`);
    }
  }
  return ok(`${byUid ? "UID SEARCH" : "SEARCH"} completed`);
}

/** The stored messages behind `uids` of the selected mailbox. */
function messageIdsOf(scope: MessageScope, uids: readonly number[]): number[] {
  const ids: number[] = [];
  for (const uid of uids) {
    const entry = entryByUid(scope.store, scope.view.mailboxId, uid);
    if (entry) ids.push(entry.messageId);
  }
  return ids;
}

/** The octets of the messages `uids` of the selected mailbox. */
function sizeOf(scope: MessageScope, uids: readonly number[]): number {
  const wanted = new Set(uids);
  let bytes = 0;
  for (const [from, to] of ranges([...wanted].sort((a, b) => a - b), FETCH_BATCH)) {
    const rows = fetchRows(scope.store, scope.view.mailboxId, from, to, {
      meta: false,
      body: false,
    });
    for (const row of rows) if (wanted.has(row.uid)) bytes += row.size;
  }
  return bytes;
}

/**
 * COPY, MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8; COPYUID of RFC
 * 4315). COPY over the user's quota gets NO [OVERQUOTA] (RFC 9208 §4.3) and
 * copies nothing; MOVE within the account leaves the usage as it is.
 */
export async function copyCommand(scope: MessageScope, cmd: CommandOf<"COPY">): Promise<Reply> {
  const byUid = cmd.name === "UID COPY" || cmd.name === "UID MOVE";
  const move = cmd.name === "MOVE" || cmd.name === "UID MOVE";
  const view = scope.view;
  if (move && view.readOnly) return no("Mailbox is read-only", "READ-ONLY");
  const uids = resolve(scope, cmd.set, byUid);
  if (!Array.isArray(uids)) return uids;
  const store = scope.store;
  const target = findFolder(store, scope.userId, cmd.mailbox);
  if (!target) return no(`No such mailbox: ${cmd.mailbox}`, "TRYCREATE");
  if (!move) {
    const refusal = overQuotaRefusal(scope, uids.length, () => sizeOf(scope, uids), "Copying");
    if (refusal) return refusal;
  }
  // Into Junk teaches spam, out of it ham (the junk filter learns from the user).
  const source = listFolders(store, scope.userId).find((f) => f.id === view.mailboxId);
  const lesson = source && lessonOfMove(source, target);
  const messageIds = lesson ? messageIdsOf(scope, uids) : [];
  const pairs = (move ? moveEntries : copyEntries)(store, view.mailboxId, uids, target.id);
  const verb = `${byUid ? "UID " : ""}${move ? "MOVE" : "COPY"}`;
  if (pairs.length === 0) return ok(`${verb} completed`);
  if (lesson) train(store, scope.userId, messageIds, lesson, scope.hostname);
  scope.changes.notify(target.id);
  const { uidvalidity } = folderStatus(store, target.id);
  const code = `COPYUID ${uidvalidity} ${compactSet(pairs.map((p) => p.from))} ${
    compactSet(pairs.map((p) => p.to))
  }`;
  if (!move) return ok(`${verb} completed`, code);
  // RFC 6851 §4.3: COPYUID comes untagged before the expunges.
  scope.changes.notify(view.mailboxId);
  await scope.untagged(`OK [${code}] Moved`);
  await reportUpdates(scope, true);
  return ok(`${verb} completed`);
}

/**
 * EXPUNGE (RFC 9051 §6.4.3) and UID EXPUNGE (RFC 4315 §2.1): removes the
 * \Deleted messages (of the set, for UID EXPUNGE) and reports them at once.
 */
export async function expungeCommand(
  scope: MessageScope,
  cmd: CommandOf<"EXPUNGE" | "UID EXPUNGE">,
): Promise<Reply> {
  const set = cmd.name === "UID EXPUNGE" ? cmd.set : undefined;
  const view = scope.view;
  if (view.readOnly) return no("Mailbox is read-only", "READ-ONLY");
  let uids: number[] | undefined;
  if (set) {
    const resolved = resolve(scope, set, true);
    if (!Array.isArray(resolved)) return resolved;
    uids = resolved;
  }
  const removed = expungeEntries(scope.store, view.mailboxId, uids, { deletedOnly: true });
  if (removed.length > 0) scope.changes.notify(view.mailboxId);
  await reportUpdates(scope, true);
  return ok(`${set ? "UID EXPUNGE" : "EXPUNGE"} completed`);
}

/** RFC 7162 §3.2.5.1: what changed since the client's modseq: VANISHED (EARLIER) and FETCHes. */
export async function qresyncReport(
  scope: MessageScope,
  modseq: bigint,
  known?: SequenceSet,
): Promise<void> {
  const store = scope.store;
  const view = scope.view;
  const since = Number(modseq);
  const resolved = known ? view.resolve(known, true) : undefined;
  const knownUids = Array.isArray(resolved) ? new Set(resolved) : undefined;
  const lastKnown = Array.isArray(resolved) ? resolved.at(-1) ?? 0 : 0;
  const gone = expungedSince(store, view.mailboxId, since)
    .filter((u) => !known || MailboxView.uidSetIncludes(known, u));
  if (gone.length > 0) await scope.untagged(`VANISHED (EARLIER) ${compactSet(gone)}`);
  for (const row of entriesChangedSince(store, view.mailboxId, since)) {
    if (knownUids && !knownUids.has(row.uid) && row.uid < lastKnown) continue;
    const seq = view.seqOf(row.uid);
    if (seq === 0) continue; // arrived after the view was made: the next sync tells of it
    await scope.untagged(
      `${seq} FETCH (UID ${row.uid} FLAGS ${
        flagList(flagNames(row.flags, row.keywords))
      } MODSEQ (${row.modseq}))`,
    );
  }
}

/**
 * APPEND (RFC 9051 §6.3.12) through the commit queue, answered with APPENDUID
 * (RFC 4315); over the user's quota, NO [OVERQUOTA] (RFC 9208 §4.3). Needs no
 * selected mailbox.
 */
export async function appendCommand(
  scope: MailboxScope,
  cmd: CommandOf<"APPEND">,
  options: { commits: CommitQueue; maxMessageSize: number },
): Promise<Reply> {
  const { args } = cmd;
  const folder = findFolder(scope.store, scope.userId, args.mailbox);
  if (!folder) return no(`No such mailbox: ${args.mailbox}`, "TRYCREATE");
  if (args.message.length > options.maxMessageSize) {
    return no("Message too large", "TOOBIG");
  }
  // RFC 9208 §4.3: checked before storing, with the message's own size.
  const refusal = overQuotaRefusal(scope, 1, () => args.message.length, "This message");
  if (refusal) return refusal;
  const { flags, keywords } = parseFlags(args.flags);
  const result = await options.commits.deliver({
    body: args.message,
    mailboxes: [{ userId: scope.userId, mailbox: folder.name }],
    internalDate: args.date,
    flags,
    keywords,
  });
  scope.changes.notify(folder.id);
  const entry = result.entries[0];
  const { uidvalidity } = folderStatus(scope.store, folder.id);
  return ok("APPEND completed", `APPENDUID ${uidvalidity} ${entry.uid}`);
}

/** Consecutive runs of sorted uids, at most `size` uids each, as [from, to] ranges. */
function ranges(uids: readonly number[], size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < uids.length; i += size) {
    const chunk = uids.slice(i, i + size);
    out.push([chunk[0], chunk[chunk.length - 1]]);
  }
  return out;
}
