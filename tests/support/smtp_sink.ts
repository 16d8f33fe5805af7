/**
 * A remote MX (or smarthost) stand-in for the outbound delivery tests: a small
 * SMTP server on loopback that records every session and transaction and can
 * be scripted per connection, per recipient or per attempt.
 *
 * It is written from RFC 5321 for the tests, independent of `src/smtp/`:
 * EHLO/HELO, optional STARTTLS (RFC 3207) or implicit TLS, PIPELINING
 * (RFC 2920, which needs nothing more than reading commands in order), SIZE
 * (RFC 1870), 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), AUTH PLAIN (RFC 4954)
 * checking a given user and password, and dot-unstuffing of DATA.
 *
 * ```ts
 * await using sink = await startSmtpSink({ script: { rcpt: (to) => to.startsWith("x@") ? "550 5.1.1 No such user" : undefined } });
 * // serve --relay 127.0.0.1:${sink.port}
 * await sink.waitFor(() => sink.delivered.length === 1);
 * ```
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import { createSelfSigned } from "../../src/net/dev_cert.ts";

/** A reply line such as `"451 4.3.0 Try again later"`, or `"drop"` to hang up without one. */
export type SinkReply = string;

/** Where a scripted step happens. */
export interface SinkContext {
  /** The connection, numbered from 1 in the order they arrived. */
  connection: number;
  /**
   * How many times this step has been reached so far, this one included:
   * the connection number for the greeting, the n-th MAIL for MAIL, the n-th
   * RCPT of this address for RCPT, the n-th end of DATA for the data reply.
   */
  attempt: number;
}

/**
 * Replies to override; a hook that returns `undefined` gets the default
 * (`220` greeting, `250` otherwise). A greeting other than 220 is sent and
 * the connection closed.
 */
export interface SinkScript {
  greeting?(ctx: SinkContext): SinkReply | undefined;
  mail?(from: string, ctx: SinkContext): SinkReply | undefined;
  rcpt?(to: string, ctx: SinkContext): SinkReply | undefined;
  /** The reply after the final dot; the transaction is recorded whatever it says. */
  data?(tx: SinkTransaction, ctx: SinkContext): SinkReply | undefined;
}

/** Options of {@link startSmtpSink}. */
export interface SmtpSinkOptions {
  /** The address to bind. @default "127.0.0.1" */
  hostname?: string;
  /** The port to bind. @default 0 (a free port) */
  port?: number;
  /** The name in the greeting and EHLO reply. @default "sink.test" */
  name?: string;
  /** Offer STARTTLS (self-signed certificate). @default false */
  starttls?: boolean;
  /** TLS from the first byte (RFC 8314). @default false */
  implicitTls?: boolean;
  /** @default true */
  pipelining?: boolean;
  /** Advertise SIZE with this limit and refuse larger declared sizes. */
  size?: number;
  /** @default true */
  eightBitMime?: boolean;
  /** @default false */
  smtputf8?: boolean;
  /** Offer AUTH PLAIN (after TLS when STARTTLS is offered) and accept only this login. */
  auth?: { user: string; password: string };
  /** Wait this long before replying to the end of DATA. @default 0 */
  dataDelayMs?: number;
  /** Scripted replies; may be replaced later through `sink.script`. */
  script?: SinkScript;
}

/** One connection as the sink saw it. */
export interface SinkSession {
  connection: number;
  /** The last EHLO/HELO argument. */
  helo?: string;
  /** True once STARTTLS (or implicit TLS) is up. */
  tls: boolean;
  /** The user that authenticated, if one did. */
  auth?: string;
  /** Every command line received, in order (AUTH arguments masked). */
  commands: string[];
  /** True when a command came with more behind it although PIPELINING was not offered. */
  pipelinedUninvited: boolean;
}

/** One transaction that reached the end of DATA. */
export interface SinkTransaction {
  connection: number;
  helo?: string;
  tls: boolean;
  auth?: string;
  /** The reverse-path, without angle brackets ("" for the null sender). */
  mailFrom: string;
  /** The MAIL parameters, as sent (e.g. `["SIZE=123", "BODY=8BITMIME"]`). */
  mailParams: string[];
  /** The recipients accepted with 2xx, in order. */
  rcptTo: string[];
  /** The message as received, dot-unstuffed, lines ending in CRLF. */
  data: Uint8Array;
  /** The reply the sink gave after the final dot. */
  reply: string;
}

