/**
 * One SMTP session (RFC 5321) on one connection, for the MX listener and
 * for submission (RFC 6409).
 *
 * Invariants:
 * - The state is data ({@link State}); {@link COMMANDS} says in which states a
 *   verb is allowed, and the loop checks it before any handler runs.
 * - AUTH is offered and accepted only over TLS. Submission listeners require
 *   AUTH before MAIL (530 5.7.0). Unauthenticated clients may only send to
 *   local domains; nobody relays without AUTH.
 * - STARTTLS discards pipelined input and resets the session to its
 *   initial state (RFC 3207 §4.2); the client must EHLO again.
 * - 250 after DATA/BDAT LAST is written only after the message is durable.
 * - Bad input gets a reply and the session goes on; after {@link MAX_ERRORS}
 *   5xx replies, or on an HTTP request line, the session ends.
 */
import { runToEnd } from "../net/session_end.ts";
import type { AuthenticatedUser, Authenticator } from "../auth/authenticator.ts";
import type { Config } from "../config.ts";
import {
  type Accepted,
  acceptMessage,
  newMessageId,
  type RoutedEnvelope,
} from "../delivery/accept.ts";
import { featuresOf, judgeJunk, type JunkVerdict } from "../junk/verdict.ts";
import { receivedSenderFacts, type SenderFacts } from "../junk/reputation.ts";
import { learnCorrespondents } from "../junk/training.ts";
import { overQuota, userQuota } from "../store/quota.ts";
import { storeBounce } from "../delivery/bounce.ts";
import { describeRefusal, type SendLimits, type SendRefusal } from "../delivery/send_limits.ts";
import { type DnsblListing, dnsblListings } from "../dns/dnsbl.ts";
import type { Resolver } from "../dns/resolver.ts";
import {
  maySendAs,
  normalizeRecipient,
  postmasterOf,
  resolveRecipient,
  type Route,
} from "../delivery/router.ts";
import { log } from "../log.ts";
import { type Connection, ConnectionShutdown, ConnectionTimeout } from "../net/connection.ts";
import type { TlsIdentity } from "../net/tls.ts";
import { isLocalDomain } from "../store/accounts.ts";
import type { CommitQueue } from "../store/commit_queue.ts";
import type { Store } from "../store/db.ts";
import { AUTH_MECHANISMS, authExchange } from "./auth_command.ts";
import { DataDecoder, HEADROOM, type MessageContent, readDataContent } from "./data.ts";
import {
  type MailParams,
  parseBdatArgs,
  parseCommand,
  parseEhloArgs,
  parseMailCommand,
  parseRcptCommand,
} from "./parse.ts";
import { formatReply, reply, type SmtpReply, SmtpReplyError } from "./reply.ts";
import { receivedProtocol, submissionHeaders } from "../mail/trace.ts";
import type { RejectReason } from "../metrics/server_metrics.ts";
import { headerSection, removeFields } from "../mail/headers.ts";
import { claimsToBe } from "../security/auth_results.ts";
import type { InboundAuthResult } from "../security/inbound_auth.ts";
import type { CheckOptions } from "../security/inbound_checker.ts";
import { decide } from "../security/inbound_policy.ts";

/**
 * connected: before EHLO/HELO; greeted: no transaction; mail: after MAIL;
 * rcpt: at least one recipient accepted; bdat: between BDAT chunks.
 */
export type State = "connected" | "greeted" | "mail" | "rcpt" | "bdat";

/** What the sessions of a server share. */
export interface SmtpContext {
  config: Config;
  store: Store;
  tls?: TlsIdentity;
  authenticator: Authenticator;
  commits: CommitQueue;
  /** Told when a message with remote recipients is queued. */
  outbound?: { wake(): void };
  /** Runs the authentication checks of inbound mail; without it they are skipped. */
  checker?: { check(message: Uint8Array, options: CheckOptions): Promise<InboundAuthResult> };
  /**
   * Slows intake when memory runs short: asked before the greeting and
   * before a message's data; what it gives is called once the data is in.
   */
  memory?: { admit(): Promise<() => void> };
  /** DNS for the blocklists of `spam.dnsbl`; without it they are not asked. */
  resolver?: Resolver;
  /** The hourly send limits of authenticated users; without it there are none. */
  sendLimits?: SendLimits;
  /** Told of mail stored here directly (a DSN), so IMAP sessions see it. */
  changes?: { notify(mailboxId: number): void };
  /** Counts accepted and refused messages. */
  metrics?: {
    accepted(source: SmtpRole): void;
    rejected(reason: RejectReason): void;
    junkVerdict?(verdict: "spam" | "ham" | "undecided", by: string): void;
  };
}

/** Which listener the session runs on. */
export type SmtpRole = "mx" | "submission";

/** Command lines longer than this get 500 (RFC 5321 §4.5.3.1.4 asks for 512 at least). */
const MAX_COMMAND_LINE = 4096;
/** RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted. */
export const MAX_RECIPIENTS = 100;
/** 5xx replies after which the session is closed. */
const MAX_ERRORS = 20;

const CRLF = new Uint8Array([0x0d, 0x0a]);

/** Message buffers up to this size are kept for the session's next message. */
const REUSE_LIMIT = 1024 * 1024;

