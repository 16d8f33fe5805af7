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
 *
 * The session owns the state, the loop and the command table; the mailbox
 * and message commands (mailbox_commands.ts, message_commands.ts) and IDLE
 * (idle_command.ts) see it only through the scopes and callbacks it hands them.
 */
import { runToEnd } from "../net/session_end.ts";
import type { AuthenticatedUser, Authenticator } from "../auth/authenticator.ts";
import { isCancel, parsePlainResponse, SaslError } from "../auth/sasl.ts";
import type { Config } from "../config.ts";
import { log } from "../log.ts";
import { type Connection, ConnectionClosed, ConnectionShutdown } from "../net/connection.ts";
import { isLoopback } from "../net/limits.ts";
import type { TlsIdentity } from "../net/tls.ts";
import type { MailboxChanges } from "../store/changes.ts";
import type { CommitQueue } from "../store/commit_queue.ts";
import type { Store } from "../store/db.ts";
import { StoreError } from "../store/db.ts";
import { claimRecent, expungeEntries, firstUnseenUid, keywordsInUse } from "../store/entries.ts";
import { ensureStandardFolders, findFolder, folderStatus, SEPARATOR } from "../store/folders.ts";
import { VERSION } from "../version.ts";
import { capabilities } from "./capabilities.ts";
import type { Command, CommandOf, SelectArgs } from "./command.ts";
import { ImapParseError } from "./command.ts";
import { flagList, imapString, mailboxName } from "./format.ts";
import { idleCommand } from "./idle_command.ts";
import {
  createCommand,
  deleteCommand,
  listCommand,
  lsubCommand,
  type MailboxScope,
  namespaceCommand,
  renameCommand,
  statusCommand,
  subscribeCommand,
} from "./mailbox_commands.ts";
import { MailboxView } from "./mailbox_view.ts";
import {
  appendCommand,
  copyCommand,
  expungeCommand,
  fetchCommand,
  type MessageScope,
  qresyncReport,
  reportUpdates,
  searchCommand,
  storeCommand,
} from "./message_commands.ts";
import { parseCommand } from "./parse.ts";
import { getQuotaCommand, getQuotaRootCommand, setQuotaCommand } from "./quota_commands.ts";
import { readCommand } from "./reader.ts";
import { bad, no, ok, type Reply, WRITTEN } from "./reply.ts";

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

/** Runs one command, `cmd` typed as the variant of the name it is filed under. */
type Handler<N extends Command["name"]> = (
  s: ImapSession,
  cmd: CommandOf<N>,
) => Reply | Promise<Reply>;

/** Command lines longer than this get BAD (RFC 7162 §4 asks for 8192 at least). */
const MAX_LINE = 64 * 1024;
/** BAD replies after which the session ends. */
const MAX_ERRORS = 30;