/** A running sink. */
export interface SmtpSink extends AsyncDisposable {
  readonly hostname: string;
  readonly port: number;
  /** `HOST:PORT`, as `--relay` takes it. */
  readonly address: string;
  /** The scripted replies; assign to change the behaviour of the next steps. */
  script: SinkScript;
  /** Every connection so far. */
  readonly sessions: readonly SinkSession[];
  /** Every transaction that reached the end of DATA, whatever the reply. */
  readonly transactions: readonly SinkTransaction[];
  /** The transactions answered with 2xx. */
  readonly delivered: readonly SinkTransaction[];
  /** Connections open now (one that said QUIT no longer counts). */
  readonly active: number;
  /** The most connections that were open at once. */
  readonly maxActive: number;
  /** Resolves when `predicate` holds (checked on every event); throws after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

let contextPromise: Promise<tls.SecureContext> | undefined;

/** One self-signed identity per test process: making it loads x509 code and a key pair. */
function secureContext(): Promise<tls.SecureContext> {
  contextPromise ??= createSelfSigned("sink.test").then(({ cert, key }) =>
    tls.createSecureContext({ cert, key, minVersion: "TLSv1.2" })
  );
  return contextPromise;
}

/** Buffers a socket's bytes and hands them out as lines (each with its line end). */
class LineReader {
  #buf: Uint8Array = EMPTY;
  #ended = false;
  #wake: (() => void) | undefined;