const ANY: readonly State[] = ["connected", "greeted", "mail", "rcpt", "bdat"];
const IDLE: readonly State[] = ["connected", "greeted", "mail", "rcpt"];
const HTTP_VERBS = new Set(["GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "DELETE"]);

interface Transaction {
  sender: string;
  params: MailParams;
  recipients: { address: string; routes: Route[] }[];
  bdat?: { decoder: DataDecoder; carry: Uint8Array; failed?: SmtpReply };
}

type Handler = (s: SmtpSession, args: string) => SmtpReply | Promise<SmtpReply>;

/** A reply that has already been written (STARTTLS answers before the handshake). */
const NO_REPLY: SmtpReply = { code: 0, lines: [] };

let COMMANDS: Record<string, {
  states: readonly State[];
  handler: Handler;
  outOfOrder: (state: State) => SmtpReply;
}>;

const logger = log("smtp");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** One SMTP session. Create one per connection and `run()` it. */
export class SmtpSession {
  readonly #conn: Connection;
  readonly #ctx: SmtpContext;
  readonly #role: SmtpRole;
  #state: State = "connected";
  #helo = "";
  #esmtp = false;
  #user: AuthenticatedUser | undefined;
  #tx: Transaction | undefined;
  #errors = 0;
  #messages = 0;
  /** The `spam.dnsbl` listings of the client, asked at connect (MX only). */
  #dnsbl: Promise<DnsblListing[]> | undefined;
  /** The previous message's buffer, reused for the next one (kept only while small). */
  #buffer: Uint8Array | undefined;

  constructor(conn: Connection, ctx: SmtpContext, role: SmtpRole) {
    this.#conn = conn;
    this.#ctx = ctx;
    this.#role = role;
  }

  /** The current state (tests). */
  get state(): State {
    return this.#state;
  }

  /** Runs the session until QUIT, a fatal error, a timeout, shutdown or the peer closing. */
  async run(): Promise<void> {
    const conn = this.#conn;
    const started = Date.now();
    logger.info("{id} connect from {remote}:{port} to {role}{tls}", {
      id: conn.id,
      remote: conn.remoteAddress,
      port: conn.remotePort,
      role: this.#role,
      tls: conn.tls ? ` (${conn.tls.protocol})` : "",
    });
    this.#startDnsbl();
    let why = "client closed";
    try {
      why = await runToEnd(conn, logger, {
        serve: async () => {
          (await this.#ctx.memory?.admit())?.();
          const before = await this.#beforeGreeting();
          if (before === "closed") return "client closed";
          if (before === "talked") {
            this.#ctx.metrics?.rejected("pregreet");
            logger.warn("{id} refused {remote}: it talked before the greeting", {
              id: this.#conn.id,
              remote: this.#conn.remoteAddress,
            });
            await this.#send(reply(554, "5.7.1", "Protocol error: talking before the greeting"));
            return "early talker";
          }
          await this.#send(
            reply(220, undefined, `${this.#ctx.config.hostname} ESMTP Postino ready`),
          );
          return await this.#loop();
        },
        timedOut: () => this.#send(reply(421, "4.4.2", "Timeout, closing connection")),
        failed: () => this.#send(reply(421, "4.3.0", "Internal error, closing connection")),
      });
    } finally {
      await conn.close().catch(() => {});
      logger.info("{id} disconnect from {remote} ({why}; {messages} messages, {ms} ms)", {
        id: conn.id,
        remote: conn.remoteAddress,
        why,
        messages: this.#messages,
        ms: Date.now() - started,
      });
    }
  }

  async #loop(): Promise<string> {
    const conn = this.#conn;
    for (;;) {
      conn.idleTimeoutMs = this.#ctx.config.timeouts.smtpCommand;
      let line;
      try {
        line = await conn.readLine(MAX_COMMAND_LINE, { betweenCommands: true });
      } catch (err) {
        if (err instanceof ConnectionShutdown) {
          await this.#send(reply(421, "4.3.2", "Server shutting down, try again later"));
          return "shutdown";
        }
        if (err instanceof ConnectionTimeout) {
          await this.#send(
            reply(421, "4.4.2", "Timeout waiting for a command, closing connection"),
          );
          return "timeout";
        }
        throw err;
      }
      if (line === null) return "client closed";
      let r: SmtpReply;
      if (line.tooLong) {
        r = reply(500, "5.5.2", "Line too long");
      } else {
        let text: string | undefined;
        try {
          text = utf8.decode(line.bytes);
        } catch {
          r = reply(500, "5.5.2", "Command line is not valid UTF-8");
        }
        if (text !== undefined) {
          const cmd = parseCommand(text);
          if (HTTP_VERBS.has(cmd.verb) && this.#state === "connected") {
            // Cross-protocol request (a browser tricked into talking to us): hang up, say nothing.
            return `HTTP request ${cmd.verb}`;
          }
          r = await this.#dispatch(cmd.verb, cmd.args);
        }
      }
      if (r!.code >= 500) this.#errors++;
      if (r!.code !== NO_REPLY.code) await this.#send(r!);
      if (r!.close) return r!.code === 221 ? "quit" : `closed after ${r!.code}`;
      if (this.#errors >= MAX_ERRORS) {
        await this.#send(reply(421, "4.7.0", "Too many errors, closing connection"));
        return "too many errors";
      }
    }
  }

  async #dispatch(verb: string, args: string): Promise<SmtpReply> {
    const command = Object.hasOwn(COMMANDS, verb) ? COMMANDS[verb] : undefined;
    if (!command) {
      return reply(
        500,
        "5.5.2",
        verb ? `Command not recognized: ${verb.slice(0, 32)}` : "Empty command",
      );
    }
    if (!command.states.includes(this.#state)) return command.outOfOrder(this.#state);
    try {
      return await command.handler(this, args);
    } catch (err) {
      if (err instanceof SmtpReplyError) return err.reply;
      throw err;
    }
  }

  #send(r: SmtpReply): Promise<void> {
    return this.#conn.write(formatReply(r));
  }

  #reset(): void {
    this.#tx = undefined;
    if (this.#state !== "connected") this.#state = "greeted";
  }

  // --- Commands ---------------------------------------------------------------

  #ehlo(args: string, extended: boolean): SmtpReply {
    this.#helo = parseEhloArgs(args);
    this.#esmtp = extended;
    this.#tx = undefined; // RFC 5321 §4.1.4: EHLO resets the transaction.
    this.#state = "greeted";
    const hostname = this.#ctx.config.hostname;
    if (!extended) return reply(250, undefined, hostname);
    const lines = [
      `${hostname} greets ${this.#helo.slice(0, 64)} [${this.#conn.remoteAddress}]`,
      "PIPELINING",
      `SIZE ${this.#ctx.config.maxMessageSize}`,
      "8BITMIME",
      "SMTPUTF8",
      "ENHANCEDSTATUSCODES",
      "CHUNKING",
    ];
    if (this.#ctx.tls && !this.#conn.tls) lines.push("STARTTLS");
    if (this.#conn.tls && !this.#user) lines.push(`AUTH ${AUTH_MECHANISMS.join(" ")}`);
    lines.push("HELP");
    return { code: 250, lines };
  }

  async #startTls(args: string): Promise<SmtpReply> {
    if (args) return reply(501, "5.5.4", "STARTTLS takes no arguments");
    if (this.#conn.tls) return reply(503, "5.5.1", "TLS is already active");
    if (!this.#ctx.tls) return reply(502, "5.5.1", "STARTTLS not available");
    await this.#send(reply(220, "2.0.0", "Ready to start TLS"));
    let discarded: number;
    try {
      discarded = await this.#conn.startTls(this.#ctx.tls.context);
    } catch (err) {
      // Nothing can be said over a broken handshake; the client sees the connection close.
      logger.info("{id} TLS handshake failed: {error}", {
        id: this.#conn.id,
        error: (err as Error)?.message ?? String(err),
      });
      return { ...NO_REPLY, close: true };
    }
    if (discarded > 0) {
      // RFC 3207 §4.2 / CVE-2011-0411: nothing sent before the handshake counts.
      logger.warn("{id} discarded {bytes} bytes pipelined after STARTTLS", {
        id: this.#conn.id,
        bytes: discarded,
      });
    }
    const tls = (this.#conn as Connection).tls; // startTls() changed it; TS narrowed it above
    logger.info("{id} TLS started: {protocol} {cipher}", {
      id: this.#conn.id,
      protocol: tls?.protocol,
      cipher: tls?.cipher,
    });
    this.#state = "connected";
    this.#helo = "";
    this.#esmtp = false;
    this.#tx = undefined;
    this.#user = undefined;
    return NO_REPLY;
  }

  async #auth(args: string): Promise<SmtpReply> {
    if (!this.#conn.tls) return reply(538, "5.7.11", "Encryption required: use STARTTLS first");
    if (this.#user) return reply(503, "5.5.1", "Already authenticated");
    const result = await authExchange(
      this.#conn,
      args,
      (username, password) =>
        this.#ctx.authenticator.login({
          username,
          password,
          remoteAddress: this.#conn.remoteAddress,
          protocol: "smtp",
          connectionId: this.#conn.id,
        }),
    );
    if (result.user) this.#user = result.user;
    return result.reply;
  }

  #mail(args: string): SmtpReply {
    if (this.#role === "submission" && !this.#user) {
      return reply(530, "5.7.0", "Authentication required");
    }
    const { from, params } = parseMailCommand(args, { utf8Allowed: true });
    if (params.body === "BINARYMIME") return reply(555, "5.5.4", "BINARYMIME is not supported");
    const max = this.#ctx.config.maxMessageSize;
    if (params.size !== undefined && params.size > max) {
      this.#ctx.metrics?.rejected("size");
      return reply(552, "5.3.4", `Message size exceeds fixed maximum message size (${max})`);
    }
    const sender = from ? normalizeRecipient(from.local, from.domain) : "";
    if (this.#user && !maySendAs(this.#ctx.store, this.#user.address, sender)) {
      this.#ctx.metrics?.rejected("sender");
      return reply(553, "5.7.1", `Sender address <${sender}> not owned by ${this.#user.address}`);
    }
    const limited = this.#overSendLimit((user) => this.#ctx.sendLimits?.checkMessage(user));
    if (limited) return limited;
    this.#tx = { sender, params, recipients: [] };
    this.#state = "mail";
    return reply(250, "2.1.0", "Sender OK");
  }

  #rcpt(args: string): SmtpReply {
    const tx = this.#tx!;
    const { to } = parseRcptCommand(args, { utf8: tx.params.smtputf8 });
    if (tx.recipients.length >= MAX_RECIPIENTS) {
      return reply(452, "4.5.3", `Too many recipients (at most ${MAX_RECIPIENTS} per message)`);
    }
    const { store, config } = this.#ctx;
    // RFC 5321 §4.5.1: <Postmaster> without a domain is this server's postmaster, whoever asks.
    const postmaster = to.domain === "";
    const address = postmaster
      ? postmasterOf(store, config)
      : normalizeRecipient(to.local, to.domain);
    if (address === undefined) return reply(550, "5.1.1", "No postmaster configured here");
    const domain = address.slice(address.lastIndexOf("@") + 1);
    if (!postmaster && !isLocalDomain(store, domain) && !this.#user) {
      this.#ctx.metrics?.rejected("relay");
      return reply(554, "5.7.1", `Relay access denied for <${address}>`);
    }
    const routes = resolveRecipient(store, address, { postmaster: config.postmaster });
    if (!routes) {
      this.#ctx.metrics?.rejected("unknown_recipient");
      return reply(550, "5.1.1", `No such user here: <${address}>`);
    }
    // RFC 3463 4.2.2: a full mailbox is temporary; the sender tries again later (RFC 5321
    // §4.5.3.1.10 says 452 for lack of storage). The size is SIZE= when declared (RFC 1870).
    const full = this.#fullMailbox(routes, tx.params.size ?? 0);
    if (full) {
      this.#ctx.metrics?.rejected("quota");
      logger.info("{id} refused RCPT <{address}>: {user} is over quota", {
        id: this.#conn.id,
        address,
        user: full,
      });
      return reply(452, "4.2.2", `Mailbox full: <${address}> is over its storage quota`);
    }
    if (!tx.recipients.some((r) => r.address === address)) {
      const limited = this.#overSendLimit(
        (user) => this.#ctx.sendLimits?.checkRecipients(user, tx.recipients.length + 1),
        address,
      );
      if (limited) return limited;
      tx.recipients.push({ address, routes });
    }
    this.#state = "rcpt";
    return reply(250, "2.1.5", "Recipient OK");
  }

  async #data(args: string): Promise<SmtpReply> {
    if (args) return reply(501, "5.5.4", "DATA takes no arguments");
    const admitted = await this.#ctx.memory?.admit();
    try {
      return await this.#takeData();
    } finally {
      admitted?.();
    }
  }

  async #takeData(): Promise<SmtpReply> {
    await this.#send(reply(354, undefined, "End data with <CR><LF>.<CR><LF>"));
    this.#conn.idleTimeoutMs = this.#ctx.config.timeouts.smtpData;
    const content = await readDataContent(this.#conn, this.#ctx.config.maxMessageSize, {
      sizeHint: this.#tx!.params.size,
      reuse: this.#buffer,
    });
    if (content === null) {
      this.#reset();
      return reply(421, "4.4.2", "Connection closed in DATA");
    }
    if (content.violation === "dot-bare-lf") {
      this.#reset();
      return {
        ...reply(
          521,
          "5.5.2",
          'Bare <LF> after "." is not an end of data (RFC 5321 §2.3.8); closing',
        ),
        close: true,
      };
    }
    return await this.#finish(content);
  }

  async #bdat(args: string): Promise<SmtpReply> {
    let size: number;
    let last: boolean;
    try {
      ({ size, last } = parseBdatArgs(args));
    } catch (err) {
      // Without a valid size we cannot find the next command in the stream.
      if (err instanceof SmtpReplyError) return { ...err.reply, close: true };
      throw err;
    }
    this.#conn.idleTimeoutMs = this.#ctx.config.timeouts.smtpData;
    const tx = this.#tx;
    if (!tx || (this.#state !== "rcpt" && this.#state !== "bdat")) {
      await this.#skip(size);
      return this.#state === "mail"
        ? reply(554, "5.5.1", "No valid recipients")
        : reply(503, "5.5.1", this.#state === "connected" ? "Send EHLO first" : "Need MAIL first");
    }
    tx.bdat ??= {
      decoder: new DataDecoder(this.#ctx.config.maxMessageSize, {
        dotStuffed: false,
        sizeHint: tx.params.size,
        reuse: this.#buffer,
      }),
      carry: new Uint8Array(),
    };
    // The chunk is on its way; not reading it yet holds the client back through TCP.
    const admitted = await this.#ctx.memory?.admit();
    try {
      return await this.#takeChunk(tx.bdat, size, last);
    } finally {
      admitted?.();
    }
  }

  async #takeChunk(
    bdat: NonNullable<Transaction["bdat"]>,
    size: number,
    last: boolean,
  ): Promise<SmtpReply> {
    this.#state = "bdat";
    let remaining = size;
    while (remaining > 0) {
      let view = this.#conn.peek();
      if (view.length === 0) {
        if (!await this.#conn.fill()) {
          this.#reset();
          return reply(421, "4.4.2", "Connection closed in BDAT");
        }
        continue;
      }
      view = view.subarray(0, Math.min(view.length, remaining));
      remaining -= view.length;
      const input = bdat.carry.length > 0 ? concat(bdat.carry, view) : view;
      const used = bdat.decoder.feed(input, last && remaining === 0);
      bdat.carry = input.slice(used);
      this.#conn.consume(view.length);
    }
    if (!last) return reply(250, "2.0.0", `${size} octets received`);
    if (bdat.carry.length > 0) bdat.decoder.feed(bdat.carry, true);
    // A stored message ends with a line end, so POP3 sizes match what RETR sends.
    if (bdat.decoder.midLine) bdat.decoder.feed(CRLF, true);
    return await this.#finish(bdat.decoder.result());
  }

  async #skip(size: number): Promise<void> {
    let remaining = size;
    while (remaining > 0) {
      const n = Math.min(this.#conn.peek().length, remaining);
      this.#conn.consume(n);
      remaining -= n;
      if (remaining > 0 && !await this.#conn.fill()) return;
    }
  }

  /** Ends a transaction whose content has been read: refuse it or store it. */
  async #finish(content: MessageContent): Promise<SmtpReply> {
    const tx = this.#tx!;
    this.#reset();
    this.#buffer = undefined; // the buffer moves to the store's writer and comes back with the answer
    if (content.tooBig) {
      this.#ctx.metrics?.rejected("size");
      const max = this.#ctx.config.maxMessageSize;
      return reply(552, "5.3.4", `Message size exceeds fixed maximum message size (${max})`);
    }
    if (content.violation) {
      this.#ctx.metrics?.rejected("smuggling");
      logger.warn("{id} refused a message with {violation} from {remote}", {
        id: this.#conn.id,
        violation: content.violation,
        remote: this.#conn.remoteAddress,
      });
      return reply(
        550,
        "5.6.0",
        "Message refused: bare CR or LF next to a line end (SMTP smuggling)",
      );
    }
    const id = newMessageId();
    const date = new Date();
    const judged = await this.#judge(content.bytes, tx);
    if ("refuse" in judged) {
      this.#ctx.metrics?.rejected("policy");
      return judged.refuse;
    }
    // Without SIZE= the size was unknown at RCPT: a recipient it would take past their quota
    // does not get it, the others do, and the sender gets a DSN for that one.
    const full = this.#takeOutFull(tx, judged.bytes.length);
    if (full.length > 0 && tx.recipients.length === 0) {
      this.#ctx.metrics?.rejected("quota");
      return reply(452, "4.2.2", `Mailbox full: <${full.join(">, <")}> over storage quota`);
    }
    // The DSN attaches the header section; the message's buffer moves to the writer meanwhile.
    const fullHeader = full.length > 0 ? headerSection(judged.bytes).slice() : undefined;
    const listed = this.#user ? [] : (await this.#dnsbl ?? []).map((l) => l.zone);
    const groups = this.#junkGroups(tx, judged, listed);
    if (groups === "refuse") {
      this.#ctx.metrics?.rejected("policy");
      return reply(550, "5.7.1", "Message refused as spam by the recipient's filter");
    }
    let localCount = 0;
    let remoteCount = 0;
    try {
      for (const group of groups) {
        const accepted: Accepted = await acceptMessage(
          this.#ctx.commits,
          group.envelope,
          judged.bytes,
          {
            id,
            // Several stored copies (accounts judged differently) cannot share the one buffer.
            headroom: groups.length === 1 && judged.bytes === content.bytes ? HEADROOM : 0,
            dotLines: content.dotLines,
            mailbox: group.mailbox,
            // RFC 6409 §8: a submission server may complete what a client left out.
            extraHeaders: this.#role === "submission" && this.#user
              ? submissionHeaders(content.bytes, { hostname: this.#ctx.config.hostname, id, date })
              : group.headers,
            helo: this.#helo,
            remoteAddress: this.#conn.remoteAddress,
            hostname: this.#ctx.config.hostname,
            protocol: receivedProtocol({
              esmtp: this.#esmtp,
              tls: this.#conn.tls !== undefined,
              auth: this.#user !== undefined,
              utf8: tx.params.smtputf8,
            }),
            tls: this.#conn.tls,
            date,
          },
        );
        localCount += accepted.localCount;
        remoteCount += accepted.remoteCount;
        const buffer = accepted.body.buffer;
        if (groups.length === 1 && buffer.byteLength <= REUSE_LIMIT) {
          this.#buffer = new Uint8Array(buffer);
        }
      }
      if (remoteCount > 0) this.#ctx.outbound?.wake();
    } catch (err) {
      logger.error("{id} could not store message {msg}: {error}", {
        id: this.#conn.id,
        msg: id,
        error: (err as Error)?.stack ?? String(err),
      });
      this.#ctx.metrics?.rejected("store_error");
      return reply(451, "4.3.0", "Temporary failure storing the message, try again later");
    }
    this.#messages++;
    if (fullHeader) this.#bounceFull(tx.sender, full, fullHeader, date);
    if (this.#user) {
      this.#ctx.sendLimits?.record(this.#user.address, tx.recipients.length);
      learnCorrespondents(this.#ctx.store, this.#user.id, tx.recipients.map((r) => r.address));
    }
    this.#ctx.metrics?.accepted(this.#role);
    logger.info(
      "{id} accepted {msg} from=<{from}> to={to} size={size} local={local} remote={remote}{tls}{user}",
      {
        id: this.#conn.id,
        msg: id,
        from: tx.sender,
        to: tx.recipients.map((r) => `<${r.address}>`).join(","),
        size: content.size,
        local: localCount,
        remote: remoteCount,
        tls: this.#conn.tls ? ` tls=${this.#conn.tls.protocol}` : "",
        user: this.#user ? ` user=${this.#user.address}` : "",
      },
    );
    return reply(250, "2.0.0", `OK: queued as ${id}`);
  }

  /** Takes the recipients `bytes` more would take past a quota out of `tx`; gives them. */
  #takeOutFull(tx: Transaction, bytes: number): string[] {
    const full: string[] = [];
    tx.recipients = tx.recipients.filter((r) => {
      if (this.#fullMailbox(r.routes, bytes) === undefined) return true;
      full.push(r.address);
      return false;
    });
    if (full.length > 0) {
      logger.info("{id} not delivering to <{full}>: over quota with {bytes} bytes", {
        id: this.#conn.id,
        full: full.join(">, <"),
        bytes,
      });
    }
    return full;
  }

  /** Tells the sender, with a DSN, that the message did not reach the full mailboxes. */
  #bounceFull(sender: string, full: string[], original: Uint8Array, arrival: Date): void {
    try {
      const bounced = storeBounce(this.#ctx.store, this.#ctx.config, {
        sender,
        failed: full.map((recipient) => ({
          recipient,
          // Not retried: a final failure (5.2.2, as Postfix bounces a full mailbox).
          status: "5.2.2",
          diagnostic: "Mailbox full: the recipient is over their storage quota",
        })),
        arrivalDate: arrival,
        original,
      });
      if (bounced.stored) {
        for (const id of bounced.mailboxIds) this.#ctx.changes?.notify(id);
        if (bounced.queued) this.#ctx.outbound?.wake();
      }
    } catch (err) {
      logger.error("{id} could not store the over-quota DSN for <{sender}>: {error}", {
        id: this.#conn.id,
        sender,
        error: (err as Error)?.message ?? String(err),
      });
    }
  }

  /** The first local user among `routes` that `bytes` more would take past their quota. */
  #fullMailbox(routes: readonly Route[], bytes: number): string | undefined {
    const { store, config } = this.#ctx;
    const defaults = { bytes: config.limits.quotaBytes, messages: config.limits.quotaMessages };
    for (const route of routes) {
      if (route.kind !== "local") continue;
      const quota = userQuota(store, route.userId, defaults);
      if (quota && overQuota(quota, bytes)) return route.address;
    }
    return undefined;
  }

  /**
   * An authenticated user's MAIL or RCPT past an hourly send limit (on any
   * listener: AUTH on port 25 is submission too): 451 4.7.0, logged. Mail
   * from the outside is not limited.
   */
  #overSendLimit(
    check: (user: string) => SendRefusal | undefined,
    recipient?: string,
  ): SmtpReply | undefined {
    const user = this.#user?.address;
    const refusal = user === undefined ? undefined : check(user);
    if (!refusal) return undefined;
    logger.warn(
      "{id} refused {command} from {user}: {sent} {limit} in the last hour{asked}, limit {max}",
      {
        id: this.#conn.id,
        command: recipient === undefined ? "MAIL" : `RCPT <${recipient}>`,
        user,
        sent: refusal.sent,
        limit: refusal.limit,
        asked: refusal.limit === "recipients" ? ` + ${refusal.asked} in this message` : "",
        max: refusal.max,
      },
    );
    const now = this.#ctx.sendLimits!.now();
    return reply(451, "4.7.0", describeRefusal(user!, refusal, now));
  }

  /** On the MX listener, asks the `spam.dnsbl` lists about the client while the session goes on. */
  #startDnsbl(): void {
    const { config, resolver } = this.#ctx;
    if (this.#role !== "mx" || config.spam.dnsbl.length === 0 || !resolver) return;
    this.#dnsbl = dnsblListings(resolver, this.#conn.remoteAddress, config.spam.dnsbl, {
      limitMs: config.inbound.dnsBudgetMs,
    }).catch((err) => {
      logger.warn("{id} blocklist lookups failed: {error}", {
        id: this.#conn.id,
        error: (err as Error)?.message ?? String(err),
      });
      return [];
    });
  }

  /**
   * RCPT on the MX listener from a client on a `spam.dnsbl` list: 554 5.7.1
   * naming the list (RFC 5782 §2.1's use), for every recipient, before the
   * message is sent. Authenticated clients are never refused for it.
   */
  async #rcptUnlessListed(args: string): Promise<SmtpReply> {
    const listings = this.#user ? [] : await this.#dnsbl ?? [];
    // With dnsbl_action "junk" the listing is the junk filter's to weigh (#junkGroups).
    if (listings.length === 0 || this.#ctx.config.spam.dnsblAction === "junk") {
      return this.#rcpt(args);
    }
    const zones = listings.map((l) => l.zone).join(", ");
    this.#ctx.metrics?.rejected("dnsbl");
    logger.warn("{id} refused RCPT from {remote}: listed on {zones}", {
      id: this.#conn.id,
      remote: this.#conn.remoteAddress,
      zones,
    });
    return reply(
      554,
      "5.7.1",
      `Service unavailable; client [${this.#conn.remoteAddress}] blocked using ${zones}`,
    );
  }

  /**
   * On the MX listener with `spam.pregreet` set: waits that long before the
   * greeting and tells whether the client sent anything meanwhile (RFC 5321
   * §4.3.1: a client waits for the greeting; spam engines often do not), or
   * went away.
   */
  async #beforeGreeting(): Promise<"waited" | "talked" | "closed"> {
    const wait = this.#ctx.config.spam.pregreetMs;
    if (this.#role !== "mx" || wait <= 0) return "waited";
    const idle = this.#conn.idleTimeoutMs;
    this.#conn.idleTimeoutMs = wait;
    try {
      return await this.#conn.fill() ? "talked" : "closed";
    } catch (err) {
      if (err instanceof ConnectionTimeout) return "waited";
      throw err;
    } finally {
      this.#conn.idleTimeoutMs = idle;
    }
  }

  /**
   * The junk filter of each local account a message from the outside goes
   * to: recipients grouped by verdict, each group stored with its own
   * X-Postino-Spam field, spam filed into Junk; "refuse" when `spam.refuse`
   * is set and every recipient's filter scores the message at least that.
   * One group (as judged) for authenticated and submitted mail.
   */
  #junkGroups(
    tx: Transaction,
    judged: { bytes: Uint8Array; headers?: string; mailbox?: string },
    listedOn: readonly string[],
  ): { envelope: RoutedEnvelope; headers?: string; mailbox?: string }[] | "refuse" {
    const whole = [{ envelope: tx, headers: judged.headers, mailbox: judged.mailbox }];
    if (this.#role !== "mx" || this.#user) return whole;
    const verdicts = new Map<number, JunkVerdict | undefined>();
    const features = featuresOf(judged.bytes);
    let sender: SenderFacts | undefined;
    const senderFacts = () =>
      sender ??= receivedSenderFacts(
        judged.headers,
        judged.bytes,
        this.#conn.remoteAddress,
        this.#ctx.config.hostname,
      );
    for (const r of tx.recipients) {
      for (const route of r.routes) {
        if (route.kind !== "local" || verdicts.has(route.userId)) continue;
        let verdict: JunkVerdict | undefined;
        try {
          verdict = judgeJunk(this.#ctx.store, route.userId, features, senderFacts, listedOn);
          this.#ctx.metrics?.junkVerdict?.(
            verdict.by === undefined ? "undecided" : verdict.spam ? "spam" : "ham",
            verdict.by ?? "none",
          );
          // A decision is worth a line; an untrained filter's abstention, on every message, is not.
          const level = verdict.score === undefined ? "debug" : "info";
          logger[level]("{id} junk filter for {user}: {spam}{score} ({reason})", {
            id: this.#conn.id,
            user: route.address,
            spam: verdict.spam ? "spam" : "not spam",
            score: verdict.score === undefined ? "" : ` score=${verdict.score.toFixed(3)}`,
            reason: verdict.reason,
          });
        } catch (err) {
          // The filter's fault is ours: deliver unjudged, as for the authentication checks.
          logger.error("{id} junk filter failed for {user}: {error}", {
            id: this.#conn.id,
            user: route.address,
            error: (err as Error)?.stack ?? String(err),
          });
        }
        verdicts.set(route.userId, verdict);
      }
    }
    if (verdicts.size === 0) return whole;
    // Refused only when nobody else is concerned: every recipient local, every filter that sure.
    const refuseAt = this.#ctx.config.spam.refuseScore;
    const allLocal = tx.recipients.every((r) => r.routes.every((route) => route.kind === "local"));
    if (
      refuseAt !== undefined && allLocal &&
      [...verdicts.values()].every((v) => v?.score !== undefined && v.score >= refuseAt)
    ) {
      logger.info("{id} refused as spam by the filter of every recipient (score >= {at})", {
        id: this.#conn.id,
        at: refuseAt,
      });
      return "refuse";
    }
    // Remote routes travel with the first group; local ones with their account's verdict.
    const groups = new Map<
      string,
      { verdict?: JunkVerdict; recipients: Transaction["recipients"] }
    >();
    let first: string | undefined;
    for (const r of tx.recipients) {
      for (const route of r.routes) {
        const verdict = route.kind === "local" ? verdicts.get(route.userId) : undefined;
        const key = route.kind === "local" ? verdict?.header ?? "" : first ?? "";
        first ??= key;
        const group = groups.get(key) ?? { verdict, recipients: [] };
        groups.set(key, group);
        const same = group.recipients.find((x) => x.address === r.address);
        if (same) same.routes.push(route);
        else group.recipients.push({ address: r.address, routes: [route] });
      }
    }
    return [...groups.values()].map(({ verdict, recipients }) => ({
      envelope: { sender: tx.sender, recipients },
      headers: (judged.headers ?? "") + (verdict?.header ?? ""),
      mailbox: judged.mailbox ?? (verdict?.spam ? "Junk" : undefined),
    }));
  }

  /**
   * SPF, DKIM, DMARC and ARC for mail from the outside (MX without AUTH):
   * the verdict headers to add, the mailbox (Junk for DMARC quarantine), or
   * a refusal. Forged Authentication-Results of ours go from every message.
   */
  async #judge(
    bytes: Uint8Array,
    tx: Transaction,
  ): Promise<{ refuse: SmtpReply } | { bytes: Uint8Array; headers?: string; mailbox?: string }> {
    const { config, checker } = this.#ctx;
    const outside = this.#role === "mx" && !this.#user;
    // RFC 8601 §5: results claiming to come from us can only be forged, whoever sends them; our
    // junk filter's verdict, likewise, when it comes from the outside. One pass for both.
    bytes = removeFields(
      bytes,
      outside ? ["Authentication-Results", "X-Postino-Spam"] : "Authentication-Results",
      (value, name) => name === "X-Postino-Spam" || claimsToBe(value, config.hostname),
    );
    if (this.#role !== "mx" || this.#user || !config.inbound.checks || !checker) return { bytes };
    let checked;
    try {
      checked = await checker.check(bytes, {
        ip: this.#conn.remoteAddress,
        helo: this.#helo,
        sender: tx.sender,
        hostname: config.hostname,
        budgetMs: config.inbound.dnsBudgetMs,
      });
    } catch (err) {
      // A fault of the checker is ours, not the sender's: deliver, unjudged, and say so.
      logger.error("{id} authentication checks failed: {error}", {
        id: this.#conn.id,
        error: (err as Error)?.stack ?? String(err),
      });
      return { bytes };
    }
    const v = checked.verdicts;
    const decision = decide(v, config.inbound);
    logger.info("{id} spf={spf} dkim={dkim} dmarc={dmarc}{policy} arc={arc}: {decision}", {
      id: this.#conn.id,
      spf: v.spf,
      dkim: v.dkim.map((d) => `${d.result}(${d.domain})`).join(",") || "none",
      dmarc: v.dmarc,
      policy: v.dmarcPolicy ? ` p=${v.dmarcPolicy}` : "",
      arc: v.arc,
      decision: decision.action === "refuse"
        ? `${decision.code} ${decision.text}`
        : decision.mailbox
        ? `deliver to ${decision.mailbox} (${decision.why})`
        : "deliver",
    });
    if (decision.action === "refuse") {
      return { refuse: reply(decision.code, decision.enhanced, decision.text) };
    }
    return {
      bytes,
      headers: checked.headers,
      mailbox: decision.mailbox,
    };
  }

  static #help(): SmtpReply {
    return {
      code: 214,
      enhanced: "2.0.0",
      lines: [
        "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS AUTH",
        "See RFC 5321",
      ],
    };
  }

  static {
    const seq = (text: string) => () => reply(503, "5.5.1", text);
    const beforeHelo = (state: State) =>
      reply(503, "5.5.1", state === "connected" ? "Send EHLO first" : "Bad sequence of commands");
    COMMANDS = {
      EHLO: {
        states: IDLE,
        handler: (s, a) => s.#ehlo(a, true),
        outOfOrder: seq("Finish BDAT first"),
      },
      HELO: {
        states: IDLE,
        handler: (s, a) => s.#ehlo(a, false),
        outOfOrder: seq("Finish BDAT first"),
      },
      STARTTLS: {
        states: ["connected", "greeted"],
        handler: (s, a) => s.#startTls(a),
        outOfOrder: seq("STARTTLS not allowed during a mail transaction"),
      },
      AUTH: {
        states: ["greeted"],
        handler: (s, a) => s.#auth(a),
        outOfOrder: (state) =>
          state === "connected"
            ? beforeHelo(state)
            : reply(503, "5.5.1", "AUTH not allowed during a mail transaction"),
      },
      MAIL: {
        states: ["greeted"],
        handler: (s, a) => s.#mail(a),
        outOfOrder: (state) =>
          state === "connected" ? beforeHelo(state) : reply(503, "5.5.1", "Nested MAIL command"),
      },
      RCPT: {
        states: ["mail", "rcpt"],
        handler: (s, a) => s.#rcptUnlessListed(a),
        outOfOrder: (state) =>
          state === "connected" ? beforeHelo(state) : reply(503, "5.5.1", "Need MAIL first"),
      },
      DATA: {
        states: ["rcpt"],
        handler: (s, a) => s.#data(a),
        outOfOrder: (state) =>
          state === "mail"
            ? reply(554, "5.5.1", "No valid recipients")
            : state === "bdat"
            ? reply(503, "5.5.1", "DATA not allowed after BDAT")
            : state === "connected"
            ? beforeHelo(state)
            : reply(503, "5.5.1", "Need MAIL first"),
      },
      // BDAT checks its state itself: the chunk must be read even when it is refused.
      BDAT: { states: ANY, handler: (s, a) => s.#bdat(a), outOfOrder: seq("") },
      RSET: {
        states: ANY,
        handler: (s) => {
          s.#reset();
          return reply(250, "2.0.0", "Reset OK");
        },
        outOfOrder: seq(""),
      },
      NOOP: { states: ANY, handler: () => reply(250, "2.0.0", "OK"), outOfOrder: seq("") },
      QUIT: {
        states: ANY,
        handler: () => ({ ...reply(221, "2.0.0", "Bye"), close: true }),
        outOfOrder: seq(""),
      },
      VRFY: { states: IDLE, handler: vrfy, outOfOrder: seq("Finish BDAT first") },
      EXPN: { states: IDLE, handler: vrfy, outOfOrder: seq("Finish BDAT first") },
      HELP: { states: ANY, handler: () => SmtpSession.#help(), outOfOrder: seq("") },
    };
  }
}

/** RFC 5321 §3.5.3: 252 neither confirms nor denies, so VRFY reveals no user. */
function vrfy(_s: SmtpSession, args: string): SmtpReply {
  if (!args) return reply(501, "5.5.4", "Argument required");
  return reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