const ALL_STATES: readonly State[] = ["not-authenticated", "authenticated", "selected"];
const AUTHED: readonly State[] = ["authenticated", "selected"];
const SELECTED: readonly State[] = ["selected"];
const HTTP_VERBS = new Set(["GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "DELETE"]);

const logger = log("imap");

/** Which states allow which command; filled in by the session class. */
let COMMANDS: { [N in Command["name"]]: { states: readonly State[]; handler: Handler<N> } };

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
      why = await runToEnd(conn, logger, {
        serve: async () => {
          await this.#untagged(`OK [CAPABILITY ${this.#capabilities()}] Postino IMAP ready`);
          return await this.#loop();
        },
        timedOut: () => this.#untagged("BYE Autologout; idle for too long"),
        failed: () => this.#untagged("BYE Internal error"),
      });
    } finally {
      if (this.#countedUser !== undefined) {
        const n = (this.#ctx.sessionsPerUser.get(this.#countedUser) ?? 1) - 1;
        if (n > 0) this.#ctx.sessionsPerUser.set(this.#countedUser, n);
        else this.#ctx.sessionsPerUser.delete(this.#countedUser);
      }
      await conn.close().catch(() => {});
      // One value per placeholder: the JSON log format quotes each, so none may be empty.
      logger.info("{id} disconnect from {remote} ({why}; user {user})", {
        id: conn.id,
        remote: conn.remoteAddress,
        why,
        user: this.#user?.address ?? "none",
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
      if (reply!.close) return reply!.close;
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
      return await command.handler(this, cmd as never);
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
    // resp-text is one line (RFC 9051 §9): a mailbox name quoted into it may carry CR or LF
    // (a UTF-8 literal), which must not end the reply early or forge another.
    const text = r.text.replace(/[\r\n]+/g, " ");
    return this.#write(`${tag} ${r.status}${r.code ? ` [${r.code}]` : ""} ${text}\r\n`);
  }

  #capabilities(): string {
    return capabilities({
      authenticated: this.#state !== "not-authenticated",
      startTls: Boolean(this.#ctx.tls) && !this.#conn.tls,
      credentialsAllowed: this.#credentialsAllowed,
      appendLimit: this.#ctx.config.maxMessageSize,
    });
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
    return { ...ok("LOGOUT completed"), close: "logout" };
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
      return { ...WRITTEN, close: "TLS handshake failed" };
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
    const condstoreBefore = this.#condstore;
    for (const cap of cmd.capabilities.map((c) => c.toUpperCase())) {
      if (cap === "IMAP4REV2" && !this.#rev2) {
        this.#rev2 = true;
        enabled.push("IMAP4rev2");
      } else if (cap === "CONDSTORE" && !condstoreBefore && !enabled.includes("CONDSTORE")) {
        // Also when a QRESYNC before it in this command turned CONDSTORE on.
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

  async #select(args: SelectArgs, readOnly: boolean): Promise<Reply> {
    // A BAD changes nothing; a NO leaves no mailbox selected (RFC 9051 §6.3.2).
    if (args.qresync && !this.#qresync) return bad("QRESYNC must be enabled first");
    this.#deselect();
    const store = this.#ctx.store;
    const folder = findFolder(store, this.#user!.id, args.mailbox);
    if (!folder) return no(`No such mailbox: ${args.mailbox}`, "NONEXISTENT");
    if (args.condstore) this.#condstore = true;
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
    if (!this.#rev2) {
      // RFC 3501 §6.3.1 (IMAP4rev1 only): the number of the first unseen message, if any.
      const unseen = firstUnseenUid(store, folder.id);
      const seq = unseen === undefined ? 0 : view.seqOf(unseen);
      if (seq > 0) await this.#untagged(`OK [UNSEEN ${seq}] First unseen`);
    }
    await this.#untagged(
      `OK [PERMANENTFLAGS ${readOnly ? "()" : flagList([...flags, "\\*"])}] Flags`,
    );
    await this.#untagged(`OK [UIDVALIDITY ${status.uidvalidity}] UIDs valid`);
    await this.#untagged(`OK [UIDNEXT ${status.uidnext}] Predicted next UID`);
    if (this.#condstore) await this.#untagged(`OK [HIGHESTMODSEQ ${status.highestModseq}] Highest`);
    if (this.#rev2) {
      await this.#untagged(`LIST () "${SEPARATOR}" ${mailboxName(folder.name, this.#rev2)}`);
    }
    this.#view = view;
    this.#state = "selected";
    if (args.qresync && args.qresync.uidvalidity === status.uidvalidity) {
      await qresyncReport(this.#messageScope(), args.qresync.modseq, args.qresync.knownUids);
    }
    return ok(
      `${readOnly ? "EXAMINE" : "SELECT"} completed`,
      readOnly ? "READ-ONLY" : "READ-WRITE",
    );
  }

  // --- Selected ----------------------------------------------------------------

  /** Sends what changed in the selected mailbox since the session last looked. */
  async #report(allowExpunge: boolean): Promise<void> {
    if (this.#view) await reportUpdates(this.#messageScope(), allowExpunge);
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
    this.#deselect();
    return ok(`${expunge ? "CLOSE" : "UNSELECT"} completed`);
  }

  /** Leaves the selected state (CLOSE, UNSELECT, a new SELECT, DELETE of the selected mailbox). */
  #deselect(): void {
    this.#view = undefined;
    this.#state = "authenticated";
  }

  // --- What the command modules see of the session ---------------------------------

  #mailboxScope(): MailboxScope {
    return {
      store: this.#ctx.store,
      changes: this.#ctx.changes,
      userId: this.#user!.id,
      hostname: this.#ctx.config.hostname,
      rev2: this.#rev2,
      untagged: (text) => this.#untagged(text),
      enableCondstore: () => {
        this.#condstore = true;
      },
      quotaDefaults: {
        bytes: this.#ctx.config.limits.quotaBytes,
        messages: this.#ctx.config.limits.quotaMessages,
      },
    };
  }

  /** Only in the selected state. */
  #messageScope(): MessageScope {
    return {
      ...this.#mailboxScope(),
      view: this.#view!,
      condstore: this.#condstore,
      qresync: this.#qresync,
      saved: this.#saved,
      saveResult: (uids) => {
        this.#saved = uids;
      },
      write: (data) => this.#write(data),
    };
  }

  static {
    COMMANDS = {
      CAPABILITY: { states: ALL_STATES, handler: (s) => s.#capability() },
      NOOP: { states: ALL_STATES, handler: (s) => s.#noop() },
      LOGOUT: { states: ALL_STATES, handler: (s) => s.#logout() },
      ID: { states: ALL_STATES, handler: (s, c) => s.#id(c) },
      STARTTLS: { states: ["not-authenticated"], handler: (s, c) => s.#startTls(c.tag) },
      LOGIN: { states: ["not-authenticated"], handler: (s, c) => s.#login(c.user, c.password) },
      AUTHENTICATE: { states: ["not-authenticated"], handler: (s, c) => s.#authenticate(c) },
      ENABLE: { states: AUTHED, handler: (s, c) => s.#enable(c) },
      NAMESPACE: { states: AUTHED, handler: (s) => namespaceCommand(s.#mailboxScope()) },
      SELECT: { states: AUTHED, handler: (s, c) => s.#select(c.args, false) },
      EXAMINE: { states: AUTHED, handler: (s, c) => s.#select(c.args, true) },
      CREATE: { states: AUTHED, handler: (s, c) => createCommand(s.#mailboxScope(), c) },
      DELETE: {
        states: AUTHED,
        handler: (s, c) =>
          deleteCommand(s.#mailboxScope(), c, {
            selectedId: s.#view?.mailboxId,
            deselect: () => s.#deselect(),
          }),
      },
      RENAME: { states: AUTHED, handler: (s, c) => renameCommand(s.#mailboxScope(), c) },
      SUBSCRIBE: { states: AUTHED, handler: (s, c) => subscribeCommand(s.#mailboxScope(), c) },
      UNSUBSCRIBE: { states: AUTHED, handler: (s, c) => subscribeCommand(s.#mailboxScope(), c) },
      LIST: { states: AUTHED, handler: (s, c) => listCommand(s.#mailboxScope(), c) },
      LSUB: { states: AUTHED, handler: (s, c) => lsubCommand(s.#mailboxScope(), c) },
      STATUS: { states: AUTHED, handler: (s, c) => statusCommand(s.#mailboxScope(), c) },
      APPEND: {
        states: AUTHED,
        handler: (s, c) =>
          appendCommand(s.#mailboxScope(), c, {
            commits: s.#ctx.commits,
            maxMessageSize: s.#ctx.config.maxMessageSize,
          }),
      },
      GETQUOTA: { states: AUTHED, handler: (s, c) => getQuotaCommand(s.#mailboxScope(), c) },
      GETQUOTAROOT: {
        states: AUTHED,
        handler: (s, c) => getQuotaRootCommand(s.#mailboxScope(), c),
      },
      SETQUOTA: { states: AUTHED, handler: (s, c) => setQuotaCommand(s.#mailboxScope(), c) },
      IDLE: {
        states: AUTHED,
        handler: (s) =>
          idleCommand(s.#conn, {
            mailboxId: s.#view?.mailboxId,
            changes: s.#ctx.changes,
            report: () => s.#report(true),
            untagged: (text) => s.#untagged(text),
            maxLine: MAX_LINE,
          }),
      },
      CHECK: { states: SELECTED, handler: (s) => s.#noop() },
      CLOSE: { states: SELECTED, handler: (s) => s.#close(true) },
      UNSELECT: { states: SELECTED, handler: (s) => s.#close(false) },
      EXPUNGE: { states: SELECTED, handler: (s, c) => expungeCommand(s.#messageScope(), c) },
      "UID EXPUNGE": { states: SELECTED, handler: (s, c) => expungeCommand(s.#messageScope(), c) },
      FETCH: { states: SELECTED, handler: (s, c) => fetchCommand(s.#messageScope(), c) },
      "UID FETCH": { states: SELECTED, handler: (s, c) => fetchCommand(s.#messageScope(), c) },
      STORE: { states: SELECTED, handler: (s, c) => storeCommand(s.#messageScope(), c) },
      "UID STORE": { states: SELECTED, handler: (s, c) => storeCommand(s.#messageScope(), c) },
      SEARCH: { states: SELECTED, handler: (s, c) => searchCommand(s.#messageScope(), c) },
      "UID SEARCH": { states: SELECTED, handler: (s, c) => searchCommand(s.#messageScope(), c) },
      COPY: { states: SELECTED, handler: (s, c) => copyCommand(s.#messageScope(), c) },
      "UID COPY": { states: SELECTED, handler: (s, c) => copyCommand(s.#messageScope(), c) },
      MOVE: { states: SELECTED, handler: (s, c) => copyCommand(s.#messageScope(), c) },
      "UID MOVE": { states: SELECTED, handler: (s, c) => copyCommand(s.#messageScope(), c) },
    };
  }
}