  push(chunk: Uint8Array): void {
    const next = new Uint8Array(this.#buf.length + chunk.length);
    next.set(this.#buf);
    next.set(chunk, this.#buf.length);
    this.#buf = next;
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  /** How many bytes wait to be read. */
  get buffered(): number {
    return this.#buf.length;
  }

  /** Forgets what was buffered (bytes pipelined after STARTTLS must not count). */
  discard(): void {
    this.#buf = EMPTY;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The next line with its LF, or null at the end of input. */
  async line(): Promise<Uint8Array | null> {
    for (;;) {
      const lf = this.#buf.indexOf(0x0a);
      if (lf >= 0) {
        const line = this.#buf.slice(0, lf + 1);
        this.#buf = this.#buf.slice(lf + 1);
        return line;
      }
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }
}

/** Strips CRLF (or a bare LF) from the end of a line. */
function chomp(line: Uint8Array): Uint8Array {
  let end = line.length;
  if (end > 0 && line[end - 1] === 0x0a) end--;
  if (end > 0 && line[end - 1] === 0x0d) end--;
  return line.subarray(0, end);
}

/** `<a@b> X=Y` -> the address and the parameters; undefined when malformed. */
function parsePath(rest: string): { address: string; params: string[] } | undefined {
  const m = /^\s*<([^<>]*)>(.*)$/.exec(rest);
  if (!m) return undefined;
  return { address: m[1], params: m[2].trim().split(/\s+/).filter(Boolean) };
}

/** Starts a sink on loopback. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const name = options.name ?? "sink.test";
  const pipelining = options.pipelining ?? true;
  const eightBitMime = options.eightBitMime ?? true;
  const context = options.starttls || options.implicitTls ? await secureContext() : undefined;
  const sessions: SinkSession[] = [];
  const transactions: SinkTransaction[] = [];
  const sockets = new Set<net.Socket>();
  const rcptCounts = new Map<string, number>();
  const releases = new Map<number, () => void>();
  const closing = new AbortController();
  const watchers = new Set<() => void>();
  let mailCount = 0;
  let dataCount = 0;
  let active = 0;
  let maxActive = 0;
  const state = { script: options.script ?? {} };

  const changed = () => {
    for (const w of watchers) w();
  };

  /** Waits `ms` unless the sink closes first. */
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ms <= 0 || closing.signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        closing.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      closing.signal.addEventListener("abort", done);
    });

  async function serve(raw: net.Socket, connection: number): Promise<void> {
    const session: SinkSession = {
      connection,
      tls: false,
      commands: [],
      pipelinedUninvited: false,
    };
    sessions.push(session);
    const reader = new LineReader();
    let socket: net.Socket | tls.TLSSocket = raw;
    const onData = (chunk: Uint8Array) => reader.push(chunk);
    const onEnd = () => reader.end();
    const attach = (s: net.Socket) => {
      s.on("data", onData);
      s.on("end", onEnd);
      s.on("error", onEnd);
      s.on("close", onEnd);
    };
    const detach = (s: net.Socket) => {
      s.off("data", onData);
      s.off("end", onEnd);
      s.off("close", onEnd);
    };
    const send = (text: string) =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) return resolve();
        socket.write(encoder.encode(text), () => resolve());
      });
    const secure = async () => {
      detach(socket);
      reader.discard();
      const wrapped = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
      socket = wrapped;
      attach(wrapped);
      await new Promise<void>((resolve, reject) => {
        wrapped.once("secure", resolve);
        wrapped.once("error", reject);
        wrapped.once("close", () => reject(new Error("closed during the TLS handshake")));
      });
      session.tls = true;
      changed();
    };
    /** Sends a scripted reply; false when the connection is to end. */
    const answer = async (scripted: SinkReply | undefined, fallback: string) => {
      const text = scripted ?? fallback;
      if (text === "drop") {
        socket.destroy();
        return false;
      }
      await send(`${text}\r\n`);
      return true;
    };

    attach(raw);
    if (options.implicitTls) await secure();
    const greeting = state.script.greeting?.({ connection, attempt: connection });
    if (!await answer(greeting, `220 ${name} ESMTP sink`)) return;
    if (greeting !== undefined && !greeting.startsWith("220")) {
      socket.end();
      return;
    }

    let mail: { address: string; params: string[] } | undefined;
    let rcpts: string[] = [];
    const reset = () => {
      mail = undefined;
      rcpts = [];
    };
    for (;;) {
      const line = await reader.line();
      if (line === null) return;
      const text = decoder.decode(chomp(line));
      const [verb, ...words] = text.split(" ");
      const rest = words.join(" ");
      const command = verb.toUpperCase();
      session.commands.push(command === "AUTH" ? `AUTH ${words[0] ?? ""} ***` : text);
      // RFC 2920 §3.1: without PIPELINING a client waits for each reply before the next command.
      if (!pipelining && reader.buffered > 0) session.pipelinedUninvited = true;
      changed();
      if (command === "EHLO" || command === "HELO") {
        session.helo = rest;
        reset();
        if (command === "HELO") {
          await send(`250 ${name}\r\n`);
          continue;
        }
        const ext: string[] = [];
        if (pipelining) ext.push("PIPELINING");
        if (options.size !== undefined) ext.push(`SIZE ${options.size}`);
        if (eightBitMime) ext.push("8BITMIME");
        if (options.smtputf8) ext.push("SMTPUTF8");
        if (options.starttls && !session.tls) ext.push("STARTTLS");
        if (options.auth && (session.tls || !options.starttls)) ext.push("AUTH PLAIN");
        ext.push("ENHANCEDSTATUSCODES");
        const all = [name, ...ext];
        await send(all.map((e, i) => `250${i === all.length - 1 ? " " : "-"}${e}\r\n`).join(""));
      } else if (command === "STARTTLS") {
        if (!options.starttls || session.tls) {
          await send("502 5.5.1 STARTTLS not offered\r\n");
          continue;
        }
        await send("220 2.0.0 Ready to start TLS\r\n");
        try {
          await secure();
        } catch {
          socket.destroy();
          return;
        }
        session.helo = undefined;
        reset();
      } else if (command === "AUTH") {
        if (!options.auth || (options.starttls && !session.tls)) {
          await send("503 5.5.1 AUTH not offered\r\n");
          continue;
        }
        if ((words[0] ?? "").toUpperCase() !== "PLAIN") {
          await send("504 5.5.4 Only PLAIN\r\n");
          continue;
        }
        let response = words[1];
        if (response === undefined) {
          await send("334 \r\n");
          const next = await reader.line();
          if (next === null) return;
          response = decoder.decode(chomp(next));
        }
        let parts: string[] = [];
        try {
          parts = decoder.decode(Uint8Array.from(atob(response), (c) => c.charCodeAt(0)))
            .split("\0");
        } catch {
          // not base64: refused below
        }
        if (parts[1] === options.auth.user && parts[2] === options.auth.password) {
          session.auth = parts[1];
          await send("235 2.7.0 Authentication successful\r\n");
        } else {
          await send("535 5.7.8 Authentication credentials invalid\r\n");
        }
        changed();
      } else if (command === "MAIL") {
        const path = /^FROM:/i.test(rest) ? parsePath(rest.slice(5)) : undefined;
        if (!path) {
          await send("501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
          continue;
        }
        const size = path.params.find((p) => /^SIZE=/i.test(p));
        if (options.size !== undefined && size && Number(size.slice(5)) > options.size) {
          await send("552 5.3.4 Message too big\r\n");
          continue;
        }
        if (path.params.some((p) => /^BODY=8BITMIME$/i.test(p)) && !eightBitMime) {
          await send("555 5.5.4 BODY=8BITMIME not offered\r\n");
          continue;
        }
        mailCount++;
        const scripted = state.script.mail?.(path.address, { connection, attempt: mailCount });
        if (!await answer(scripted, "250 2.1.0 Ok")) return;
        if (scripted === undefined || scripted.startsWith("2")) {
          mail = path;
          rcpts = [];
        }
      } else if (command === "RCPT") {
        const path = /^TO:/i.test(rest) ? parsePath(rest.slice(3)) : undefined;
        if (!mail) {
          await send("503 5.5.1 MAIL first\r\n");
          continue;
        }
        if (!path) {
          await send("501 5.5.4 Syntax: RCPT TO:<address>\r\n");
          continue;
        }
        const attempt = (rcptCounts.get(path.address) ?? 0) + 1;
        rcptCounts.set(path.address, attempt);
        const scripted = state.script.rcpt?.(path.address, { connection, attempt });
        if (!await answer(scripted, "250 2.1.5 Ok")) return;
        if (scripted === undefined || scripted.startsWith("2")) rcpts.push(path.address);
      } else if (command === "DATA") {
        if (!mail || rcpts.length === 0) {
          await send("554 5.5.1 No valid recipients\r\n");
          continue;
        }
        await send("354 End data with <CR><LF>.<CR><LF>\r\n");
        const chunks: Uint8Array[] = [];
        for (;;) {
          const dataLine = await reader.line();
          if (dataLine === null) return;
          const body = chomp(dataLine);
          if (body.length === 1 && body[0] === 0x2e) break;
          // RFC 5321 §4.5.2: a leading dot was doubled by the client.
          chunks.push(body[0] === 0x2e ? body.subarray(1) : body, encoder.encode("\r\n"));
        }
        const data = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let offset = 0;
        for (const c of chunks) {
          data.set(c, offset);
          offset += c.length;
        }
        await sleep(options.dataDelayMs ?? 0);
        dataCount++;
        const tx: SinkTransaction = {
          connection,
          helo: session.helo,
          tls: session.tls,
          auth: session.auth,
          mailFrom: mail.address,
          mailParams: mail.params,
          rcptTo: rcpts,
          data,
          reply: "",
        };
        const scripted = state.script.data?.(tx, { connection, attempt: dataCount });
        tx.reply = scripted ?? "250 2.0.0 Ok: queued";
        transactions.push(tx);
        reset();
        changed();
        if (!await answer(scripted, tx.reply)) return;
      } else if (command === "RSET") {
        reset();
        await send("250 2.0.0 Ok\r\n");
      } else if (command === "NOOP") {
        await send("250 2.0.0 Ok\r\n");
      } else if (command === "QUIT") {
        releases.get(connection)?.();
        await send("221 2.0.0 Bye\r\n");
        socket.end();
        return;
      } else {
        await send("500 5.5.2 Command not recognized\r\n");
      }
    }
  }

  const server = net.createServer((socket) => {
    sockets.add(socket);
    const connection = sessions.length + 1;
    active++;
    maxActive = Math.max(maxActive, active);
    changed();
    let counted = true;
    // A session stops counting at QUIT: the client may open its next one before our close runs.
    const release = () => {
      if (!counted) return;
      counted = false;
      active--;
      changed();
    };
    releases.set(connection, release);
    socket.on("error", () => {});
    socket.once("close", () => {
      sockets.delete(socket);
      release();
    });
    serve(socket, connection)
      .catch(() => socket.destroy())
      .finally(changed);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.hostname ?? "127.0.0.1", port: options.port ?? 0 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address() as net.AddressInfo;

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      closing.abort();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await done;
      // Let the sockets' close events run, so no handle outlives the sink.
      while (sockets.size > 0) await new Promise((r) => setTimeout(r, 5));
    })();
    return closed;
  };

