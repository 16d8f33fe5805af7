/**
 * Shared pieces of the black-box POP3 tests: a `postino serve` with POP3,
 * POP3S and MX listeners and two users, a driver for Python's poplib and
 * smtplib (pop3_client.py), the test messages, and bounded child processes.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { type RunningPostino, startPostino } from "./server.ts";

const CLIENT_PY = new URL("./pop3_client.py", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Users and their passwords; bob's has spaces (RFC 1939 §7 allows them in PASS). */
export const USERS = {
  alice: { address: "alice@localhost", password: "alice-secret" },
  bob: { address: "bob@localhost", password: "bob has a long secret" },
} as const;

/** The listener flags of every POP3 test server. */
const LISTENER_ARGS = ["--pop3", "127.0.0.1:0", "--pop3s", "127.0.0.1:0", "--smtp", "127.0.0.1:0"];

/** A server with its three bound ports. */
export interface Pop3Server {
  server: RunningPostino;
  pop3: number;
  pop3s: number;
  smtp: number;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts `postino serve --dev` with POP3, POP3S and SMTP on port 0. With
 * `addUsers` (the default) alice and bob are created; pass a `dataDir` to
 * restart on the data of an earlier run, `env` for POSTINO_* settings.
 */
export async function startPop3Server(
  options: { dataDir?: string; addUsers?: boolean; env?: Record<string, string> } = {},
): Promise<Pop3Server> {
  const server = await startPostino({
    args: ["--dev", ...LISTENER_ARGS],
    dataDir: options.dataDir,
    env: options.env,
  });
  try {
    if (options.addUsers ?? true) {
      const results = await Promise.all(
        Object.values(USERS).map((u) =>
          server.cli(["user", "add", u.address, "--password-stdin"], `${u.password}\n`)
        ),
      );
      for (const r of results) assert.equal(r.code, 0, r.stderr);
    }
    const { pop3, pop3s, smtp } = server.addresses;
    assert.ok(pop3 && pop3s && smtp, `listeners: ${JSON.stringify(server.addresses)}`);
    return {
      server,
      pop3: pop3.port,
      pop3s: pop3s.port,
      smtp: smtp.port,
      [Symbol.asyncDispose]: async () => await server[Symbol.asyncDispose](),
    };
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
}

// --- Child processes ------------------------------------------------------------

/** What a finished child printed. */
export interface RunResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/** Runs a command with a deadline (killed after `timeoutMs`); never inherits stdio. */
export async function run(
  cmd: string,
  args: string[],
  options: { stdin?: string | Uint8Array; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let killed = false;
  const timer = setTimeout(() => {
    killed = true;
    child.kill("SIGKILL");
  }, options.timeoutMs ?? 30_000);
  try {
    if (options.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(
        typeof options.stdin === "string" ? encoder.encode(options.stdin) : options.stdin,
      )
        .catch(() => {});
      await w.close().catch(() => {});
    }
    const out = await child.output();
    const stderr = decoder.decode(out.stderr);
    assert.ok(!killed, `${cmd} ${args.join(" ")} timed out; stderr:\n${stderr}`);
    return { code: out.code, stdout: out.stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** The real interpreter behind `python3` (a version manager's shim costs a third of a second). */
let python: Promise<string> | undefined;

function pythonPath(): Promise<string> {
  python ??= run("python3", ["-c", "import sys; print(sys.executable)"]).then((r) =>
    decoder.decode(r.stdout).trim() || "python3"
  );
  return python;
}

// --- poplib / smtplib --------------------------------------------------------------

/** One step of a pop3_client.py job (see its docstring). */
export type Step = { op: string; s?: string; [field: string]: unknown };

/** One step's result. */
export interface StepResult {
  op: string;
  ok: boolean;
  error?: string;
  type?: string;
  resp?: string;
  resps?: string[];
  lines?: string[];
  capa?: Record<string, string[]>;
  count?: number;
  size?: number;
  octets?: number;
  length?: number;
  /** retr/top: the message, base64 (decode with {@link dataOf}). */
  data?: string;
}

/** Runs a poplib/smtplib job; gives one result per step. */
export async function poplib(steps: Step[], timeoutMs = 60_000): Promise<StepResult[]> {
  const r = await run(await pythonPath(), [CLIENT_PY], {
    stdin: JSON.stringify({ host: "127.0.0.1", steps }),
    timeoutMs,
  });
  assert.equal(r.code, 0, `pop3_client.py failed: ${r.stderr}`);
  const results: StepResult[] = JSON.parse(decoder.decode(r.stdout));
  assert.equal(results.length, steps.length);
  return results;
}

/** The message bytes of a retr/top result. */
export function dataOf(r: StepResult): Uint8Array {
  assert.ok(r.ok, `${r.op} failed: ${r.error}`);
  return new Uint8Array(Buffer.from(r.data ?? "", "base64"));
}

/** Asserts that every result succeeded. */
export function assertAllOk(results: StepResult[]): void {
  results.forEach((r, i) => assert.ok(r.ok, `step ${i} (${r.op}) failed: ${r.type} ${r.error}`));
}

/** Steps that log `user` in on session `s` over plain POP3 with USER/PASS. */
export function login(port: number, user: keyof typeof USERS = "alice", s = "a"): Step[] {
  return [
    { s, op: "connect", port, tls: "plain" },
    { s, op: "user", arg: USERS[user].address },
    { s, op: "pass", arg: USERS[user].password },
  ];
}

/** A message to deliver over SMTP: its bytes, or a DATA with no content at all. */
export type Outgoing = Uint8Array | "empty";

/** An SMTP step delivering `message` to `to` (8BITMIME when the message has 8-bit bytes). */
export function smtpStep(port: number, message: Outgoing, to: string = USERS.alice.address): Step {
  const base = { op: "smtp", port, sender: "sender@remote.example", recipients: [to] };
  if (message === "empty") return { ...base, empty: true };
  const eightBit = message.some((b) => b > 0x7f);
  return {
    ...base,
    options: eightBit ? ["BODY=8BITMIME"] : [],
    message_b64: Buffer.from(message).toString("base64"),
  };
}

/** Delivers messages to `to`, in order, over the MX listener. */
export async function deliver(port: number, messages: Outgoing[], to?: string): Promise<void> {
  assertAllOk(await poplib(messages.map((m) => smtpStep(port, m, to))));
}

/** What the SMTP client put on the wire, as the server stores it (smtplib adds a final CRLF). */
export function accepted(message: Outgoing): Uint8Array {
  if (message === "empty") return new Uint8Array();
  const n = message.length;
  if (n >= 2 && message[n - 2] === 0x0d && message[n - 1] === 0x0a) return message;
  return concat(message, encoder.encode("\r\n"));
}

// --- Messages -------------------------------------------------------------------------

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytes(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Lines starting with ".", a line that is only ".", and a body ending in such a line. */
export const DOTTED = bytes(
  "From: dots@remote.example\r\nSubject: dots\r\n\r\n" +
    ".leading dot\r\n..two dots\r\n.\r\nmiddle\r\n...\r\n. space\r\nend.\r\n.\r\n",
);

/** UTF-8 text and raw Latin-1 octets in the body (sent with BODY=8BITMIME). */
export const EIGHT_BIT = concat(
  bytes(
    "From: eight@remote.example\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n" +
      "Content-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln, 日本語, emoji 📬\r\n",
  ),
  new Uint8Array([0x4c, 0x61, 0x74, 0x69, 0x6e, 0x2d, 0x31, 0x3a, 0x20, 0xe9, 0xfc, 0xff, 0xa0]),
  bytes("\r\n.\xa0dot then nbsp\r\n"),
);

/** Headers and no body at all (no blank line). */
export const HEADERS_ONLY = bytes("From: h@remote.example\r\nSubject: headers only\r\n");

/** Headers, the blank line, and an empty body. */
export const EMPTY_BODY = bytes("From: e@remote.example\r\nSubject: empty body\r\n\r\n");

/** A plain three-line message numbered `n`. */
export function simple(n: number): Uint8Array {
  return bytes(
    `From: s@remote.example\r\nSubject: message ${n}\r\n\r\nline 1 of ${n}\r\nline 2\r\nline 3\r\n`,
  );
}

/** The awkward messages every retrieval test sends: dot lines, 8-bit, no body, nothing at all. */
export const AWKWARD: [string, Outgoing][] = [
  ["dotted lines", DOTTED],
  ["8-bit", EIGHT_BIT],
  ["headers only", HEADERS_ONLY],
  ["empty body", EMPTY_BODY],
  ["empty DATA", "empty"],
];

/**
 * A message of about `size` octets (whole 78-octet lines): every 7th line
 * starts with ".", every 11th holds an 8-bit octet (0xe9).
 */
export function large(size: number): Uint8Array {
  const head = bytes("From: big@remote.example\r\nSubject: large\r\n\r\n");
  const lines = Math.ceil((size - head.length) / 78);
  const out = new Uint8Array(head.length + lines * 78);
  out.set(head);
  for (let line = 0, o = head.length; line < lines; line++, o += 78) {
    for (let i = 0; i < 76; i++) out[o + i] = 0x61 + ((line + i) % 26);
    if (line % 7 === 0) out[o] = 0x2e;
    if (line % 11 === 0) out[o + 5] = 0xe9;
    out[o + 76] = 0x0d;
    out[o + 77] = 0x0a;
  }
  return out;
}

/** Splits what RETR gave into Postino's trace headers (Return-Path, Received) and the rest. */
export function splitTrace(message: Uint8Array): { trace: string; rest: Uint8Array } {
  const head = decoder.decode(message.subarray(0, 2048));
  const m = /^Return-Path: <[^>]*>\r\nReceived: (?:[^\r]*\r\n\t)*[^\r]*\r\n/.exec(head);
  assert.ok(m, `no trace headers at the top: ${JSON.stringify(head.slice(0, 400))}`);
  return { trace: m[0], rest: message.subarray(encoder.encode(m[0]).length) };
}

/** Asserts that `got` is Postino's trace headers followed by exactly `message` as accepted. */
export function assertDelivered(got: Uint8Array, message: Outgoing, what = "message"): void {
  const { rest } = splitTrace(got);
  const want = accepted(message);
  if (rest.length === want.length && Buffer.from(rest).equals(Buffer.from(want))) return;
  assert.fail(
    `${what} differs from what SMTP accepted: got ${rest.length} octets, want ${want.length}; ` +
      `first difference at ${firstDifference(rest, want)}: got ${
        JSON.stringify(decoder.decode(rest.subarray(0, 300)))
      }, want ${JSON.stringify(decoder.decode(want.subarray(0, 300)))}`,
  );
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

// --- A raw client -----------------------------------------------------------------------

/** How long a raw read may wait. */
const RAW_READ_TIMEOUT_MS = 20_000;

/**
 * A bare POP3 client over Deno's sockets: sends bytes as given and reads the
 * wire as it is (dot-stuffed), for checks no library would show.
 */
export class RawPop3 {
  #conn: Deno.Conn;
  #store = new Uint8Array(64 * 1024);
  #length = 0;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Connects to the POP3 port on loopback and reads the greeting. */
  static async connect(port: number): Promise<{ client: RawPop3; greeting: string }> {
    const client = new RawPop3(await Deno.connect({ hostname: "127.0.0.1", port }));
    return { client, greeting: await client.line() };
  }

  /** Sends `text` as is, in one write. */
  async send(text: string | Uint8Array): Promise<void> {
    const data = typeof text === "string" ? encoder.encode(text) : text;
    let sent = 0;
    while (sent < data.length) sent += await this.#conn.write(data.subarray(sent));
  }

  /** The unread input (a view; replaced by assigning). */
  get #buf(): Uint8Array {
    return this.#store.subarray(0, this.#length);
  }

  set #buf(rest: Uint8Array) {
    const copy = rest.slice();
    this.#store.set(copy);
    this.#length = copy.length;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(256 * 1024);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`No data within ${RAW_READ_TIMEOUT_MS} ms`)),
        RAW_READ_TIMEOUT_MS,
      );
    });
    try {
      const n = await Promise.race([this.#conn.read(chunk), timeout]);
      if (n === null) return false;
      if (this.#length + n > this.#store.length) {
        const grown = new Uint8Array(Math.max(this.#store.length * 2, this.#length + n));
        grown.set(this.#store.subarray(0, this.#length));
        this.#store = grown;
      }
      this.#store.set(chunk.subarray(0, n), this.#length);
      this.#length += n;
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Reads one line, without its CRLF (which must be there). */
  async line(): Promise<string> {
    for (;;) {
      const lf = this.#buf.indexOf(0x0a);
      if (lf >= 0) {
        assert.equal(this.#buf[lf - 1], 0x0d, "a reply line ends in CRLF");
        const line = decoder.decode(this.#buf.subarray(0, lf - 1));
        this.#buf = this.#buf.slice(lf + 1);
        return line;
      }
      if (!await this.#fill()) throw new Error("Connection closed while reading a line");
    }
  }

  /**
   * Reads the body of a multi-line reply as sent: every octet up to the
   * terminating ".\r\n" line (which is not included), still dot-stuffed.
   */
  async multiline(): Promise<Uint8Array> {
    let scanFrom = 0;
    for (;;) {
      const buf = this.#buf;
      // The terminator is "." CRLF at the start of the body or after a LF.
      if (buf.length >= 3 && buf[0] === 0x2e && buf[1] === 0x0d && buf[2] === 0x0a) {
        this.#buf = buf.slice(3);
        return new Uint8Array();
      }
      let i = buf.indexOf(0x0a, scanFrom);
      while (i >= 0 && i + 3 < buf.length) {
        if (buf[i + 1] === 0x2e && buf[i + 2] === 0x0d && buf[i + 3] === 0x0a) {
          const body = buf.slice(0, i + 1);
          this.#buf = buf.slice(i + 4);
          return body;
        }
        i = buf.indexOf(0x0a, i + 1);
      }
      scanFrom = i >= 0 ? i : buf.length;
      if (!await this.#fill()) throw new Error("Connection closed inside a multi-line reply");
    }
  }

  /** Anything received and not read yet. */
  get unread(): number {
    return this.#buf.length;
  }

  /** Upgrades to TLS (after +OK to STLS), trusting only `caCert` for `hostname`. */
  async startTls(caCert: string, hostname = "localhost"): Promise<void> {
    assert.equal(this.#buf.length, 0, "nothing may be buffered before the TLS handshake");
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, { hostname, caCerts: [caCert] });
  }

  /** Reads until the server closes; gives what arrived. */
  async rest(): Promise<string> {
    while (await this.#fill());
    const text = decoder.decode(this.#buf);
    this.#buf = new Uint8Array();
    return text;
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Undoes RFC 1939 §3 byte-stuffing: removes the first "." of every line that starts with one. */
export function unstuff(wire: Uint8Array): Uint8Array {
  const out = new Uint8Array(wire.length);
  let o = 0;
  let lineStart = true;
  for (const b of wire) {
    if (lineStart && b === 0x2e) {
      lineStart = false;
      continue;
    }
    out[o++] = b;
    lineStart = b === 0x0a;
  }
  return out.slice(0, o);
}
