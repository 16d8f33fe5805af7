/**
 * Shared pieces of the black-box IMAP tests: a `postino serve --dev` with
 * IMAP, IMAPS, SMTP and POP3 on port 0 and two users, a driver for Python's
 * imaplib (imap_client.py), a bare IMAP client over Deno's sockets for
 * multi-session and IDLE checks, and test messages.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { run, USERS } from "./pop3_fixture.ts";
import { type RunningPostino, startPostino } from "./server.ts";

export { deliver, login as pop3Login, poplib, run, USERS } from "./pop3_fixture.ts";

const CLIENT_PY = new URL("./imap_client.py", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The listener flags of every IMAP test server. */
const LISTENER_ARGS = [
  "--imap",
  "127.0.0.1:0",
  "--imaps",
  "127.0.0.1:0",
  "--smtp",
  "127.0.0.1:0",
  "--pop3",
  "127.0.0.1:0",
];

/** A server with its bound ports. */
export interface ImapServer {
  server: RunningPostino;
  imap: number;
  imaps: number;
  smtp: number;
  pop3: number;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts `postino serve --dev` with IMAP, IMAPS, SMTP and POP3 on port 0 and
 * the users asked for (each `user add` is a process of its own, so only alice
 * unless a test needs bob).
 */
export async function startImapServer(
  options: { users?: (keyof typeof USERS)[]; env?: Record<string, string> } = {},
): Promise<ImapServer> {
  const server = await startPostino({ args: ["--dev", ...LISTENER_ARGS], env: options.env });
  try {
    const results = await Promise.all(
      (options.users ?? ["alice"]).map((name) =>
        server.cli(
          ["user", "add", USERS[name].address, "--password-stdin"],
          `${USERS[name].password}\n`,
        )
      ),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const { imap, imaps, smtp, pop3 } = server.addresses;
    assert.ok(imap && imaps && smtp && pop3, `listeners: ${JSON.stringify(server.addresses)}`);
    return {
      server,
      imap: imap.port,
      imaps: imaps.port,
      smtp: smtp.port,
      pop3: pop3.port,
      [Symbol.asyncDispose]: async () => await server[Symbol.asyncDispose](),
    };
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
}

// --- imaplib ---------------------------------------------------------------------------

/** One step of an imap_client.py job (see its docstring). */
export type ImapStep = { op: string; s?: string; [field: string]: unknown };

/** One step's result. */
export interface ImapResult {
  op: string;
  ok: boolean;
  error?: string;
  type?: string;
  /** What the server sent during the step. */
  wire: string;
  typ?: string;
  // deno-lint-ignore no-explicit-any
  data?: any[];
  text?: string;
  welcome?: string;
  capabilities?: string[];
  matched?: boolean;
  elapsed_ms?: number;
}

/** The real interpreter behind `python3` (a version manager's shim costs a third of a second). */
let python: Promise<string> | undefined;

function pythonPath(): Promise<string> {
  python ??= run("python3", ["-c", "import sys; print(sys.executable)"]).then((r) =>
    decoder.decode(r.stdout).trim() || "python3"
  );
  return python;
}

/** Runs an imaplib job; gives one result per step. */
export async function imaplib(steps: ImapStep[], timeoutMs = 60_000): Promise<ImapResult[]> {
  const r = await run(await pythonPath(), [CLIENT_PY], {
    stdin: JSON.stringify({ host: "127.0.0.1", steps }),
    timeoutMs,
  });
  assert.equal(r.code, 0, `imap_client.py failed: ${r.stderr}`);
  const results: ImapResult[] = JSON.parse(decoder.decode(r.stdout));
  assert.equal(results.length, steps.length);
  return results;
}

/** Asserts that a step succeeded (and, when imaplib gave one, with an OK). */
export function assertOk(r: ImapResult, what = r.op): ImapResult {
  assert.ok(r.ok, `${what} failed: ${r.type} ${r.error}\nwire:\n${r.wire}`);
  if (r.typ !== undefined) {
    // imaplib's logout() reports the BYE that precedes the tagged OK.
    const want = r.op === "logout" ? "BYE" : "OK";
    assert.equal(r.typ, want, `${what}: ${r.typ}\nwire:\n${r.wire}`);
  }
  return r;
}

/** Steps that connect session `s` to the plain listener and log `user` in. */
export function imapLogin(port: number, user: keyof typeof USERS = "alice", s = "a"): ImapStep[] {
  return [
    { s, op: "connect", port, tls: "plain" },
    { s, op: "login", user: USERS[user].address, password: USERS[user].password },
  ];
}

/** A step calling an imaplib method on session `s`. */
export function call(method: string, ...args: unknown[]): ImapStep {
  return { op: "call", method, args };
}

/** A step sending one raw command (imaplib adds the tag). */
export function raw(line: string, extra: Record<string, unknown> = {}): ImapStep {
  return { op: "raw", line, ...extra };
}

/** The untagged response lines of a wire transcript (literals stay inline). */
export function untagged(wire: string): string[] {
  return wire.split("\r\n").filter((l) => l.startsWith("* "));
}

// --- Messages -------------------------------------------------------------------------

/** Fields of a test message. */
export interface MessageFields {
  from?: string;
  to?: string;
  subject: string;
  body: string;
  date?: string;
  messageId?: string;
  headers?: Record<string, string>;
}

/** A small RFC 5322 message with CRLF line ends. */
export function message(f: MessageFields): Uint8Array {
  const head = [
    `From: ${f.from ?? "Sender <sender@remote.example>"}`,
    `To: ${f.to ?? "alice@localhost"}`,
    `Subject: ${f.subject}`,
    `Date: ${f.date ?? "Mon, 02 Mar 2026 10:00:00 +0000"}`,
    `Message-ID: ${f.messageId ?? `<${crypto.randomUUID()}@remote.example>`}`,
    ...Object.entries(f.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
  ];
  return encoder.encode(`${head.join("\r\n")}\r\n\r\n${f.body.replace(/\r?\n/g, "\r\n")}`);
}

/** Base64 of bytes or text (for job fields). */
export function b64(data: Uint8Array | string): string {
  return Buffer.from(typeof data === "string" ? encoder.encode(data) : data).toString("base64");
}

/** An imaplib argument passed as bytes. */
export function bytesArg(data: Uint8Array | string): { b64: string } {
  return { b64: b64(data) };
}

// --- A bare client -----------------------------------------------------------------------

/** How long a raw read may wait by default. */
const READ_TIMEOUT_MS = 10_000;

/** A tagged reply and the untagged responses before it. */
export interface Reply {
  status: string;
  /** The tagged line without tag and status. */
  text: string;
  untagged: string[];
}

/**
 * A bare IMAP client over Deno's sockets: sends lines as given and reads the
 * responses as they are, literals inlined into their line. One background
 * reader fills a buffer, so reads can time out without losing data.
 */
export class RawImap {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #closed = false;
  #wake: (() => void) | undefined;
  #pump: Promise<void>;
  #tags = 0;
  /** The greeting line. */
  greeting = "";

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    this.#pump = this.#read();
  }

  /** Connects to the plain listener on loopback and reads the greeting. */
  static async connect(port: number): Promise<RawImap> {
    const client = new RawImap(await Deno.connect({ hostname: "127.0.0.1", port }));
    client.greeting = await client.line();
    return client;
  }

  /** Connects and logs `user` in with LOGIN. */
  static async login(port: number, user: keyof typeof USERS = "alice"): Promise<RawImap> {
    const client = await RawImap.connect(port);
    const r = await client.command(
      `LOGIN ${USERS[user].address} ${JSON.stringify(USERS[user].password)}`,
    );
    assert.equal(r.status, "OK", `LOGIN: ${r.text}`);
    return client;
  }

  async #read(): Promise<void> {
    const chunk = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(chunk);
        if (n === null) break;
        const grown = new Uint8Array(this.#buf.length + n);
        grown.set(this.#buf);
        grown.set(chunk.subarray(0, n), this.#buf.length);
        this.#buf = grown;
        this.#wake?.();
      }
    } catch {
      // closed by us or reset by the peer: either way the input has ended
    } finally {
      this.#closed = true;
      this.#wake?.();
    }
  }

  /** Waits until the buffer changes or the input ends; false on timeout. */
  #more(until: number): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve(false);
      }, Math.max(0, until - Date.now()));
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve(true);
      };
    });
  }

  /** Sends text as is. */
  async send(text: string | Uint8Array): Promise<void> {
    const data = typeof text === "string" ? encoder.encode(text) : text;
    for (let sent = 0; sent < data.length;) sent += await this.#conn.write(data.subarray(sent));
  }

  /**
   * Reads one response line without its CRLF, with any literals it announces
   * inlined; null when nothing complete came within `timeoutMs`.
   */
  async tryLine(timeoutMs = READ_TIMEOUT_MS): Promise<string | null> {
    const until = Date.now() + timeoutMs;
    let offset = 0;
    for (;;) {
      const lf = this.#buf.indexOf(0x0a, offset);
      if (lf >= 0) {
        const m = /\{(\d+)\}\r$/.exec(decoder.decode(this.#buf.subarray(Math.max(0, lf - 24), lf)));
        if (!m) {
          const line = decoder.decode(this.#buf.subarray(0, lf)).replace(/\r$/, "");
          this.#buf = this.#buf.slice(lf + 1);
          return line;
        }
        const end = lf + 1 + Number(m[1]);
        if (this.#buf.length >= end) {
          offset = end;
          continue;
        }
      }
      if (!await this.#more(until)) {
        if (this.#closed && this.#buf.length === 0) throw new Error("Connection closed");
        if (Date.now() >= until || this.#closed) return null;
      }
    }
  }

  /** Reads one response line; fails the test when none comes in time. */
  async line(timeoutMs = READ_TIMEOUT_MS): Promise<string> {
    const line = await this.tryLine(timeoutMs);
    if (line === null) throw new Error(`No response line within ${timeoutMs} ms`);
    return line;
  }

  /** Sends a tagged command (tag added) and reads to its tagged reply. */
  async command(text: string, timeoutMs = READ_TIMEOUT_MS): Promise<Reply> {
    const tag = `r${++this.#tags}`;
    await this.send(`${tag} ${text}\r\n`);
    return await this.until(tag, timeoutMs);
  }

  /** Reads to the tagged reply of `tag`. */
  async until(tag: string, timeoutMs = READ_TIMEOUT_MS): Promise<Reply> {
    const untagged: string[] = [];
    for (;;) {
      const line = await this.line(timeoutMs);
      if (line.startsWith(`${tag} `)) {
        const [, status, text] = /^\S+ (\S+) ?(.*)$/.exec(line)!;
        return { status, text, untagged };
      }
      untagged.push(line);
    }
  }

  /** APPENDs a message with a LITERAL+ literal; gives the tagged reply. */
  async append(mailbox: string, bytes: Uint8Array, flags = ""): Promise<Reply> {
    const tag = `r${++this.#tags}`;
    const head = `${tag} APPEND ${mailbox}${flags ? ` ${flags}` : ""} {${bytes.length}+}\r\n`;
    const data = new Uint8Array(encoder.encode(head).length + bytes.length + 2);
    data.set(encoder.encode(head));
    data.set(bytes, data.length - bytes.length - 2);
    data.set(encoder.encode("\r\n"), data.length - 2);
    await this.send(data);
    return await this.until(tag);
  }

  /** Starts IDLE and reads its continuation. */
  async idle(): Promise<string> {
    const tag = `r${++this.#tags}`;
    this.#idleTag = tag;
    await this.send(`${tag} IDLE\r\n`);
    const cont = await this.line();
    assert.match(cont, /^\+/, `IDLE continuation: ${cont}`);
    return tag;
  }

  #idleTag = "";

  /**
   * Reads pushed lines until one matches `pattern`; gives the lines and how
   * long it took, or fails after `timeoutMs`.
   */
  async waitFor(pattern: RegExp, timeoutMs = 5_000): Promise<{ lines: string[]; ms: number }> {
    const start = performance.now();
    const lines: string[] = [];
    for (;;) {
      const left = timeoutMs - (performance.now() - start);
      const line = left > 0 ? await this.tryLine(left) : null;
      if (line === null) {
        throw new Error(`Nothing matching ${pattern} within ${timeoutMs} ms; got ${lines}`);
      }
      lines.push(line);
      if (pattern.test(line)) return { lines, ms: performance.now() - start };
    }
  }

  /** Ends IDLE with DONE (or `word`) and reads its tagged reply. */
  async done(word = "DONE"): Promise<Reply> {
    await this.send(`${word}\r\n`);
    return await this.until(this.#idleTag);
  }

  /** Logs out (if still connected) and closes; waits for the reader to stop. */
  async close(): Promise<void> {
    if (!this.#closed) {
      try {
        await this.command("LOGOUT", 2_000);
      } catch {
        // the peer is gone or slow: close anyway
      }
    }
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    await this.#pump;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