  return {
    hostname: bound.address,
    port: bound.port,
    address: `${bound.address}:${bound.port}`,
    get script() {
      return state.script;
    },
    set script(script: SinkScript) {
      state.script = script;
    },
    sessions,
    transactions,
    get delivered() {
      return transactions.filter((t) => t.reply.startsWith("2"));
    },
    get active() {
      return active;
    },
    get maxActive() {
      return maxActive;
    },
    async waitFor(predicate, timeoutMs = 15_000, what = "the sink's condition") {
      let wake: () => void = () => {};
      let timer: ReturnType<typeof setTimeout> | undefined;
      const expired = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `Timed out after ${timeoutMs} ms waiting for ${what}; sink saw ${
                  JSON.stringify(sessions.map((s) => s.commands))
                }`,
              ),
            ),
          timeoutMs,
        );
      });
      try {
        while (!predicate()) {
          await Promise.race([new Promise<void>((r) => watchers.add(wake = r)), expired]);
          watchers.delete(wake);
        }
      } finally {
        watchers.delete(wake);
        clearTimeout(timer);
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A data script: `reply` for the first `n` transactions, then the default 250. */
export function failFirst(n: number, reply = "451 4.3.0 Try again later"): SinkScript["data"] {
  return (_tx, ctx) => ctx.attempt <= n ? reply : undefined;
}

/** The received message as text (UTF-8; test messages are ASCII or UTF-8). */
export function messageText(tx: SinkTransaction): string {
  return decoder.decode(tx.data);
}
