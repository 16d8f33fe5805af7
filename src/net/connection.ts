/**
 * The line-oriented connection every protocol session talks through. It wraps
 * any node Duplex: a `node:net` socket in production, one end of an in-memory
 * `duplexPair()` in tests.
 *
 * Invariants:
 * - Input is buffered here, at most {@link HIGH_WATER} bytes before the socket
 *   is paused, so a client cannot make us hold unbounded data.
 * - `startTls()` discards whatever was buffered before the handshake: bytes
 *   pipelined after STARTTLS/STLS must never be read as commands (CVE-2011-0411).
 * - Output is queued and sent before any read waits, so replies to pipelined
 *   commands are batched but never held back while we wait for the client.
 * - Reads that wait longer than `idleTimeoutMs` throw {@link ConnectionTimeout};
 *   reads at end of input return null (lines) or throw {@link ConnectionClosed}.
 * - After `shutdown()`, a read that waits for a new command throws
 *   {@link ConnectionShutdown}; reads inside a command go on until the end.
 */
import type { Duplex } from "node:stream";
import { isIP } from "node:net";
import tls from "node:tls";

/** Pause the socket when this much unread input is buffered. */
const HIGH_WATER = 256 * 1024;
/** Send queued output once this much has piled up. */
const FLUSH_AT = 64 * 1024;
/** Queued pieces smaller than this are copied together into one write; larger ones go as they are. */
const JOIN_BELOW = 16 * 1024;

/** Negotiated TLS parameters, for logs and Received headers. */
export interface TlsInfo {
  protocol: string;
  cipher: string;
}

/** The peer closed the connection in the middle of something. */
export class ConnectionClosed extends Error {
  constructor() {
    super("Connection closed by peer");
    this.name = "ConnectionClosed";
  }
}

/** Nothing arrived within the idle timeout. */
export class ConnectionTimeout extends Error {
  constructor() {
    super("Connection timed out");
    this.name = "ConnectionTimeout";
  }
}

/** The server is shutting down and wants this session to end. */
export class ConnectionShutdown extends Error {
  constructor() {
    super("Server shutting down");
    this.name = "ConnectionShutdown";
  }
}

/** One input line without its terminator. */
export interface Line {
  bytes: Uint8Array;
  /** The line ended in CRLF (false: a bare LF). */
  crlf: boolean;
  /** The line was longer than the limit; `bytes` holds only its beginning. */
  tooLong: boolean;
}

/** Options of a read that may wait for input. */
export interface ReadOptions {
  /** This read waits for a new command, so a server shutdown may interrupt it. */
  betweenCommands?: boolean;
}

/** What a {@link Connection} knows about its peer. */
export interface ConnectionInfo {
  id: string;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** @default 300000 */
  idleTimeoutMs?: number;
  /** Set when the socket is already TLS (implicit TLS listeners). */
  tls?: TlsInfo;
}

const LF = 0x0a;
const CR = 0x0d;

