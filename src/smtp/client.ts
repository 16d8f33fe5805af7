/**
 * The outbound SMTP client (RFC 5321) used by the queue runner: one
 * connection to one host, EHLO (HELO as a fallback), STARTTLS when offered
 * or required (RFC 3207), AUTH PLAIN/LOGIN to a relay (RFC 4954), PIPELINING
 * (RFC 2920), and one transaction per call with a reply per recipient.
 *
 * Timeouts follow RFC 5321 §4.5.3.2: 5 minutes for the greeting, MAIL and
 * RCPT, 2 for DATA, 3 per data block, 10 for the final reply.
 */
import net from "node:net";
import { Connection, ConnectionTimeout } from "../net/connection.ts";
import { dotStuff } from "../net/dot_stuff.ts";
import { connectionId } from "../net/listener.ts";

/** One reply from the server. */
export interface ClientReply {
  code: number;
  /** Enhanced status code when the server sent one (RFC 2034). */
  enhanced?: string;
  /** The text lines, without codes. */
  lines: string[];
}

/** How to treat TLS on the connection. */
export type ClientTls =
  /** STARTTLS when offered, plaintext otherwise (MX delivery). */
  | "opportunistic"
  /** STARTTLS or fail. */
  | "starttls"
  /** TLS from the first byte (RFC 8314). */
  | "implicit"
  | "none";

/** Connection settings. */
export interface ClientOptions {
  host: string;
  port: number;
  /** Our name in EHLO. */
  helo: string;
  tls: ClientTls;
  /** The name the certificate should carry (the MX or relay host name). @default host */
  servername?: string;
  /** AUTH to a relay; refused over a connection without TLS. */
  auth?: { user: string; password: string };
  /** Per-phase timeouts scaled down in tests. @default RFC 5321 values */
  timeouts?: Partial<typeof TIMEOUTS>;
}

/** RFC 5321 §4.5.3.2 minimum timeouts, in ms. */
const TIMEOUTS = {
  connect: 60_000,
  greeting: 300_000,
  command: 300_000,
  dataStart: 120_000,
  dataBlock: 180_000,
  dataEnd: 600_000,
};

/** A failure of the session itself (not a reply to one recipient). */
export class SmtpClientError extends Error {
  /** The reply that ended it, when there was one. */
  readonly reply?: ClientReply;
  /** True when trying again later (or another host) may help. */
  readonly temporary: boolean;

  constructor(message: string, options: { reply?: ClientReply; temporary: boolean }) {
    super(message);
    this.name = "SmtpClientError";
    this.reply = options.reply;
    this.temporary = options.temporary;
  }
}

/** The outcome of one transaction. */
export interface TransactionResult {
  /** The reply to each RCPT, by recipient. */
  recipients: Map<string, ClientReply>;
  /** The reply after the message data; absent when no recipient was accepted. */
  data?: ClientReply;
}

