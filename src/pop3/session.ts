/**
 * One POP3 session (RFC 1939) with CAPA (RFC 2449), STLS (RFC 2595), SASL
 * AUTH (RFC 5034) and response codes (RFC 2449 §8, RFC 3206).
 *
 * Invariants:
 * - The state is data ({@link State}); {@link COMMANDS} says where a keyword
 *   is allowed, and the loop checks it before any handler runs.
 * - Credentials are accepted only over TLS or from a loopback address.
 * - A session in TRANSACTION holds its user's maildrop lock; the lock is
 *   released when the session ends, however it ends.
 * - Message numbers and sizes are fixed at login; DELE only marks. Only QUIT
 *   from TRANSACTION (the UPDATE state) removes messages, in one transaction.
 *   A dropped or timed-out session removes nothing.
 * - RETR and TOP send the body in slices, dot-stuffed (RFC 1939 §3), holding
 *   one copy of it at most.
 */
import { runToEnd } from "../net/session_end.ts";
import type { AuthenticatedUser, Authenticator } from "../auth/authenticator.ts";
import { isCancel, parsePlainResponse, SaslError } from "../auth/sasl.ts";
import type { Config } from "../config.ts";
import { log } from "../log.ts";
import { type Connection, ConnectionShutdown } from "../net/connection.ts";
import { isLoopback } from "../net/limits.ts";
import type { TlsIdentity } from "../net/tls.ts";
import type { Store } from "../store/db.ts";
import {
  type Maildrop,
  openMaildrop,
  readBodies,
  readBody,
  removeMessages,
} from "../store/maildrop.ts";
import { dotStuff } from "../net/dot_stuff.ts";
import type { MaildropLocks } from "./locks.ts";
import {
  expectArgs,
  parseCommand,
  parseLineCount,
  parseMessageNumber,
  Pop3ArgumentError,
  type Pop3Command,
} from "./parse.ts";

/** RFC 1939 §3: AUTHORIZATION until login, TRANSACTION after, UPDATE during QUIT. */
export type State = "authorization" | "transaction" | "update";

/** What the POP3 sessions of a server share. */
export interface Pop3Context {
  config: Config;
  store: Store;
  tls?: TlsIdentity;
  authenticator: Authenticator;
  locks: MaildropLocks;
  /** Told when QUIT removes messages, so IMAP sessions hear of it. */
  changes?: { notify(mailboxId: number): void };
}

/** A reply: the status line and, for multi-line replies, the lines before the final ".". */
interface Reply {
  line: string;
  lines?: string[];
  close?: boolean;
}

type Handler = (s: Pop3Session, cmd: Pop3Command) => Reply | Promise<Reply>;

/** Command lines (AUTH responses included) longer than this get -ERR. */
const MAX_LINE = 4096;
/** -ERR replies after which the session is closed. */
const MAX_ERRORS = 20;
/** Bodies go out in slices of this size. */
const SLICE = 256 * 1024;
/**
 * RETR n is usually followed by RETR n+1: with it, the bodies of up to this
 * many following messages are read in the same query, within READ_AHEAD_BYTES.
 * One query per message costs more than the message when messages are small.
 */
const READ_AHEAD_COUNT = 16;
const READ_AHEAD_BYTES = 256 * 1024;

const LF = 0x0a;
const CRLF = new Uint8Array([0x0d, 0x0a]);
const TERMINATOR = new TextEncoder().encode(".\r\n");