/** A buffered, line-oriented connection over a node Duplex. */
export class Connection {
  readonly id: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
  /** Idle timeout for reads, in milliseconds; sessions may change it. */
  idleTimeoutMs: number;
  #tls: TlsInfo | undefined;
  #socket: Duplex;
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;
  #eof = false;
  #closed = false;
  #wake: (() => void) | undefined;
  #shutdown = false;
  #pending: (string | Uint8Array)[] = [];
  #pendingBytes = 0;
  #waitingBetweenCommands = false;
  #closedPromise: Promise<void>;
  #resolveClosed!: () => void;
  #onData = (chunk: Uint8Array) => this.#push(chunk);
  #onEnd = () => {
    this.#eof = true;
    this.#notify();
  };

  constructor(socket: Duplex, info: ConnectionInfo) {
    this.id = info.id;
    this.remoteAddress = info.remoteAddress;
    this.remotePort = info.remotePort;
    this.localAddress = info.localAddress;
    this.localPort = info.localPort;
    this.idleTimeoutMs = info.idleTimeoutMs ?? 300_000;
    this.#tls = info.tls;
    this.#socket = socket;
    this.#closedPromise = new Promise((resolve) => this.#resolveClosed = resolve);
    this.#attach(socket);
  }

  /** TLS parameters once TLS is active, else undefined. */
  get tls(): TlsInfo | undefined {
    return this.#tls;
  }

  /** Resolves when the socket has closed. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  /** True once the socket has closed or been destroyed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** How many unread bytes are buffered (pipelined input waiting). */
  get buffered(): number {
    return this.#end - this.#start;
  }

  #attach(socket: Duplex): void {
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onEnd);
    socket.on("close", () => {
      if (socket !== this.#socket) return;
      this.#closed = true;
      this.#onEnd();
      this.#resolveClosed();
    });
  }

  #detach(socket: Duplex): void {
    socket.off("data", this.#onData);
    socket.off("end", this.#onEnd);
  }

  #push(chunk: Uint8Array): void {
    const unread = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buf.length) {
      if (unread + chunk.length <= this.#buf.length && this.#start > 0) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(this.#buf.length * 2, unread + chunk.length));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      }
      this.#start = 0;
      this.#end = unread;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.length;
    if (this.#end - this.#start >= HIGH_WATER) this.#socket.pause();
    this.#notify();
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** The unread input, as a view that is valid until the next read or consume. */
  peek(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Marks `n` bytes of {@link peek} as read. */
  consume(n: number): void {
    this.#start += Math.min(n, this.#end - this.#start);
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#end - this.#start < HIGH_WATER && this.#socket.isPaused()) this.#socket.resume();
  }

  /**
   * Waits until more input than is buffered now has arrived. Returns false at
   * end of input; throws on idle timeout or (between commands) on shutdown.
   */
  async fill(options: ReadOptions = {}): Promise<boolean> {
    if (this.#eof) return false;
    if (options.betweenCommands && this.#shutdown) throw new ConnectionShutdown();
    const before = this.#end - this.#start;
    await this.flush();
    // Input may have arrived while the output drained.
    if (this.#end - this.#start > before) return true;
    if (this.#eof) return false;
    if (this.#socket.isPaused()) this.#socket.resume();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      this.#waitingBetweenCommands = options.betweenCommands ?? false;
      await new Promise<void>((resolve, reject) => {
        this.#wake = resolve;
        timer = setTimeout(() => reject(new ConnectionTimeout()), this.idleTimeoutMs);
      });
    } finally {
      clearTimeout(timer);
      this.#waitingBetweenCommands = false;
    }
    if (options.betweenCommands && this.#shutdown && this.#end - this.#start === before) {
      throw new ConnectionShutdown();
    }
    return this.#end - this.#start > before || !this.#eof;
  }

  /**
   * Reads one line ending in LF (CRLF or bare LF; the caller decides whether
   * a bare LF is acceptable). A line longer than `maxLength` octets is read to
   * its end and returned truncated with `tooLong` set, so the session can
   * answer and go on. Returns null at end of input; a final unterminated
   * fragment is discarded.
   */
  async readLine(maxLength: number, options: ReadOptions = {}): Promise<Line | null> {
    let scanned = 0;
    let skipped = 0; // bytes of an over-long line already thrown away
    let head: Uint8Array | undefined;
    for (;;) {
      const view = this.peek();
      const lf = view.indexOf(LF, scanned);
      if (lf >= 0) {
        const crlf = lf > 0 && view[lf - 1] === CR;
        const body = view.subarray(0, crlf ? lf - 1 : lf);
        const tooLong = skipped > 0 || body.length > maxLength;
        const bytes = head ?? body.slice(0, Math.min(body.length, maxLength));
        this.consume(lf + 1);
        return { bytes, crlf, tooLong };
      }
      if (view.length > maxLength + 1) {
        // Keep the beginning for the error message, drop the rest as it streams in.
        head ??= view.slice(0, maxLength);
        skipped += view.length - 1;
        this.consume(view.length - 1); // keep a possible CR before the LF
        scanned = 1;
      } else {
        scanned = view.length;
      }
      if (!await this.fill(options)) return null;
    }
  }

  /** Reads exactly `n` bytes (BDAT chunks, IMAP literals); throws ConnectionClosed at EOF. */
  async readExact(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const view = this.peek();
      const take = Math.min(view.length, n - got);
      out.set(view.subarray(0, take), got);
      got += take;
      this.consume(take);
      if (got < n && !await this.fill()) throw new ConnectionClosed();
    }
    return out;
  }

  /**
   * Queues output for the peer. Output is sent when a read has to wait for
   * input, on {@link flush}, on close, or once enough has piled up, so the
   * replies to pipelined commands leave in one packet (RFC 2920 §3.2).
   * Awaiting it gives backpressure for large outputs. Writes after close are dropped.
   */
  write(data: string | Uint8Array): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#pending.push(data);
    this.#pendingBytes += data.length;
    return this.#pendingBytes >= FLUSH_AT ? this.flush() : Promise.resolve();
  }

  /**
   * Sends queued output; waits while the socket's send buffer is full, at
   * most `idleTimeoutMs`, then drops the connection with {@link ConnectionTimeout}.
   */
  async flush(): Promise<void> {
    const socket = this.#socket;
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#closed || socket.destroyed || socket.writableEnded) return;
    // Bytes, not strings: node:net's string path costs a third more per write here. Runs of
    // strings are encoded together (one encode per string costs more than the text itself
    // when a FETCH writes thousands of short ones); small pieces go out joined, large ones
    // (message bodies) uncopied: each write to the socket costs more than copying 16 KiB.
    const chunks = joinSmall(encodeRuns(pending));
    if (chunks.length === 1) {
      socket.write(chunks[0]);
    } else {
      socket.cork();
      for (const chunk of chunks) socket.write(chunk);
      socket.uncork();
    }
    if (!socket.writableNeedDrain) return;
    // A peer that stops reading must not hold the session (and its locks) forever.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        socket.destroy();
        reject(new ConnectionTimeout());
      }, this.idleTimeoutMs);
      const done = () => {
        clearTimeout(timer);
        socket.off("drain", done);
        socket.off("close", done);
        resolve();
      };
      socket.on("drain", done);
      socket.on("close", done);
    });
  }

  /**
   * Upgrades to TLS as the server (STARTTLS, STLS). Unread input is discarded
   * first and its size returned, so the session can log an injection attempt.
   */
  async startTls(secureContext: tls.SecureContext): Promise<number> {
    return await this.#upgrade(
      (raw) => new tls.TLSSocket(raw as never, { isServer: true, secureContext }),
      "secure",
    );
  }

  /**
   * Upgrades to TLS as the client (outbound STARTTLS, implicit TLS to a
   * relay). The certificate is checked but a failed check does not stop the
   * handshake: the caller decides what an unverified peer may be trusted
   * with, from `verified` and `reason`.
   */
  async startTlsClient(
    servername: string,
  ): Promise<{ verified: boolean; reason?: string }> {
    await this.#upgrade(
      (raw) =>
        tls.connect({
          socket: raw as never,
          servername: isIp(servername) ? undefined : servername,
          rejectUnauthorized: false,
          minVersion: "TLSv1.2",
        }),
      "secureConnect",
    );
    const secure = this.#socket as tls.TLSSocket;
    const reason = secure.authorizationError ? String(secure.authorizationError) : undefined;
    return { verified: secure.authorized, reason };
  }

  /**
   * Wraps the socket in TLS and waits for the handshake (`done` is the event
   * that says it finished), at most the idle timeout. Input buffered before
   * is discarded: bytes sent before the handshake must never count
   * (CVE-2011-0411). Returns how many bytes were discarded.
   */
  async #upgrade(wrap: (raw: Duplex) => tls.TLSSocket, done: string): Promise<number> {
    await this.flush();
    const discarded = this.buffered;
    this.#start = this.#end = 0;
    const raw = this.#socket;
    this.#detach(raw);
    const secure = wrap(raw);
    this.#socket = secure;
    this.#attach(secure);
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => {
        secure.destroy();
        settle(new ConnectionTimeout());
      }, this.idleTimeoutMs);
      secure.once(done, () => settle());
      secure.once("error", (err) => settle(err));
      secure.once("close", () => settle(new ConnectionClosed()));
    });
    this.#tls = describeTls(secure);
    return discarded;
  }

  /**
   * Asks the session to end: a read waiting for the next command throws
   * {@link ConnectionShutdown} now or as soon as it starts waiting.
   */
  shutdown(): void {
    this.#shutdown = true;
    if (this.#waitingBetweenCommands) this.#notify();
  }

  /** Ends the connection after pending writes; destroys it if the peer does not close. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#socket.end();
    const timer = setTimeout(() => this.#socket.destroy(), 2000);
    await this.#closedPromise;
    clearTimeout(timer);
  }

  /** Drops the connection at once; queued output is lost. */
  destroy(): void {
    this.#pending = [];
    this.#socket.destroy();
  }
}