/** Formats a reply for logs and bounces: `550 5.1.1 No such user`. */
export function describeReply(r: ClientReply): string {
  return `${r.code}${r.enhanced ? ` ${r.enhanced}` : ""} ${r.lines.join(" ")}`.trim();
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();
const MAX_REPLY_LINE = 4096;

/** An open client session. */
export class SmtpClient {
  readonly #conn: Connection;
  readonly #options: ClientOptions;
  readonly #timeouts: typeof TIMEOUTS;
  #extensions = new Map<string, string>();
  #tlsVerified: { verified: boolean; reason?: string } | undefined;

  private constructor(conn: Connection, options: ClientOptions) {
    this.#conn = conn;
    this.#options = options;
    this.#timeouts = { ...TIMEOUTS, ...options.timeouts };
  }

  /** Connects, reads the greeting, says EHLO, starts TLS and authenticates as asked. */
  static async connect(options: ClientOptions): Promise<SmtpClient> {
    const timeouts = { ...TIMEOUTS, ...options.timeouts };
    const socket = await openSocket(options.host, options.port, timeouts.connect);
    const conn = new Connection(socket, {
      id: connectionId(),
      remoteAddress: socket.remoteAddress ?? options.host,
      remotePort: socket.remotePort ?? options.port,
      localAddress: socket.localAddress ?? "",
      localPort: socket.localPort ?? 0,
      idleTimeoutMs: timeouts.greeting,
    });
    const client = new SmtpClient(conn, options);
    try {
      await client.#open();
      return client;
    } catch (err) {
      conn.destroy();
      throw err;
    }
  }

  /** What the server advertised in EHLO, upper-cased keywords to parameters. */
  get extensions(): ReadonlyMap<string, string> {
    return this.#extensions;
  }

  /** TLS parameters and whether the certificate verified, once TLS is up. */
  get tls(): { protocol: string; cipher: string; verified: boolean; reason?: string } | undefined {
    const info = this.#conn.tls;
    return info && { ...info, verified: false, ...this.#tlsVerified };
  }

  async #open(): Promise<void> {
    const { tls, servername, host } = this.#options;
    if (tls === "implicit") this.#tlsVerified = await this.#conn.startTlsClient(servername ?? host);
    this.#conn.idleTimeoutMs = this.#timeouts.greeting;
    const greeting = await this.#read();
    if (greeting.code !== 220) throw failure("Greeting refused", greeting);
    await this.#hello();
    if (!this.#conn.tls && (tls === "starttls" || tls === "opportunistic")) {
      if (this.#extensions.has("STARTTLS")) {
        const r = await this.#command("STARTTLS");
        if (r.code === 220) {
          this.#tlsVerified = await this.#conn.startTlsClient(servername ?? host);
          await this.#hello();
        } else if (tls === "starttls") {
          throw failure("STARTTLS refused", r);
        }
      } else if (tls === "starttls") {
        throw new SmtpClientError("The server does not offer STARTTLS", { temporary: true });
      }
    }
    if (this.#options.auth) await this.#authenticate(this.#options.auth);
  }

  async #hello(): Promise<void> {
    let r = await this.#command(`EHLO ${this.#options.helo}`);
    this.#extensions = new Map();
    if (r.code === 250) {
      for (const line of r.lines.slice(1)) {
        const [keyword, ...params] = line.split(" ");
        this.#extensions.set(keyword.toUpperCase(), params.join(" "));
      }
      return;
    }
    // RFC 5321 §3.2: fall back to HELO when EHLO is not understood.
    r = await this.#command(`HELO ${this.#options.helo}`);
    if (r.code !== 250) throw failure("HELO refused", r);
  }

  async #authenticate(auth: { user: string; password: string }): Promise<void> {
    if (!this.#conn.tls) {
      throw new SmtpClientError("Refusing to send the relay password without TLS", {
        temporary: true,
      });
    }
    const mechanisms = (this.#extensions.get("AUTH") ?? "").toUpperCase().split(" ");
    let r: ClientReply;
    if (mechanisms.includes("PLAIN")) {
      r = await this.#command(`AUTH PLAIN ${b64(`\0${auth.user}\0${auth.password}`)}`);
    } else if (mechanisms.includes("LOGIN")) {
      r = await this.#command("AUTH LOGIN");
      if (r.code === 334) r = await this.#command(b64(auth.user));
      if (r.code === 334) r = await this.#command(b64(auth.password));
    } else {
      throw new SmtpClientError("The relay offers neither AUTH PLAIN nor LOGIN", {
        temporary: true,
      });
    }
    if (r.code !== 235) throw failure("Relay authentication failed", r);
  }

  /**
   * Sends one message: MAIL, RCPT for each recipient and DATA, pipelined
   * when the server offers PIPELINING. Recipients are accepted or refused
   * one by one; the data reply applies to all accepted ones.
   */
  async send(
    envelope: { from: string; to: string[]; smtputf8?: boolean; eightBit?: boolean },
    message: Uint8Array,
  ): Promise<TransactionResult> {
    const params: string[] = [];
    if (this.#extensions.has("SIZE")) params.push(`SIZE=${message.length}`);
    if (envelope.eightBit && this.#extensions.has("8BITMIME")) params.push("BODY=8BITMIME");
    if (envelope.smtputf8) params.push("SMTPUTF8");
    const mail = `MAIL FROM:<${envelope.from}>${params.map((p) => ` ${p}`).join("")}`;
    const rcpts = envelope.to.map((to) => `RCPT TO:<${to}>`);
    const recipients = new Map<string, ClientReply>();
    this.#conn.idleTimeoutMs = this.#timeouts.command;

    let mailReply: ClientReply;
    if (this.#extensions.has("PIPELINING")) {
      // RFC 2920 §3.1: MAIL, the RCPTs and DATA go out together; replies come in order.
      await this.#conn.write(encoder.encode([mail, ...rcpts, "DATA"].join("\r\n") + "\r\n"));
      mailReply = await this.#read();
      for (const to of envelope.to) recipients.set(to, await this.#read());
    } else {
      mailReply = await this.#command(mail);
      if (mailReply.code === 250) {
        for (const to of envelope.to) recipients.set(to, await this.#command(`RCPT TO:<${to}>`));
      }
    }
    if (mailReply.code !== 250) {
      if (this.#extensions.has("PIPELINING")) await this.#read(); // the reply to DATA
      await this.#reset();
      throw failure("Sender refused", mailReply);
    }
    const accepted = [...recipients.values()].some((r) => r.code === 250 || r.code === 251);
    this.#conn.idleTimeoutMs = this.#timeouts.dataStart;
    const dataReply = this.#extensions.has("PIPELINING")
      ? await this.#read()
      : accepted
      ? await this.#command("DATA")
      : undefined;
    if (!accepted || !dataReply || dataReply.code !== 354) {
      // RFC 2920 §3.1: with no recipient the server refuses DATA; nothing is sent.
      if (dataReply?.code === 354) await this.#conn.write(encoder.encode(".\r\n"));
      await this.#reset();
      if (accepted && dataReply) throw failure("DATA refused", dataReply);
      return { recipients };
    }
    this.#conn.idleTimeoutMs = this.#timeouts.dataBlock;
    await this.#writeData(message);
    this.#conn.idleTimeoutMs = this.#timeouts.dataEnd;
    return { recipients, data: await this.#read() };
  }

  /** Writes the message dot-stuffed (RFC 5321 §4.5.2) and the final ".". */
  async #writeData(message: Uint8Array): Promise<void> {
    const SLICE = 256 * 1024;
    let atLineStart = true;
    for (let offset = 0; offset < message.length; offset += SLICE) {
      const slice = message.subarray(offset, offset + SLICE);
      await this.#conn.write(dotStuff(slice, atLineStart));
      atLineStart = slice[slice.length - 1] === 0x0a;
    }
    const end = message.length > 0 && message[message.length - 1] !== 0x0a ? "\r\n.\r\n" : ".\r\n";
    await this.#conn.write(encoder.encode(end));
  }

  async #reset(): Promise<void> {
    await this.#command("RSET").catch(() => undefined);
  }

  /** Says QUIT and closes; never throws. */
  async quit(): Promise<void> {
    try {
      this.#conn.idleTimeoutMs = 10_000;
      await this.#command("QUIT");
    } catch {
      // The server may hang up first.
    }
    await this.#conn.close().catch(() => {});
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.#conn.destroy();
  }

  async #command(line: string): Promise<ClientReply> {
    await this.#conn.write(encoder.encode(`${line}\r\n`));
    return await this.#read();
  }

  /** Reads one (possibly multi-line) reply. */
  async #read(): Promise<ClientReply> {
    const lines: string[] = [];
    let code = 0;
    for (;;) {
      let line;
      try {
        line = await this.#conn.readLine(MAX_REPLY_LINE);
      } catch (err) {
        if (err instanceof ConnectionTimeout) {
          throw new SmtpClientError("Timed out waiting for the server", { temporary: true });
        }
        throw err;
      }
      if (line === null) {
        throw new SmtpClientError("The server closed the connection", { temporary: true });
      }
      const text = decoder.decode(line.bytes);
      const m = /^(\d{3})([ -]?)(.*)$/.exec(text);
      if (!m) {
        throw new SmtpClientError(`Malformed reply: ${text.slice(0, 80)}`, { temporary: true });
      }
      code = Number(m[1]);
      lines.push(m[3]);
      if (m[2] !== "-") break;
    }
    // RFC 2034: the enhanced code leads every line when the server uses them.
    const enhanced = /^([245]\.\d{1,3}\.\d{1,3}) /.exec(lines[0])?.[1];
    return {
      code,
      enhanced,
      lines: enhanced ? lines.map((l) => l.replace(/^[245]\.\d{1,3}\.\d{1,3} ?/, "")) : lines,
    };
  }
}

function failure(what: string, reply: ClientReply): SmtpClientError {
  return new SmtpClientError(`${what}: ${describeReply(reply)}`, {
    reply,
    temporary: reply.code < 500,
  });
}

function b64(text: string): string {
  return btoa(String.fromCharCode(...encoder.encode(text)));
}

/** Opens a TCP connection, bounded by `timeoutMs`. */
function openSocket(host: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SmtpClientError(`Connecting to ${host}:${port} timed out`, { temporary: true }));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(
        new SmtpClientError(`Cannot connect to ${host}:${port}: ${err.message}`, {
          temporary: true,
        }),
      );
    });
  });
}
