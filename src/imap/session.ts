/**
 * One IMAP session (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1) on one connection.
 *
 * Invariants:
 * - The state is data ({@link State}); {@link COMMANDS} says in which states a
 *   command is allowed, and the loop checks it before any handler runs.
 * - Credentials are accepted only over TLS or from a loopback address
 *   (LOGINDISABLED otherwise, RFC 9051 §6.2.3).
 * - A message number stays valid until its EXPUNGE (or VANISHED) was sent;
 *   expunges are held back during FETCH, STORE and SEARCH (RFC 9051 §7.5.1)
 *   and reported after any other command, or at once during IDLE.
 * - Every change this session makes is announced to the other sessions of
 *   the mailbox through {@link MailboxChanges}.
 */
import type { AuthenticatedUser, Authenticator } from "../auth/authenticator.ts";
import { isCancel, parsePlainResponse, SaslError } from "../auth/sasl.ts";
import type { Config } from "../config.ts";
import { log } from "../log.ts";
import {
  type Connection,
  ConnectionClosed,
  ConnectionShutdown,
  ConnectionTimeout,
} from "../net/connection.ts";
import { isLoopback } from "../net/limits.ts";
import type { TlsIdentity } from "../net/tls.ts";
import type { MailboxChanges } from "../store/changes.ts";
import type { CommitQueue } from "../store/commit_queue.ts";
import type { Store } from "../store/db.ts";
import { StoreError } from "../store/db.ts";
import {
  claimRecent,
  copyEntries,
  expungeEntries,
  fetchRows,
  flagNames,
  keywordsInUse,
  moveEntries,
  parseFlags,
  saveMessageMeta,
  storeFlags,
} from "../store/entries.ts";
import {
  createFolder,
  deleteFolder,
  ensureStandardFolders,
  findFolder,
  folderStatus,
  listFolders as storeFolders,
  renameFolder,
  SEPARATOR,
  setSubscribed,
} from "../store/folders.ts";
import { VERSION } from "../version.ts";
import type {
  Command,
  FetchArgs,
  SearchArgs,
  SelectArgs,
  SequenceSet,
  StoreArgs,
} from "./command.ts";
import { ImapParseError } from "./command.ts";
import {
  fetchResponse,
  metaOf,
  needsBody,
  needsMeta,
  setsSeen,
  UnknownTransferEncoding,
} from "./fetch.ts";
import { astring, compactSet, flagList, imapString } from "./format.ts";
import { listFolders } from "./list.ts";
import { MailboxView } from "./mailbox_view.ts";
import { encodeMutf7 } from "./mutf7.ts";
import { parseCommand } from "./parse.ts";
import { readCommand } from "./reader.ts";
import { matches, needsBody as searchNeedsBody, setKeys } from "./search.ts";
import { FLAG_SEEN, INBOX } from "../store/mailboxes.ts";
import { messageBody } from "../store/entries.ts";

/** RFC 9051 §3: the states of a connection. */
export type State = "not-authenticated" | "authenticated" | "selected" | "logout";

/** What the IMAP sessions of a server share. */
export interface ImapContext {
  config: Config;
  store: Store;
  tls?: TlsIdentity;
  authenticator: Authenticator;
  commits: CommitQueue;
  changes: MailboxChanges;
  /** Open IMAP sessions per user id, for the per-user cap. */
  sessionsPerUser: Map<number, number>;
}

/** A tagged reply: status, optional response code, text. */
interface Reply {
  status: "OK" | "NO" | "BAD";
  code?: string;
  text: string;
  close?: boolean;
  /** The handler wrote the tagged reply itself (STARTTLS answers before the handshake). */
  written?: boolean;
}

/** A reply already written. */
const WRITTEN: Reply = { status: "OK", text: "", written: true };

type Handler = (s: ImapSession, cmd: Command) => Reply | Promise<Reply>;

/** The command variant whose name (a union in some variants) includes `N`. */
type CommandOf<N extends Command["name"]> = Command extends infer C
  ? C extends { name: infer K } ? N extends K ? C : never : never
  : never;

/** Command lines longer than this get BAD (RFC 7162 §4 asks for 8192 at least). */
const MAX_LINE = 64 * 1024;
/** BAD replies after which the session ends. */
const MAX_ERRORS = 30;
/** During IDLE the mailbox is also looked at this often (changes made by other processes). */
const IDLE_POLL_MS = 10_000;
/** FETCH reads this many messages per query. */
const FETCH_BATCH = 200;