const encoder = new TextEncoder();

/** Joins byte arrays of `total` bytes in all into one. */
/** The pieces as bytes, each run of consecutive strings encoded as one. */
function encodeRuns(pieces: (string | Uint8Array)[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: string[] = [];
  for (const piece of pieces) {
    if (typeof piece === "string") {
      run.push(piece);
      continue;
    }
    if (run.length > 0) out.push(encoder.encode(run.join("")));
    run = [];
    out.push(piece);
  }
  if (run.length > 0) out.push(encoder.encode(run.join("")));
  return out;
}

/** The parts with each run of ones under JOIN_BELOW bytes copied into one. */
function joinSmall(parts: Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const endRun = () => {
    if (run.length === 1) out.push(run[0]);
    else if (run.length > 1) out.push(join(run, runBytes));
    run = [];
    runBytes = 0;
  };
  for (const part of parts) {
    if (part.length >= JOIN_BELOW) {
      endRun();
      out.push(part);
    } else {
      run.push(part);
      runBytes += part.length;
    }
  }
  endRun();
  return out;
}

function join(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** True for an IP address literal (SNI must not carry one, RFC 6066 §3). */
function isIp(host: string): boolean {
  return isIP(host) !== 0;
}

/** The negotiated protocol and cipher of a TLS socket. */
export function describeTls(socket: tls.TLSSocket): TlsInfo {
  return {
    protocol: socket.getProtocol() ?? "TLS",
    cipher: socket.getCipher()?.standardName ?? socket.getCipher()?.name ?? "unknown",
  };
}
