/**
 * Shared pieces of the inbound authentication tests (tests/inbound_*_test.ts):
 * the real `postino serve` on an MX listener whose DNS is a loopback stub,
 * deliveries through Python's smtplib, the stored copies read back from the
 * store or over POP3, DKIM keys and signatures made by Debian's python3-dkim,
 * and a reader of the Authentication-Results header fields (RFC 8601).
 *
 * ```ts
 * await using mx = await startInbound({ "sender.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] } });
 * const r = await deliver(mx, { sender: "a@sender.test", message: mail({ from: "a@sender.test" }) });
 * const [stored] = storedMessages(mx, ALICE.user);
 * ```
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { type DnsStub, type DnsStubOptions, startDnsStub, type Zone } from "./dns_stub.ts";
import { type RunningPostino, startPostino, withStore } from "./server.ts";

/** Our host name: the authserv-id of the Authentication-Results we add. */
export const HOSTNAME = "mx.local.test";
/** The local user every test delivers to. */
export const ALICE = { user: "alice@localhost", password: "alice-secret" };

/** The system interpreter: python3-dkim is installed for it only. */
const PYTHON = "/usr/bin/python3";
const SMTP_CLIENT = new URL("./smtp_client.py", import.meta.url).pathname;
const POP3_CLIENT = new URL("./pop3_client.py", import.meta.url).pathname;
const DKIM_SIGN = new URL("./dkim_sign.py", import.meta.url).pathname;
const DKIM_VERIFY = new URL("./dkim_verify.py", import.meta.url).pathname;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A running server with its DNS stub. */
export interface Inbound extends AsyncDisposable {
  server: RunningPostino;
  dns: DnsStub;
  /** The MX listener's port. */
  smtp: number;
  pop3: number;
  /** The submission listener's port, when asked for. */
  submission?: number;
}

/** Options of {@link startInbound}. */
export interface StartInboundOptions extends DnsStubOptions {
  /** Environment of `serve` (POSTINO_SPF_FAIL, POSTINO_INBOUND_DNS_BUDGET, ...). */
  env?: Record<string, string>;
  /** Also start a submission listener. @default false */
  submission?: boolean;
  /** More `serve` arguments (e.g. `--config FILE`). */
  args?: string[];
}

/**
 * Starts a DNS stub serving `zone`, then `serve --dev --hostname mx.local.test`
 * with an MX and a POP3 listener on port 0 and `--dns` pointing at the stub,
 * and adds {@link ALICE}.
 */
export async function startInbound(
  zone: Zone,
  options: StartInboundOptions = {},
): Promise<Inbound> {
  const dns = await startDnsStub(zone, options);
  let server: RunningPostino | undefined;
  try {
    server = await startPostino({
      args: [
        "--dev",
        "--hostname",
        HOSTNAME,
        "--smtp",
        "127.0.0.1:0",
        "--pop3",
        "127.0.0.1:0",
        ...(options.submission ? ["--submission", "127.0.0.1:0"] : []),
        "--dns",
        dns.address,
        ...(options.args ?? []),
      ],
      env: options.env,
    });
    const added = await server.cli(
      ["user", "add", ALICE.user, "--password-stdin"],
      `${ALICE.password}\n`,
    );
    assert.equal(added.code, 0, added.stderr);
  } catch (err) {
    await server?.[Symbol.asyncDispose]();
    await dns.close();
    throw err;
  }
  const running = server;
  return {
    server: running,
    dns,
    smtp: running.addresses.smtp.port,
    pop3: running.addresses.pop3.port,
    submission: running.addresses.submission?.port,
    async [Symbol.asyncDispose]() {
      try {
        await running[Symbol.asyncDispose]();
      } finally {
        await dns.close();
      }
    },
  };
}

/** Runs a command to its end with a deadline; gives its exit code and output. */
export async function run(
  cmd: string,
  args: string[],
  stdin?: Uint8Array | string,
  timeoutMs = 30_000,
): Promise<{ code: number; stdout: string; stderr: string; bytes: Uint8Array }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(typeof stdin === "string" ? encoder.encode(stdin) : stdin).catch(() => {});
    await w.close().catch(() => {});
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      bytes: out.stdout,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** What tests/support/smtp_client.py reports, plus how long the whole job took. */
export interface Delivery {
  ok: boolean;
  refused?: Record<string, [number, string]>;
  error?: { type: string; code?: number; message?: string };
  /** Milliseconds from the start of the client to its end. */
  ms: number;
}