const ALL_STATES: readonly State[] = ["not-authenticated", "authenticated", "selected"];
const AUTHED: readonly State[] = ["authenticated", "selected"];
const SELECTED: readonly State[] = ["selected"];
const HTTP_VERBS = new Set(["GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "DELETE"]);

const ok = (text: string, code?: string): Reply => ({ status: "OK", text, code });
const no = (text: string, code?: string): Reply => ({ status: "NO", text, code });
const bad = (text: string, code?: string): Reply => ({ status: "BAD", text, code });

const logger = log("imap");

/** Which states allow which command; filled in by the session class. */
let COMMANDS: Record<string, { states: readonly State[]; handler: Handler }>;

/** One IMAP session. Create one per connection and `run()` it. */
export class ImapSession {
  readonly #conn: Connection;
  readonly #ctx: ImapContext;
  #state: State = "not-authenticated";
  #user: AuthenticatedUser | undefined;
  #view: MailboxView | undefined;
  #rev2 = false;
  #condstore = false;
  #qresync = false;
  #saved: number[] = [];
  #errors = 0;
  #countedUser: number | undefined;

  constructor(conn: Connection, ctx: ImapContext) {
    this.#conn = conn;
    this.#ctx = ctx;
  }

  /** Runs the session until LOGOUT, a timeout, shutdown or the peer closing. */
  async run(): Promise<void> {
    const conn = this.#conn;
    logger.info("{id} connect from {remote}:{port}{tls}", {
      id: conn.id,
      remote: conn.remoteAddress,
      port: conn.remotePort,
      tls: conn.tls ? ` (${conn.tls.protocol})` : "",
    });
    let why = "client closed";
    try {
      await this.#untagged(`OK [CAPABILITY ${this.#capabilities()}] Postino IMAP ready`);
      why = await this.#loop();
    } catch (err) {
      if (err instanceof ConnectionTimeout) {
        why = "timeout";
        await this.#untagged("BYE Autologout; idle for too long");
      } else if (err instanceof ConnectionClosed) {
        why = "client closed";
      } else {
        why = `error: ${(err as Error)?.message ?? err}`;
        logger.error("{id} session failed: {error}", {
          id: conn.id,
          error: (err as Error)?.stack ?? String(err),
        });
        await this.#untagged("BYE Internal error");
      }
    } finally {
      if (this.#countedUser !== undefined) {
        const n = (this.#ctx.sessionsPerUser.get(this.#countedUser) ?? 1) - 1;
        if (n > 0) this.#ctx.sessionsPerUser.set(this.#countedUser, n);
        else this.#ctx.sessionsPerUser.delete(this.#countedUser);
      }
      await conn.close().catch(() => {});
      logger.info("{id} disconnect from {remote} ({why}{user})", {
        id: conn.id,
        remote: conn.remoteAddress,
        why,
        user: this.#user ? `; ${this.#user.address}` : "",
      });
    }
  }

  async #loop(): Promise<string> {
    const conn = this.#conn;
    for (;;) {
      conn.idleTimeoutMs = this.#ctx.config.timeouts.imapIdle;
      let raw;
      try {
        raw = await readCommand(conn, {
          maxLine: MAX_LINE,
          maxLiteral: this.#ctx.config.maxMessageSize,
          literalPlus: true,
          onContinuation: () => this.#write("+ Ready for literal data\r\n"),
        });
      } catch (err) {
        if (err instanceof ConnectionShutdown) {
          await this.#untagged("BYE Server shutting down");
          return "shutdown";
        }
        throw err;
      }
      if (raw === null) return "client closed";
      let reply: Reply;
      let tag = "*";
      let name = "";
      if ("parts" in raw) {
        let cmd: Command | undefined;
        try {
          cmd = parseCommand(raw, { utf8: this.#rev2 });
        } catch (err) {
          if (!(err instanceof ImapParseError)) throw err;
          tag = err.tag ?? "*";
          const first = typeof raw.parts[0] === "string" ? raw.parts[0] : "";
          if (this.#state === "not-authenticated" && HTTP_VERBS.has(first.split(" ")[0])) {
            return "HTTP request"; // cross-protocol request: hang up, say nothing
          }
          reply = bad(err.message);
        }
        if (cmd) {
          tag = cmd.tag;
          name = cmd.name;
          reply = await this.#dispatch(cmd);
        }
      } else if ("tooLong" in raw) {
        tag = raw.tag ?? "*";
        reply = bad("Line too long");
      } else if ("literalTooLarge" in raw) {
        tag = raw.tag ?? "*";
        reply = no(`Literal of ${raw.size} octets is too large`, "TOOBIG");
      } else {
        tag = raw.tag ?? "*";
        reply = bad("Non-synchronising literal not allowed");
      }
      if (reply!.status === "BAD") this.#errors++;
      // After the command, what changed meanwhile (RFC 9051 §7.5.1 holds expunges back for these).
      if (this.#view && reply!.status !== "BAD") {
        await this.#report(!["FETCH", "STORE", "SEARCH"].includes(name));
      }
      if (!reply!.written) await this.#tagged(tag, reply!);
      if (reply!.close) return reply!.written ? "TLS handshake failed" : "logout";
      if (this.#errors >= MAX_ERRORS) {
        await this.#untagged("BYE Too many errors");
        return "too many errors";
      }
    }
  }

  async #dispatch(cmd: Command): Promise<Reply> {
    const command = Object.hasOwn(COMMANDS, cmd.name) ? COMMANDS[cmd.name] : undefined;
    if (!command) return bad(`Unknown command ${cmd.name}`);
    if (!command.states.includes(this.#state)) {
      return bad(
        this.#state === "not-authenticated"
          ? `${cmd.name} needs authentication first`
          : this.#state === "authenticated"
          ? `${cmd.name} needs a selected mailbox`
          : `${cmd.name} is not allowed now`,
      );
    }
    try {
      return await command.handler(this, cmd);
    } catch (err) {
      if (err instanceof StoreError) return no(err.message);
      throw err;
    }
  }

  // --- Output ------------------------------------------------------------------

  #write(data: string | Uint8Array): Promise<void> {
    return this.#conn.write(data);
  }

  #untagged(text: string): Promise<void> {
    return this.#write(`* ${text}\r\n`);
  }

  #tagged(tag: string, r: Reply): Promise<void> {
    return this.#write(`${tag} ${r.status}${r.code ? ` [${r.code}]` : ""} ${r.text}\r\n`);
  }

  /** A mailbox name as this client wants it: UTF-8 (IMAP4rev2) or modified UTF-7. */
  #name(name: string): string {
    return astring(this.#rev2 ? name : encodeMutf7(name));
  }

  #capabilities(): string {
    const caps = [
      "IMAP4rev2",
      "IMAP4rev1",
      "LITERAL+",
      "ENABLE",
      "ID",
      "IDLE",
      "NAMESPACE",
      "SASL-IR",
    ];
    if (this.#state === "not-authenticated") {
      if (this.#ctx.tls && !this.#conn.tls) caps.push("STARTTLS");
      if (this.#credentialsAllowed) caps.push("AUTH=PLAIN");
      else caps.push("LOGINDISABLED");
    } else {
      caps.push(
        "MOVE",
        "BINARY",
        "UIDPLUS",
        "SPECIAL-USE",
        "UNSELECT",
        "CHILDREN",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "ESEARCH",
        "SEARCHRES",
        "STATUS=SIZE",
        `APPENDLIMIT=${this.#ctx.config.maxMessageSize}`,
        "CONDSTORE",
        "QRESYNC",
      );
    }
    return caps.join(" ");
  }

  get #credentialsAllowed(): boolean {
    return this.#conn.tls !== undefined || isLoopback(this.#conn.remoteAddress);
  }

  // --- Any state -------------------------------------------------------------------

  async #capability(): Promise<Reply> {
    await this.#untagged(`CAPABILITY ${this.#capabilities()}`);
    return ok("CAPABILITY completed");
  }

  #noop(): Reply {
    return ok("NOOP completed");
  }

  async #logout(): Promise<Reply> {
    await this.#untagged("BYE Logging out");
    this.#state = "logout";
    return { ...ok("LOGOUT completed"), close: true };
  }

  async #id(cmd: CommandOf<"ID">): Promise<Reply> {
    if (cmd.params) {
      logger.debug("{id} client ID {params}", {
        id: this.#conn.id,
        params: cmd.params.map(([k, v]) => `${k}=${v}`).join(" "),
      });
    }
    await this.#untagged(`ID ("name" "Postino" "version" ${imapString(VERSION)})`);
    return ok("ID completed");
  }

  // --- Not authenticated -----------------------------------------------------------

  /** STARTTLS (RFC 9051 §6.2.1): the tagged OK, then the handshake; pipelined input is discarded. */
  async #startTls(tag: string): Promise<Reply> {
    if (this.#conn.tls) return bad("TLS is already active");
    if (!this.#ctx.tls) return no("STARTTLS not available");
    await this.#tagged(tag, ok("Begin TLS negotiation now"));
    try {
      const discarded = await this.#conn.startTls(this.#ctx.tls.context);
      if (discarded > 0) {
        logger.warn("{id} discarded {bytes} bytes pipelined after STARTTLS", {
          id: this.#conn.id,
          bytes: discarded,
        });
      }
    } catch (err) {
      logger.info("{id} TLS handshake failed: {error}", {
        id: this.#conn.id,
        error: (err as Error)?.message ?? String(err),
      });
      return { ...WRITTEN, close: true };
    }
    return WRITTEN;
  }

  async #login(user: string, password: string): Promise<Reply> {
    if (!this.#credentialsAllowed) return no("Use STARTTLS first", "PRIVACYREQUIRED");
    const found = await this.#ctx.authenticator.login({
      username: user,
      password,
      remoteAddress: this.#conn.remoteAddress,
      protocol: "imap",
      connectionId: this.#conn.id,
    });
    if (!found) return no("Invalid user name or password", "AUTHENTICATIONFAILED");
    const open = this.#ctx.sessionsPerUser.get(found.id) ?? 0;
    if (open >= this.#ctx.config.limits.imapSessionsPerUser) {
      return no("Too many sessions for this user", "LIMIT");
    }
    this.#ctx.sessionsPerUser.set(found.id, open + 1);
    this.#countedUser = found.id;
    this.#user = found;
    this.#state = "authenticated";
    ensureStandardFolders(this.#ctx.store, found.id);
    return ok("Logged in", `CAPABILITY ${this.#capabilities()}`);
  }

  async #authenticate(cmd: CommandOf<"AUTHENTICATE">): Promise<Reply> {
    if (cmd.mechanism.toUpperCase() !== "PLAIN") return no("Unsupported mechanism", "CANNOT");
    if (!this.#credentialsAllowed) return no("Use STARTTLS first", "PRIVACYREQUIRED");
    let response = cmd.initialResponse;
    if (response === undefined) {
      await this.#write("+ \r\n");
      const line = await this.#conn.readLine(MAX_LINE);
      if (line === null) throw new ConnectionClosed();
      response = new TextDecoder().decode(line.bytes).trim();
      if (isCancel(response)) return bad("Authentication cancelled");
    }
    try {
      const plain = parsePlainResponse(response === "=" ? "" : response);
      if (plain.authzid !== "" && plain.authzid !== plain.authcid) {
        return no("Authorization identity not allowed", "AUTHORIZATIONFAILED");
      }
      return await this.#login(plain.authcid, plain.password);
    } catch (err) {
      if (err instanceof SaslError) return bad(`Cannot decode response: ${err.reason}`);
      throw err;
    }
  }

  // --- Authenticated -----------------------------------------------------------------

  async #enable(cmd: CommandOf<"ENABLE">): Promise<Reply> {
    const enabled: string[] = [];
    for (const cap of cmd.capabilities.map((c) => c.toUpperCase())) {
      if (cap === "IMAP4REV2" && !this.#rev2) {
        this.#rev2 = true;
        enabled.push("IMAP4rev2");
      } else if (cap === "CONDSTORE" && !this.#condstore) {
        this.#condstore = true;
        enabled.push("CONDSTORE");
      } else if (cap === "QRESYNC" && !this.#qresync) {
        this.#qresync = this.#condstore = true; // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE
        enabled.push("QRESYNC");
      }
    }
    await this.#untagged(`ENABLED${enabled.map((e) => ` ${e}`).join("")}`);
    return ok("ENABLE completed");
  }

  async #namespace(): Promise<Reply> {
    await this.#untagged(`NAMESPACE (("" "${SEPARATOR}")) NIL NIL`);
    return ok("NAMESPACE completed");
  }

  async #select(args: SelectArgs, readOnly: boolean): Promise<Reply> {
    this.#view = undefined;
    this.#state = "authenticated";
    const store = this.#ctx.store;
    const folder = findFolder(store, this.#user!.id, args.mailbox);
    if (!folder) return no(`No such mailbox: ${args.mailbox}`, "NONEXISTENT");
    if (args.condstore) this.#condstore = true;
    if (args.qresync && !this.#qresync) return bad("QRESYNC must be enabled first");
    // IMAP4rev1 \Recent: the first session to select (read-write) claims the new messages.
    const recentFrom = this.#rev2
      ? Number.MAX_SAFE_INTEGER
      : readOnly
      ? Number.MAX_SAFE_INTEGER
      : claimRecent(store, folder.id);
    const view = new MailboxView(store, folder.id, { readOnly, recentFrom });
    const status = folderStatus(store, folder.id);
    const flags = [
      "\\Answered",
      "\\Flagged",
      "\\Deleted",
      "\\Seen",
      "\\Draft",
      ...keywordsInUse(store, folder.id),
    ];
    await this.#untagged(`${view.exists} EXISTS`);
    if (!this.#rev2) await this.#untagged(`${view.recent} RECENT`);
    await this.#untagged(`FLAGS ${flagList(flags)}`);
    await this.#untagged(
      `OK [PERMANENTFLAGS ${readOnly ? "()" : flagList([...flags, "\\*"])}] Flags`,
    );
    await this.#untagged(`OK [UIDVALIDITY ${status.uidvalidity}] UIDs valid`);
    await this.#untagged(`OK [UIDNEXT ${status.uidnext}] Predicted next UID`);
    if (this.#condstore) await this.#untagged(`OK [HIGHESTMODSEQ ${status.highestModseq}] Highest`);
    if (this.#rev2) {
      await this.#untagged(`LIST () "${SEPARATOR}" ${this.#name(folder.name)}`);
    }
    this.#view = view;
    this.#state = "selected";
    if (args.qresync && args.qresync.uidvalidity === status.uidvalidity) {
      await this.#qresyncReport(args.qresync.modseq, args.qresync.knownUids);
    }
    return ok(
      `${readOnly ? "EXAMINE" : "SELECT"} completed`,
      readOnly ? "READ-ONLY" : "READ-WRITE",
    );
  }

  /** RFC 7162 §3.2.5.1: what changed since the client's modseq: VANISHED (EARLIER) and FETCHes. */
  async #qresyncReport(modseq: bigint, known?: SequenceSet): Promise<void> {
    const store = this.#ctx.store;
    const view = this.#view!;
    const since = Number(modseq);
    const resolved = known ? view.resolve(known, true) : undefined;
    const knownUids = Array.isArray(resolved) ? resolved : undefined;
    const gone = store.all<{ uid: number }>(
      "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
      view.mailboxId,
      since,
    ).map((r) => r.uid).filter((u) => !known || MailboxView.uidSetIncludes(known, u));
    if (gone.length > 0) await this.#untagged(`VANISHED (EARLIER) ${compactSet(gone)}`);
    for (
      const row of fetchRows(store, view.mailboxId, 1, Number.MAX_SAFE_INTEGER, {
        meta: false,
        body: false,
      })
    ) {
      if (row.modseq <= since) continue;
      if (knownUids && !knownUids.includes(row.uid) && row.uid < (knownUids.at(-1) ?? 0)) continue;
      await this.#untagged(
        `${view.seqOf(row.uid)} FETCH (UID ${row.uid} FLAGS ${
          flagList(flagNames(row.flags, row.keywords))
        } MODSEQ (${row.modseq}))`,
      );
    }
  }

  #create(mailbox: string): Reply {
    createFolder(this.#ctx.store, this.#user!.id, mailbox);
    return ok("CREATE completed");
  }

  #delete(mailbox: string): Reply {
    const folder = findFolder(this.#ctx.store, this.#user!.id, mailbox);
    if (folder && this.#view?.mailboxId === folder.id) {
      this.#view = undefined;
      this.#state = "authenticated";
    }
    deleteFolder(this.#ctx.store, this.#user!.id, mailbox);
    if (folder) this.#ctx.changes.notify(folder.id);
    return ok("DELETE completed");
  }

  #rename(from: string, to: string): Reply {
    const folder = findFolder(this.#ctx.store, this.#user!.id, from);
    renameFolder(this.#ctx.store, this.#user!.id, from, to);
    // Renaming INBOX moves its messages out: sessions on INBOX hear of the expunges now.
    if (folder?.name === INBOX) this.#ctx.changes.notify(folder.id);
    return ok("RENAME completed");
  }

  #subscribe(mailbox: string, on: boolean): Reply {
    setSubscribed(this.#ctx.store, this.#user!.id, mailbox, on);
    return ok(`${on ? "SUBSCRIBE" : "UNSUBSCRIBE"} completed`);
  }

  async #list(cmd: CommandOf<"LIST">): Promise<Reply> {
    const args = cmd.args;
    if (args.patterns.length === 1 && args.patterns[0] === "") {
      // RFC 9051 §6.3.9: an empty pattern asks for the separator and the root.
      await this.#untagged(`LIST (\\Noselect) "${SEPARATOR}" ""`);
      return ok("LIST completed");
    }
    const store = this.#ctx.store;
    for (const { folder, attributes } of listFolders(storeFolders(store, this.#user!.id), args)) {
      await this.#untagged(
        `LIST (${attributes.join(" ")}) "${SEPARATOR}" ${this.#name(folder.name)}`,
      );
      if (args.status) await this.#statusLine(folder.id, folder.name, args.status);
    }
    return ok("LIST completed");
  }

  async #lsub(cmd: CommandOf<"LSUB">): Promise<Reply> {
    const store = this.#ctx.store;
    const listed = listFolders(storeFolders(store, this.#user!.id), {
      reference: cmd.reference,
      patterns: [cmd.pattern],
      select: ["SUBSCRIBED"],
      returns: [],
    });
    for (const { folder } of listed) {
      await this.#untagged(`LSUB () "${SEPARATOR}" ${this.#name(folder.name)}`);
    }
    return ok("LSUB completed");
  }

  async #statusLine(mailboxId: number, name: string, items: string[]): Promise<void> {
    const s = folderStatus(this.#ctx.store, mailboxId);
    const values: Record<string, number> = {
      MESSAGES: s.messages,
      UIDNEXT: s.uidnext,
      UIDVALIDITY: s.uidvalidity,
      UNSEEN: s.unseen,
      DELETED: s.deleted,
      SIZE: s.size,
      RECENT: s.recent,
      HIGHESTMODSEQ: s.highestModseq,
    };
    const parts = items.map((i) => i.toUpperCase()).filter((i) => i in values)
      .filter((i) => !(i === "RECENT" && this.#rev2))
      .map((i) => `${i} ${values[i]}`);
    await this.#untagged(`STATUS ${this.#name(name)} (${parts.join(" ")})`);
  }

  async #status(cmd: CommandOf<"STATUS">): Promise<Reply> {
    const folder = findFolder(this.#ctx.store, this.#user!.id, cmd.mailbox);
    if (!folder) return no(`No such mailbox: ${cmd.mailbox}`, "NONEXISTENT");
    if (cmd.items.some((i) => i.toUpperCase() === "HIGHESTMODSEQ")) this.#condstore = true;
    await this.#statusLine(folder.id, folder.name, cmd.items);
    return ok("STATUS completed");
  }

  async #append(cmd: CommandOf<"APPEND">): Promise<Reply> {
    const { args } = cmd;
    const folder = findFolder(this.#ctx.store, this.#user!.id, args.mailbox);
    if (!folder) return no(`No such mailbox: ${args.mailbox}`, "TRYCREATE");
    if (args.message.length > this.#ctx.config.maxMessageSize) {
      return no("Message too large", "TOOBIG");
    }
    const { flags, keywords } = parseFlags(args.flags);
    const result = await this.#ctx.commits.deliver({
      body: args.message,
      mailboxes: [{ userId: this.#user!.id, mailbox: folder.name }],
      internalDate: args.date,
      flags,
      keywords,
    });
    this.#ctx.changes.notify(folder.id);
    const entry = result.entries[0];
    const { uidvalidity } = folderStatus(this.#ctx.store, folder.id);
    return ok("APPEND completed", `APPENDUID ${uidvalidity} ${entry.uid}`);
  }

  // --- Selected ----------------------------------------------------------------

  /** Sends what changed in the selected mailbox since the session last looked. */
  async #report(allowExpunge: boolean): Promise<void> {
    const view = this.#view;
    if (!view) return;
    const updates = view.sync(this.#ctx.store, allowExpunge);
    if (updates.expunged.length > 0) {
      if (this.#qresync) {
        await this.#untagged(
          `VANISHED ${compactSet(updates.expunged.map((e) => e.uid).sort((a, b) => a - b))}`,
        );
      } else {
        for (const e of updates.expunged) await this.#untagged(`${e.seq} EXPUNGE`);
      }
    }
    if (updates.exists !== undefined) {
      await this.#untagged(`${updates.exists} EXISTS`);
      if (!this.#rev2) await this.#untagged(`${view.recent} RECENT`);
    }
    for (const e of updates.changed) {
      const modseq = this.#condstore ? ` MODSEQ (${e.modseq})` : "";
      await this.#untagged(
        `${e.seq} FETCH (UID ${e.uid} FLAGS ${flagList(flagNames(e.flags, e.keywords))}${modseq})`,
      );
    }
  }

  #resolve(set: SequenceSet, byUid: boolean): number[] | Reply {
    const uids = this.#view!.resolve(set, byUid, this.#saved);
    return uids === "invalid" ? bad("Invalid message number") : uids;
  }

  async #fetch(args: FetchArgs, byUid: boolean): Promise<Reply> {
    const view = this.#view!;
    const uids = this.#resolve(args.set, byUid);
    if (!Array.isArray(uids)) return uids;
    const store = this.#ctx.store;
    const wantBody = args.items.some(needsBody);
    const wantMeta = args.items.some(needsMeta);
    const markSeen = !view.readOnly && args.items.some(setsSeen);
    const changedSince = args.changedSince === undefined ? undefined : Number(args.changedSince);
    if (args.changedSince !== undefined) this.#condstore = true;
    if (args.vanished && changedSince !== undefined && this.#qresync) {
      const gone = store.all<{ uid: number }>(
        "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ? ORDER BY uid",
        view.mailboxId,
        changedSince,
      ).map((r) => r.uid).filter((u) =>
        args.set.saved ? this.#saved?.includes(u) : MailboxView.uidSetIncludes(args.set, u)
      );
      if (gone.length > 0) await this.#untagged(`VANISHED (EARLIER) ${compactSet(gone)}`);
    }
    if (markSeen) {
      const { changed } = storeFlags(store, view.mailboxId, uids, {
        mode: "add",
        flags: FLAG_SEEN,
        keywords: [],
      });
      if (changed.length > 0) this.#ctx.changes.notify(view.mailboxId);
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
            recent: !this.#rev2 && row.uid >= view.recentFrom,
            uid: byUid,
            modseq: this.#condstore,
            meta: () => {
              if (!row.meta && !row.body) row.body = messageBody(store, row.messageId);
              return metaOf(row, (json) => saveMessageMeta(store, row.messageId, json));
            },
          });
        } catch (err) {
          if (!(err instanceof UnknownTransferEncoding)) throw err;
          return no(err.message, "UNKNOWN-CTE");
        }
        for (const p of parts) await this.#write(p);
      }
    }
    return ok(`${byUid ? "UID FETCH" : "FETCH"} completed`);
  }

  async #store(args: StoreArgs, byUid: boolean): Promise<Reply> {
    const view = this.#view!;
    if (view.readOnly) return no("Mailbox is read-only", "READ-ONLY");
    const uids = this.#resolve(args.set, byUid);
    if (!Array.isArray(uids)) return uids;
    const { flags, keywords } = parseFlags(args.flags);
    if (args.unchangedSince !== undefined) this.#condstore = true;
    const { changed, failed } = storeFlags(this.#ctx.store, view.mailboxId, uids, {
      mode: args.mode,
      flags,
      keywords,
      unchangedSince: args.unchangedSince === undefined ? undefined : Number(args.unchangedSince),
    });
    if (changed.length > 0) this.#ctx.changes.notify(view.mailboxId);
    view.absorb(changed); // told below; not again at the next sync
    if (!args.silent || this.#condstore) {
      for (const e of changed) {
        const seq = view.seqOf(e.uid);
        if (seq === 0) continue;
        const fields = [
          ...(byUid ? [`UID ${e.uid}`] : []),
          ...(args.silent ? [] : [`FLAGS ${flagList(flagNames(e.flags, e.keywords))}`]),
          ...(this.#condstore ? [`MODSEQ (${e.modseq})`] : []),
        ];
        await this.#untagged(`${seq} FETCH (${fields.join(" ")})`);
      }
    }
    if (failed.length > 0) {
      const names = byUid ? failed : failed.map((u) => view.seqOf(u));
      return ok("Conditional STORE failed for some messages", `MODIFIED ${compactSet(names)}`);
    }
    return ok(`${byUid ? "UID STORE" : "STORE"} completed`);
  }

  async #search(args: SearchArgs, byUid: boolean, tag: string): Promise<Reply> {
    const view = this.#view!;
    const store = this.#ctx.store;
    if (args.charset && !/^(us-ascii|utf-8)$/i.test(args.charset)) {
      return no(`Charset ${args.charset} is not supported`, "BADCHARSET (US-ASCII UTF-8)");
    }
    const sets = new Map();
    for (const key of setKeys(args.key)) {
      const uids = view.resolve(key.set, key.op === "uid", this.#saved);
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
          recent: !this.#rev2 && row.uid >= view.recentFrom,
          body: () => row.body ?? (row.body = messageBody(store, row.messageId)),
        };
        if (matches(args.key, candidate, { sets })) {
          found.push(byUid ? row.uid : seq);
          maxModseq = Math.max(maxModseq, row.modseq);
        }
      }
    }
    const usesModseq = JSON.stringify(args.key, (_k, v) => typeof v === "bigint" ? v.toString() : v)
      .includes('"modseq"');
    if (args.returns?.includes("SAVE")) {
      this.#saved = byUid ? found : found.map((s) => view.uids[s - 1]);
    }
    const esearch = args.returns !== undefined || this.#rev2;
    if (!esearch) {
      const modseq = usesModseq && found.length > 0 ? ` (MODSEQ ${maxModseq})` : "";
      await this.#untagged(`SEARCH${found.map((n) => ` ${n}`).join("")}${modseq}`);
    } else {
      const returns = args.returns && args.returns.length > 0 ? args.returns : ["ALL"];
      const parts = [`(TAG ${imapString(tag)})`, ...(byUid ? ["UID"] : [])];
      if (found.length > 0) {
        if (returns.includes("MIN")) parts.push(`MIN ${found[0]}`);
        if (returns.includes("MAX")) parts.push(`MAX ${found[found.length - 1]}`);
        if (returns.includes("ALL")) parts.push(`ALL ${compactSet(found)}`);
      }
      if (returns.includes("COUNT")) parts.push(`COUNT ${found.length}`);
      if (usesModseq && found.length > 0) parts.push(`MODSEQ ${maxModseq}`);
      if (!(returns.length === 1 && returns[0] === "SAVE")) {
        await this.#untagged(`ESEARCH ${parts.join(" ")}`);
      }
    }
    return ok(`${byUid ? "UID SEARCH" : "SEARCH"} completed`);
  }

  async #copy(set: SequenceSet, mailbox: string, byUid: boolean, move: boolean): Promise<Reply> {
    const view = this.#view!;
    if (move && view.readOnly) return no("Mailbox is read-only", "READ-ONLY");
    const uids = this.#resolve(set, byUid);
    if (!Array.isArray(uids)) return uids;
    const store = this.#ctx.store;
    const target = findFolder(store, this.#user!.id, mailbox);
    if (!target) return no(`No such mailbox: ${mailbox}`, "TRYCREATE");
    const pairs = (move ? moveEntries : copyEntries)(store, view.mailboxId, uids, target.id);
    this.#ctx.changes.notify(target.id);
    const verb = `${byUid ? "UID " : ""}${move ? "MOVE" : "COPY"}`;
    if (pairs.length === 0) return ok(`${verb} completed`);
    const { uidvalidity } = folderStatus(store, target.id);
    const code = `COPYUID ${uidvalidity} ${compactSet(pairs.map((p) => p.from))} ${
      compactSet(pairs.map((p) => p.to))
    }`;
    if (!move) return ok(`${verb} completed`, code);
    // RFC 6851 §4.3: COPYUID comes untagged before the expunges.
    this.#ctx.changes.notify(view.mailboxId);
    await this.#untagged(`OK [${code}] Moved`);
    await this.#report(true);
    return ok(`${verb} completed`);
  }

  async #expunge(set?: SequenceSet): Promise<Reply> {
    const view = this.#view!;
    if (view.readOnly) return no("Mailbox is read-only", "READ-ONLY");
    let uids: number[] | undefined;
    if (set) {
      const resolved = this.#resolve(set, true);
      if (!Array.isArray(resolved)) return resolved;
      uids = resolved;
    }
    const removed = expungeEntries(this.#ctx.store, view.mailboxId, uids, { deletedOnly: true });
    if (removed.length > 0) this.#ctx.changes.notify(view.mailboxId);
    await this.#report(true);
    return ok(`${set ? "UID EXPUNGE" : "EXPUNGE"} completed`);
  }

  #close(expunge: boolean): Reply {
    const view = this.#view!;
    if (expunge && !view.readOnly) {
      // RFC 9051 §6.4.1: CLOSE expunges silently.
      const removed = expungeEntries(this.#ctx.store, view.mailboxId, undefined, {
        deletedOnly: true,
      });
      if (removed.length > 0) this.#ctx.changes.notify(view.mailboxId);
    }
    this.#view = undefined;
    this.#state = "authenticated";
    return ok(`${expunge ? "CLOSE" : "UNSELECT"} completed`);
  }

  /** IDLE (RFC 2177): changes are sent as they happen until the client says DONE. */
  async #idle(): Promise<Reply> {
    await this.#write("+ idling\r\n");
    const conn = this.#conn;
    const view = this.#view;
    let pending: Promise<void> = Promise.resolve();
    const report = () => {
      pending = pending.then(() => this.#report(true)).then(() => conn.flush()).catch(() => {});
    };
    const unsubscribe = view ? this.#ctx.changes.subscribe(view.mailboxId, report) : () => {};
    const poll = view ? setInterval(report, IDLE_POLL_MS) : undefined;
    try {
      report();
      for (;;) {
        const line = await conn.readLine(MAX_LINE, { betweenCommands: true });
        if (line === null) throw new ConnectionClosed();
        const text = new TextDecoder().decode(line.bytes).trim();
        if (text.toUpperCase() === "DONE") break;
        return bad("Expected DONE");
      }
    } catch (err) {
      if (err instanceof ConnectionShutdown) {
        await this.#untagged("BYE Server shutting down");
        return { ...ok("IDLE terminated"), close: true };
      }
      throw err;
    } finally {
      unsubscribe();
      clearInterval(poll);
      await pending;
    }
    return ok("IDLE terminated");
  }

  static {
    COMMANDS = {
      CAPABILITY: { states: ALL_STATES, handler: (s) => s.#capability() },
      NOOP: { states: ALL_STATES, handler: (s) => s.#noop() },
      LOGOUT: { states: ALL_STATES, handler: (s) => s.#logout() },
      ID: { states: ALL_STATES, handler: (s, c) => s.#id(c as CommandOf<"ID">) },
      STARTTLS: { states: ["not-authenticated"], handler: (s, c) => s.#startTls(c.tag) },
      LOGIN: {
        states: ["not-authenticated"],
        handler: (s, c) => {
          const cmd = c as CommandOf<"LOGIN">;
          return s.#login(cmd.user, cmd.password);
        },
      },
      AUTHENTICATE: {
        states: ["not-authenticated"],
        handler: (s, c) => s.#authenticate(c as CommandOf<"AUTHENTICATE">),
      },
      ENABLE: {
        states: AUTHED,
        handler: (s, c) => s.#enable(c as CommandOf<"ENABLE">),
      },
      NAMESPACE: { states: AUTHED, handler: (s) => s.#namespace() },
      SELECT: {
        states: AUTHED,
        handler: (s, c) => s.#select((c as CommandOf<"SELECT">).args, false),
      },
      EXAMINE: {
        states: AUTHED,
        handler: (s, c) => s.#select((c as CommandOf<"EXAMINE">).args, true),
      },
      CREATE: { states: AUTHED, handler: (s, c) => s.#create((c as { mailbox: string }).mailbox) },
      DELETE: { states: AUTHED, handler: (s, c) => s.#delete((c as { mailbox: string }).mailbox) },
      RENAME: {
        states: AUTHED,
        handler: (s, c) => {
          const cmd = c as CommandOf<"RENAME">;
          return s.#rename(cmd.from, cmd.to);
        },
      },
      SUBSCRIBE: {
        states: AUTHED,
        handler: (s, c) => s.#subscribe((c as { mailbox: string }).mailbox, true),
      },
      UNSUBSCRIBE: {
        states: AUTHED,
        handler: (s, c) => s.#subscribe((c as { mailbox: string }).mailbox, false),
      },
      LIST: { states: AUTHED, handler: (s, c) => s.#list(c as CommandOf<"LIST">) },
      LSUB: { states: AUTHED, handler: (s, c) => s.#lsub(c as CommandOf<"LSUB">) },
      STATUS: {
        states: AUTHED,
        handler: (s, c) => s.#status(c as CommandOf<"STATUS">),
      },
      APPEND: {
        states: AUTHED,
        handler: (s, c) => s.#append(c as CommandOf<"APPEND">),
      },
      IDLE: { states: AUTHED, handler: (s) => s.#idle() },
      CHECK: { states: SELECTED, handler: (s) => s.#noop() },
      CLOSE: { states: SELECTED, handler: (s) => s.#close(true) },
      UNSELECT: { states: SELECTED, handler: (s) => s.#close(false) },
      EXPUNGE: { states: SELECTED, handler: (s) => s.#expunge() },
      "UID EXPUNGE": {
        states: SELECTED,
        handler: (s, c) => s.#expunge((c as CommandOf<"UID EXPUNGE">).set),
      },
      FETCH: {
        states: SELECTED,
        handler: (s, c) => s.#fetch((c as CommandOf<"FETCH">).args, false),
      },
      "UID FETCH": {
        states: SELECTED,
        handler: (s, c) => s.#fetch((c as CommandOf<"UID FETCH">).args, true),
      },
      STORE: {
        states: SELECTED,
        handler: (s, c) => s.#store((c as CommandOf<"STORE">).args, false),
      },
      "UID STORE": {
        states: SELECTED,
        handler: (s, c) => s.#store((c as CommandOf<"UID STORE">).args, true),
      },
      SEARCH: {
        states: SELECTED,
        handler: (s, c) => s.#search((c as CommandOf<"SEARCH">).args, false, c.tag),
      },
      "UID SEARCH": {
        states: SELECTED,
        handler: (s, c) => s.#search((c as CommandOf<"UID SEARCH">).args, true, c.tag),
      },
      COPY: { states: SELECTED, handler: (s, c) => s.#copyCmd(c, false, false) },
      "UID COPY": { states: SELECTED, handler: (s, c) => s.#copyCmd(c, true, false) },
      MOVE: { states: SELECTED, handler: (s, c) => s.#copyCmd(c, false, true) },
      "UID MOVE": { states: SELECTED, handler: (s, c) => s.#copyCmd(c, true, true) },
    };
  }

  #copyCmd(c: Command, byUid: boolean, move: boolean): Promise<Reply> {
    const cmd = c as CommandOf<"COPY">;
    return this.#copy(cmd.set, cmd.mailbox, byUid, move);
  }
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