const ok = (text: string, lines?: string[]): Reply => ({ line: `+OK ${text}`, lines });
const err = (text: string): Reply => ({ line: `-ERR ${text}` });
const HTTP_VERBS = new Set(["GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "DELETE"]);

/** A reply the handler has already written (RETR, TOP, STLS). */
const WRITTEN: Reply = { line: "" };

/** Which states allow which keyword; filled in by the session class. */
let COMMANDS: Record<string, { states: readonly State[]; handler: Handler }>;

const logger = log("pop3");
const decoder = new TextDecoder();

/** One POP3 session. Create one per connection and `run()` it. */
export class Pop3Session {
  readonly #conn: Connection;
  readonly #ctx: Pop3Context;
  #state: State = "authorization";
  #username: string | undefined;
  #user: AuthenticatedUser | undefined;
  #drop: Maildrop | undefined;
  /** Bodies read ahead by RETR, by message index. */
  #readAhead = new Map<number, Uint8Array>();
  #deleted = new Set<number>();
  #errors = 0;

  constructor(conn: Connection, ctx: Pop3Context) {
    this.#conn = conn;
    this.#ctx = ctx;
  }

  /** Runs the session until QUIT, a timeout, shutdown or the peer closing. */
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
          await this.#send(ok("Postino POP3 server ready"));
          return await this.#loop();
        },
        // RFC 1939 §3: an autologout timer closes without entering UPDATE.
        timedOut: () => this.#send(err("[SYS/TEMP] Idle for too long, nothing was deleted")),
        failed: () => this.#send(err("[SYS/TEMP] Internal error, closing connection")),
      });
    } finally {
      if (this.#user) this.#ctx.locks.release(this.#user.id, conn.id);
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
      conn.idleTimeoutMs = this.#ctx.config.timeouts.pop3Idle;
      let line;
      try {
        line = await conn.readLine(MAX_LINE, { betweenCommands: true });
      } catch (e) {
        if (e instanceof ConnectionShutdown) {
          await this.#send(err("[SYS/TEMP] Server shutting down, nothing was deleted"));
          return "shutdown";
        }
        throw e;
      }
      if (line === null) return "client closed";
      const r = line.tooLong
        ? err("Line too long")
        : await this.#dispatch(parseCommand(decoder.decode(line.bytes)));
      if (r.line.startsWith("-ERR")) this.#errors++;
      if (r.line !== "") await this.#send(r);
      if (r.close) return r.line === "" ? "hung up" : "quit";
      if (this.#errors >= MAX_ERRORS) {
        await this.#send(err("Too many errors, closing connection"));
        return "too many errors";
      }
    }
  }

  async #dispatch(cmd: Pop3Command): Promise<Reply> {
    if (HTTP_VERBS.has(cmd.keyword) && this.#state === "authorization") {
      // Cross-protocol request (a browser tricked into talking to us): hang up, say nothing.
      return { ...WRITTEN, close: true };
    }
    const command = Object.hasOwn(COMMANDS, cmd.keyword) ? COMMANDS[cmd.keyword] : undefined;
    if (!command) return err(`Unknown command: ${cmd.keyword.slice(0, 16)}`);
    if (!command.states.includes(this.#state)) {
      return err(
        this.#state === "authorization"
          ? `${cmd.keyword} is allowed only after login`
          : `${cmd.keyword} is not allowed after login`,
      );
    }
    try {
      return await command.handler(this, cmd);
    } catch (e) {
      if (e instanceof Pop3ArgumentError) return err(e.message);
      throw e;
    }
  }

  #send(r: Reply): Promise<void> {
    let out = `${r.line}\r\n`;
    if (r.lines) {
      // RFC 1939 §3: multi-line responses are dot-stuffed and end with ".".
      for (const l of r.lines) out += `${l.startsWith(".") ? "." : ""}${l}\r\n`;
      out += ".\r\n";
    }
    return this.#conn.write(out);
  }

  /** Plaintext credentials only over TLS or from this machine (RFC 2595 §2.3). */
  get #credentialsAllowed(): boolean {
    return this.#conn.tls !== undefined || isLoopback(this.#conn.remoteAddress);
  }

  // --- AUTHORIZATION -------------------------------------------------------------

  #capa(): Reply {
    const caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"];
    if (this.#state === "authorization") {
      if (this.#credentialsAllowed) caps.push("USER", "SASL PLAIN");
      if (this.#ctx.tls && !this.#conn.tls) caps.push("STLS");
    }
    caps.push("IMPLEMENTATION Postino");
    return ok("Capability list follows", caps);
  }

  async #stls(cmd: Pop3Command): Promise<Reply> {
    expectArgs(cmd, 0, 0);
    if (this.#conn.tls) return err("Command not permitted when TLS active");
    if (!this.#ctx.tls) return err("STLS not available");
    await this.#send(ok("Begin TLS negotiation"));
    let discarded: number;
    try {
      discarded = await this.#conn.startTls(this.#ctx.tls.context);
    } catch (e) {
      // Nothing can be said over a broken handshake; the client sees the connection close.
      logger.info("{id} TLS handshake failed: {error}", {
        id: this.#conn.id,
        error: (e as Error)?.message ?? String(e),
      });
      return { ...WRITTEN, close: true };
    }
    if (discarded > 0) {
      // RFC 2595 §4 / CVE-2011-0411: nothing sent before the handshake counts.
      logger.warn("{id} discarded {bytes} bytes pipelined after STLS", {
        id: this.#conn.id,
        bytes: discarded,
      });
    }
    this.#username = undefined;
    return WRITTEN;
  }

  #userCommand(cmd: Pop3Command): Reply {
    if (!this.#credentialsAllowed) return plaintextRefused();
    if (cmd.rest.trim() === "") return err("Missing user name");
    this.#username = cmd.rest.trim();
    return ok("Send PASS"); // never reveal whether the user exists
  }

  async #pass(cmd: Pop3Command): Promise<Reply> {
    if (!this.#credentialsAllowed) return plaintextRefused();
    const username = this.#username;
    this.#username = undefined;
    if (username === undefined) return err("Send USER first");
    // RFC 1939 §7: the password may contain spaces, so it is the whole rest of the line.
    return await this.#login(username, cmd.rest);
  }

  async #auth(cmd: Pop3Command): Promise<Reply> {
    if (!this.#credentialsAllowed) return plaintextRefused();
    if (cmd.args.length === 0) return ok("Mechanisms follow", ["PLAIN"]);
    expectArgs(cmd, 1, 2);
    const mechanism = cmd.args[0].toUpperCase();
    if (mechanism !== "PLAIN") return err(`Unrecognized authentication mechanism ${mechanism}`);
    let response = cmd.args[1];
    if (response === undefined) {
      await this.#conn.write("+ \r\n");
      const line = await this.#conn.readLine(MAX_LINE);
      if (line === null) return { ...err("Connection closed"), close: true };
      if (line.tooLong) return err("Line too long");
      response = decoder.decode(line.bytes).trim();
      if (isCancel(response)) return err("Authentication cancelled");
    }
    try {
      // RFC 5034 §4: "=" is an empty initial response.
      const plain = parsePlainResponse(response === "=" ? "" : response);
      if (plain.authzid !== "" && plain.authzid !== plain.authcid) {
        return err("[AUTH] Authorization identity not allowed");
      }
      return await this.#login(plain.authcid, plain.password);
    } catch (e) {
      if (e instanceof SaslError) return err(`Cannot decode response: ${e.reason}`);
      throw e;
    }
  }

  async #login(username: string, password: string): Promise<Reply> {
    const user = await this.#ctx.authenticator.login({
      username,
      password,
      remoteAddress: this.#conn.remoteAddress,
      protocol: "pop3",
      connectionId: this.#conn.id,
    });
    if (!user) return err("[AUTH] Invalid user name or password");
    if (!this.#ctx.locks.acquire(user.id, this.#conn.id)) {
      return err("[IN-USE] Maildrop is locked by another session");
    }
    const drop = openMaildrop(this.#ctx.store, user.id);
    if (!drop) {
      this.#ctx.locks.release(user.id, this.#conn.id);
      return err("[SYS/PERM] This user has no INBOX");
    }
    this.#user = user;
    this.#drop = drop;
    this.#state = "transaction";
    const { count, octets } = this.#totals();
    return ok(`Logged in, ${count} messages (${octets} octets)`);
  }

  // --- TRANSACTION ---------------------------------------------------------------

  #totals(): { count: number; octets: number } {
    let count = 0;
    let octets = 0;
    this.#drop!.messages.forEach((m, i) => {
      if (this.#deleted.has(i)) return;
      count++;
      octets += m.size;
    });
    return { count, octets };
  }

  /** The message with number `text`, or an error reply when it is unknown or deleted. */
  #message(text: string | undefined): { index: number } | Reply {
    const n = parseMessageNumber(text);
    if (n > this.#drop!.messages.length) return err(`No such message: ${n}`);
    if (this.#deleted.has(n - 1)) return err(`Message ${n} is deleted`);
    return { index: n - 1 };
  }

  #stat(cmd: Pop3Command): Reply {
    expectArgs(cmd, 0, 0);
    const { count, octets } = this.#totals();
    return ok(`${count} ${octets}`);
  }

  #list(cmd: Pop3Command, uidl: boolean): Reply {
    expectArgs(cmd, 0, 1);
    const value = (i: number) =>
      uidl ? uniqueId(this.#drop!, i) : String(this.#drop!.messages[i].size);
    if (cmd.args.length === 1) {
      const m = this.#message(cmd.args[0]);
      return "index" in m ? ok(`${m.index + 1} ${value(m.index)}`) : m;
    }
    const lines: string[] = [];
    this.#drop!.messages.forEach((_, i) => {
      if (!this.#deleted.has(i)) lines.push(`${i + 1} ${value(i)}`);
    });
    if (uidl) return ok("Unique-ID listing follows", lines);
    const { count, octets } = this.#totals();
    return ok(`${count} messages (${octets} octets)`, lines);
  }

  async #retr(cmd: Pop3Command): Promise<Reply> {
    expectArgs(cmd, 1, 1);
    const m = this.#message(cmd.args[0]);
    if (!("index" in m)) return m;
    const message = this.#drop!.messages[m.index];
    // SQLite hands out a blob whole, so the body is read once and sent from memory.
    const body = this.#retrBody(m.index);
    await this.#send(ok(`${message.size} octets`));
    await this.#sendBody(body, message.dotLines);
    return WRITTEN;
  }

  /** The body of message `index`, with the next small ones read ahead in the same query. */
  #retrBody(index: number): Uint8Array {
    const ahead = this.#readAhead.get(index);
    if (ahead) {
      this.#readAhead.delete(index);
      return ahead;
    }
    this.#readAhead.clear();
    const messages = this.#drop!.messages;
    const ids = [messages[index].messageId];
    let bytes = messages[index].size;
    for (let i = index + 1; i < messages.length && ids.length < READ_AHEAD_COUNT; i++) {
      bytes += messages[i].size;
      if (bytes > READ_AHEAD_BYTES) break;
      ids.push(messages[i].messageId);
    }
    if (ids.length === 1) return readBody(this.#ctx.store, ids[0]);
    const bodies = readBodies(this.#ctx.store, ids);
    const empty = new Uint8Array();
    for (let k = 1; k < ids.length; k++) {
      this.#readAhead.set(index + k, bodies.get(ids[k]) ?? empty);
    }
    return bodies.get(ids[0]) ?? empty;
  }

  async #top(cmd: Pop3Command): Promise<Reply> {
    expectArgs(cmd, 2, 2);
    const m = this.#message(cmd.args[0]);
    if (!("index" in m)) return m;
    const lines = parseLineCount(cmd.args[1]);
    const message = this.#drop!.messages[m.index];
    const body = readBody(this.#ctx.store, message.messageId);
    await this.#send(ok("Top of message follows"));
    await this.#sendBody(body.subarray(0, topLength(body, lines)), message.dotLines);
    return WRITTEN;
  }

  /**
   * Sends a body dot-stuffed, then the terminating ".". It goes out in
   * slices, each copied only when it needs stuffing (never when the store
   * knows it has no line starting with "."), with the socket's backpressure
   * respected.
   */
  async #sendBody(body: Uint8Array, dotLines: boolean): Promise<void> {
    let atLineStart = true;
    for (let offset = 0; offset < body.length; offset += SLICE) {
      const slice = body.subarray(offset, offset + SLICE);
      await this.#conn.write(dotLines ? dotStuff(slice, atLineStart) : slice);
      atLineStart = slice[slice.length - 1] === LF;
    }
    // The terminator must start a line (RFC 1939 §3).
    if (body.length > 0 && body[body.length - 1] !== LF) await this.#conn.write(CRLF);
    await this.#conn.write(TERMINATOR);
  }

  #dele(cmd: Pop3Command): Reply {
    expectArgs(cmd, 1, 1);
    const m = this.#message(cmd.args[0]);
    if (!("index" in m)) return m;
    this.#deleted.add(m.index);
    return ok(`Message ${m.index + 1} deleted`);
  }

  #rset(cmd: Pop3Command): Reply {
    expectArgs(cmd, 0, 0);
    this.#deleted.clear();
    const { count, octets } = this.#totals();
    return ok(`Maildrop has ${count} messages (${octets} octets)`);
  }

  #quit(): Reply {
    if (this.#state !== "transaction") return { ...ok("Bye"), close: true };
    this.#state = "update";
    const drop = this.#drop!;
    const uids = [...this.#deleted].map((i) => drop.messages[i].uid);
    try {
      removeMessages(this.#ctx.store, drop.mailboxId, uids);
      if (uids.length > 0) this.#ctx.changes?.notify(drop.mailboxId);
    } catch (e) {
      logger.error("{id} could not remove deleted messages: {error}", {
        id: this.#conn.id,
        error: (e as Error)?.stack ?? String(e),
      });
      return { ...err("[SYS/TEMP] Some deleted messages not removed"), close: true };
    }
    const left = drop.messages.length - uids.length;
    return { ...ok(`Bye, ${left} messages left`), close: true };
  }

  static {
    const A: State[] = ["authorization"];
    const T: State[] = ["transaction"];
    COMMANDS = {
      CAPA: { states: ["authorization", "transaction"], handler: (s) => s.#capa() },
      STLS: { states: A, handler: (s, c) => s.#stls(c) },
      USER: { states: A, handler: (s, c) => s.#userCommand(c) },
      PASS: { states: A, handler: (s, c) => s.#pass(c) },
      AUTH: { states: A, handler: (s, c) => s.#auth(c) },
      QUIT: { states: ["authorization", "transaction"], handler: (s) => s.#quit() },
      STAT: { states: T, handler: (s, c) => s.#stat(c) },
      LIST: { states: T, handler: (s, c) => s.#list(c, false) },
      UIDL: { states: T, handler: (s, c) => s.#list(c, true) },
      RETR: { states: T, handler: (s, c) => s.#retr(c) },
      TOP: { states: T, handler: (s, c) => s.#top(c) },
      DELE: { states: T, handler: (s, c) => s.#dele(c) },
      RSET: { states: T, handler: (s, c) => s.#rset(c) },
      NOOP: {
        states: T,
        handler: (_s, c) => {
          expectArgs(c, 0, 0);
          return ok("");
        },
      },
    };
  }
}

function plaintextRefused(): Reply {
  return err("[AUTH] Plaintext authentication disallowed on non-secure connections; use STLS");
}

/** A UIDL value (RFC 1939 §7): stable across sessions and restarts, unique in the maildrop. */
export function uniqueId(drop: Maildrop, index: number): string {
  return `${drop.uidvalidity}.${drop.messages[index].uid}`;
}

/**
 * How many octets of `body` TOP sends: the headers, the blank line after
 * them, and `lines` lines of the body (RFC 1939 §7).
 */
export function topLength(body: Uint8Array, lines: number): number {
  // The blank line that ends the headers: CRLF CRLF, LF LF, or one at the very start.
  let start: number;
  if (body[0] === LF) start = 1;
  else if (body[0] === 0x0d && body[1] === LF) start = 2;
  else {
    const crlf = indexOfSequence(body, [0x0d, LF, 0x0d, LF]);
    const lf = indexOfSequence(body, [LF, LF]);
    const ends = [crlf < 0 ? -1 : crlf + 4, lf < 0 ? -1 : lf + 2].filter((e) => e >= 0);
    if (ends.length === 0) return body.length; // headers only
    start = Math.min(...ends);
  }
  let end = start;
  for (let n = 0; n < lines && end < body.length; n++) {
    const lf = body.indexOf(LF, end);
    end = lf < 0 ? body.length : lf + 1;
  }
  return end;
}

/** The index of the first occurrence of `needle` in `haystack`, or -1. */
function indexOfSequence(haystack: Uint8Array, needle: number[]): number {
  for (let i = haystack.indexOf(needle[0]); i >= 0; i = haystack.indexOf(needle[0], i + 1)) {
    if (needle.every((b, k) => haystack[i + k] === b)) return i;
  }
  return -1;
}