/** An smtp_client.py job without host and port; `message` is sent byte for byte. */
export interface DeliveryJob {
  sender: string;
  recipients?: string[];
  message: string | Uint8Array;
  /** The EHLO name. @default "client.test" */
  helo?: string;
  /** Another port of the server (submission); @default the MX listener */
  port?: number;
  security?: "plain" | "starttls";
  user?: string;
  password?: string;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Sends one message through Python's smtplib from 127.0.0.1. */
export async function deliver(mx: Inbound, job: DeliveryJob): Promise<Delivery> {
  const { message, port, recipients, ...rest } = job;
  const bytes = typeof message === "string" ? encoder.encode(message) : message;
  const full = {
    host: "127.0.0.1",
    port: port ?? mx.smtp,
    security: "plain",
    recipients: recipients ?? [ALICE.user],
    ...rest,
    message_b64: base64(bytes),
  };
  const started = performance.now();
  const r = await run(PYTHON, [SMTP_CLIENT], JSON.stringify(full));
  const ms = performance.now() - started;
  assert.equal(r.code, 0, `smtp_client.py failed: ${r.stderr}`);
  return { ...JSON.parse(r.stdout), ms };
}

/** The DATA reply of a refused delivery: "550 5.7.1 text". */
export function dataReply(d: Delivery): string {
  assert.equal(
    d.error?.type,
    "SMTPDataError",
    `expected a refusal after DATA: ${JSON.stringify(d)}`,
  );
  return `${d.error!.code} ${d.error!.message}`;
}

/** Asserts that a delivery was accepted for every recipient. */
export function assertDelivered(d: Delivery): void {
  assert.equal(d.ok, true, `delivery failed: ${JSON.stringify(d.error)}`);
  assert.deepEqual(d.refused, {});
}

/** Builds a small message with CRLF line ends. */
export function mail(
  fields: { from: string; to?: string; subject?: string; body?: string; extra?: string[] },
): string {
  const head = [
    `From: ${fields.from}`,
    `To: ${fields.to ?? ALICE.user}`,
    `Subject: ${fields.subject ?? "inbound test"}`,
    `Message-ID: <${crypto.randomUUID()}@inbound.test>`,
    "Date: Mon, 02 Mar 2026 10:00:00 +0000",
    ...(fields.extra ?? []),
  ];
  return `${head.join("\r\n")}\r\n\r\n${fields.body ?? "Hello Alice.\r\n"}`;
}

/** The messages in one mailbox of `address`, oldest first, as text. */
export function storedMessages(mx: Inbound, address: string, mailbox = "INBOX"): string[] {
  return withStore(mx.server, (store) =>
    store.all<{ body: Uint8Array }>(
      `SELECT m.body FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
       JOIN users u ON u.id = b.user_id JOIN messages m ON m.id = e.message_id
       WHERE u.address = ? AND b.name = ? ORDER BY e.uid`,
      address,
      mailbox,
    ).map((r) => decoder.decode(r.body)));
}

/** The mailboxes of `address` with their special-use attribute. */
export function mailboxesOf(
  mx: Inbound,
  address: string,
): { name: string; special_use: string | null }[] {
  return withStore(mx.server, (store) =>
    store.all<{ name: string; special_use: string | null }>(
      `SELECT b.name, b.special_use FROM mailboxes b JOIN users u ON u.id = b.user_id
       WHERE u.address = ? ORDER BY b.name`,
      address,
    ).map((r) => ({ name: r.name, special_use: r.special_use })));
}

/** How many message bodies the store holds (for "nothing was stored"). */
export function messageCount(mx: Inbound): number {
  return withStore(mx.server, (s) => s.get<{ n: number }>("SELECT count(*) n FROM messages")!.n);
}

/** Logs in over POP3 as {@link ALICE} and retrieves every message (poplib RETR). */
export async function pop3Messages(mx: Inbound): Promise<string[]> {
  const login = [
    { op: "connect", port: mx.pop3 },
    { op: "user", arg: ALICE.user },
    { op: "pass", arg: ALICE.password },
  ];
  const pop = async (steps: Record<string, unknown>[]) => {
    const r = await run(PYTHON, [POP3_CLIENT], JSON.stringify({ host: "127.0.0.1", steps }));
    assert.equal(r.code, 0, `pop3_client.py failed: ${r.stderr}`);
    const results: { ok: boolean; error?: string; count?: number; data?: string }[] = JSON.parse(
      r.stdout,
    );
    for (const step of results) assert.equal(step.ok, true, JSON.stringify(results));
    return results;
  };
  const stat = await pop([...login, { op: "stat" }, { op: "quit" }]);
  const count = stat[3].count!;
  if (count === 0) return [];
  const retrs = Array.from({ length: count }, (_, i) => ({ op: "retr", arg: String(i + 1) }));
  const got = await pop([...login, ...retrs, { op: "quit" }]);
  return got.slice(3, 3 + count).map((s) =>
    decoder.decode(Uint8Array.from(atob(s.data!), (c) => c.charCodeAt(0)))
  );
}

/** The header fields of a message, unfolded, in order. */
export function headerFields(message: string): { name: string; value: string }[] {
  const end = message.indexOf("\r\n\r\n");
  const head = end < 0 ? message : message.slice(0, end);
  const out: { name: string; value: string }[] = [];
  for (const line of head.split("\r\n")) {
    if (/^[ \t]/.test(line) && out.length > 0) {
      out[out.length - 1].value += " " + line.trim();
      continue;
    }
    const colon = line.indexOf(":");
    if (colon > 0) out.push({ name: line.slice(0, colon), value: line.slice(colon + 1).trim() });
  }
  return out;
}

/** The values of one header field (case-insensitive name), unfolded. */
export function fieldValues(message: string, name: string): string[] {
  return headerFields(message).filter((f) => f.name.toLowerCase() === name.toLowerCase())
    .map((f) => f.value);
}

/** One method result of an Authentication-Results field (RFC 8601 §2.2). */
export interface MethodResult {
  method: string;
  result: string;
  /** Properties such as `smtp.mailfrom`, `header.d`, `header.from`. */
  props: Record<string, string>;
}

/** Parses an Authentication-Results value: its authserv-id and its method results. */
export function parseAuthResults(value: string): { authservId: string; results: MethodResult[] } {
  // Comments carry no result; drop them (mailauth's hold no nested parentheses).
  const bare = value.replace(/\([^()]*\)/g, " ");
  const [id, ...parts] = bare.split(";").map((p) => p.trim());
  const results: MethodResult[] = [];
  for (const part of parts) {
    const tokens = part.split(/\s+/).filter(Boolean);
    const m = /^([\w-]+)=([\w-]+)$/.exec(tokens[0] ?? "");
    if (!m) continue;
    const props: Record<string, string> = {};
    for (const token of tokens.slice(1)) {
      const eq = token.indexOf("=");
      if (eq > 0) props[token.slice(0, eq).toLowerCase()] = token.slice(eq + 1).replace(/"/g, "");
    }
    results.push({ method: m[1].toLowerCase(), result: m[2].toLowerCase(), props });
  }
  return { authservId: id.split(/\s+/)[0].toLowerCase(), results };
}

/**
 * The method results of the one Authentication-Results field with our
 * authserv-id; fails when there is none or more than one.
 */
export function ourResults(message: string): MethodResult[] {
  const ours = fieldValues(message, "Authentication-Results").map(parseAuthResults)
    .filter((r) => r.authservId === HOSTNAME);
  assert.equal(
    ours.length,
    1,
    `one Authentication-Results of ${HOSTNAME} expected:\n${message.slice(0, 3000)}`,
  );
  return ours[0].results;
}

/** The result of one method in our Authentication-Results (the first one, for dkim). */
export function resultOf(message: string, method: string): MethodResult {
  const found = ourResults(message).find((r) => r.method === method);
  assert.ok(found, `no ${method} result in:\n${message.slice(0, 3000)}`);
  return found;
}

/** The Received-SPF result word (RFC 7208 §9.1) of the one Received-SPF field. */
export function receivedSpf(message: string): string {
  const values = fieldValues(message, "Received-SPF");
  assert.equal(values.length, 1, `one Received-SPF expected:\n${message.slice(0, 3000)}`);
  return values[0].split(/[\s(;]/)[0].toLowerCase();
}

/** An RSA key pair for DKIM: the private key in PEM, and the TXT record of its public key. */
export interface DkimKey {
  privatePem: string;
  record: string;
}

/** Makes a fresh 2048-bit RSA key (node:crypto) and its `v=DKIM1` TXT record. */
export function dkimKey(): DkimKey {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const der = publicKey.export({ type: "spki", format: "der" });
  return {
    privatePem: privateKey.export({ type: "pkcs1", format: "pem" }) as string,
    record: `v=DKIM1; k=rsa; p=${base64(new Uint8Array(der))}`,
  };
}

/** Signs `message` with python3-dkim (tests/support/dkim_sign.py); gives the signed message. */
export async function dkimSign(
  message: string,
  options: { key: DkimKey; selector: string; domain: string; headers?: string[] },
): Promise<string> {
  const keyFile = await Deno.makeTempFile({ prefix: "postino-dkim-", suffix: ".pem" });
  try {
    await Deno.writeTextFile(keyFile, options.key.privatePem);
    const r = await run(PYTHON, [
      DKIM_SIGN,
      keyFile,
      options.selector,
      options.domain,
      (options.headers ?? ["From", "To", "Subject", "Date", "Message-ID"]).join(","),
    ], message);
    assert.equal(r.code, 0, `dkim_sign.py failed: ${r.stderr}`);
    assert.match(r.stdout, /^DKIM-Signature: /);
    return r.stdout;
  } finally {
    await Deno.remove(keyFile);
  }
}

/** Verifies the topmost DKIM-Signature of `message` with python3-dkim against one TXT record. */
export async function dkimVerify(
  message: string,
  recordName: string,
  record: string,
): Promise<string> {
  const file = await Deno.makeTempFile({ prefix: "postino-dkim-msg-" });
  try {
    await Deno.writeTextFile(file, message);
    const r = await run(PYTHON, [DKIM_VERIFY, file, recordName, record]);
    return r.stdout.trim();
  } finally {
    await Deno.remove(file);
  }
}

/** One SMTP reply: its code and its lines' text (without the code). */
export interface SmtpReply {
  code: number;
  text: string;
}

/**
 * A hand-driven SMTP client on one TCP connection, for dialogs smtplib cannot
 * time or continue (what the session does after a refusal). Every read has a
 * deadline.
 */
export class RawSmtp implements AsyncDisposable {
  readonly #conn: Deno.TcpConn;
  #buffer = "";

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects to 127.0.0.1:`port` and reads the greeting. */
  static async connect(port: number): Promise<{ client: RawSmtp; greeting: SmtpReply }> {
    const client = new RawSmtp(await Deno.connect({ hostname: "127.0.0.1", port }));
    try {
      return { client, greeting: await client.reply() };
    } catch (err) {
      client.close();
      throw err;
    }
  }

  /** Writes `text` as it is (add CRLF yourself). */
  async write(text: string): Promise<void> {
    const bytes = encoder.encode(text);
    for (let n = 0; n < bytes.length;) n += await this.#conn.write(bytes.subarray(n));
  }

  /** Sends one command line and reads its reply. */
  async command(line: string, timeoutMs?: number): Promise<SmtpReply> {
    await this.write(`${line}\r\n`);
    return await this.reply(timeoutMs);
  }

  /** Reads one (possibly multi-line) reply; fails after `timeoutMs`. */
  async reply(timeoutMs = 20_000): Promise<SmtpReply> {
    const deadline = Date.now() + timeoutMs;
    const chunk = new Uint8Array(4096);
    for (;;) {
      const m = /^(?:\d{3}-[^\r\n]*\r\n)*(\d{3})(?: [^\r\n]*)?\r\n/.exec(this.#buffer);
      if (m) {
        const text = m[0].split("\r\n").filter(Boolean).map((l) => l.slice(4)).join("\n");
        this.#buffer = this.#buffer.slice(m[0].length);
        return { code: Number(m[1]), text };
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No SMTP reply within ${timeoutMs} ms: ${this.#buffer}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const n = await Promise.race([
        this.#conn.read(chunk),
        new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), left)),
      ]).finally(() => clearTimeout(timer));
      if (n === "late") {
        throw new Error(`No SMTP reply within ${timeoutMs} ms: ${JSON.stringify(this.#buffer)}`);
      }
      if (n === null) throw new Error(`Connection closed; unread: ${JSON.stringify(this.#buffer)}`);
      this.#buffer += decoder.decode(chunk.subarray(0, n));
    }
  }

  /** Closes the connection (idempotent). */
  close(): void {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Dot-stuffs a message and ends it with CRLF.CRLF, for a hand-driven DATA. */
export function dataOf(message: string): string {
  const body = message.endsWith("\r\n") ? message : `${message}\r\n`;
  return `${body.replace(/^\./gm, "..")}.\r\n`;
}
