/**
 * Shared pieces of the outbound delivery tests (tests/outbound_*_test.ts):
 * a `postino serve` with MX and submission listeners and users, submission
 * through Python's smtplib, the queue as `postino queue list` prints it, and
 * the mailboxes and queue read from the store next to the running server.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type DnsStub, startDnsStub, type Zone } from "./dns_stub.ts";
import { type RunningPostino, startPostino, withStore } from "./server.ts";

export { withStore };
import { type SmtpSink, type SmtpSinkOptions, startSmtpSink } from "./smtp_sink.ts";

/** The system interpreter (python3-dkim is installed for it only). */
export const PYTHON = "/usr/bin/python3";
const CLIENT_PY = fileURLToPath(new URL("./smtp_client.py", import.meta.url));
/** Our host name in every outbound test: EHLO, MAILER-DAEMON@, Reporting-MTA. */
export const HOSTNAME = "postino.test";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A user and password. */
export interface Login {
  user: string;
  password: string;
}

/** The default sender. */
export const ALICE: Login = { user: "alice@localhost", password: "alice-secret" };

/** Options of {@link startOutbound}. */
export interface OutboundServerOptions {
  /** More `serve` arguments (`--relay`, `--dns`, `--mx-port`, `--domain` ...). */
  args?: string[];
  env?: Record<string, string>;
  /** Users to add (besides alice@localhost). */
  users?: Login[];
  /** Use this data dir (kept afterwards); by default a temp dir is made and removed. */
  dataDir?: string;
  /** The data dir already has the users: a restart. @default false */
  restart?: boolean;
}

/**
 * Starts `postino serve --dev --hostname postino.test` with the MX and
 * submission listeners on free ports and alice@localhost (plus `users`).
 */
export async function startOutbound(options: OutboundServerOptions = {}): Promise<RunningPostino> {
  const server = await startPostino({
    args: [
      "--dev",
      "--hostname",
      HOSTNAME,
      "--smtp",
      "127.0.0.1:0",
      "--submission",
      "127.0.0.1:0",
      ...(options.args ?? []),
    ],
    env: options.env,
    dataDir: options.dataDir,
  });
  if (options.restart) return server;
  try {
    const results = await Promise.all(
      [ALICE, ...(options.users ?? [])].map((u) =>
        server.cli(["user", "add", u.user, "--password-stdin"], `${u.password}\n`)
      ),
    );
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    return server;
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
}

/** What tests/support/smtp_client.py reports. */
export interface SmtplibResult {
  ok: boolean;
  refused?: Record<string, [number, string]>;
  error?: { type: string; code?: number; message?: string };
  ehlo?: string[];
}

/** Runs smtp_client.py with one job (bounded); `message` is sent as UTF-8 bytes. */
export async function smtplib(
  job: Record<string, unknown> & { message?: string },
): Promise<SmtplibResult> {
  const { message, ...rest } = job;
  const bytes = encoder.encode(message ?? "");
  const full = {
    host: "127.0.0.1",
    ...rest,
    message_b64: btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join("")),
  };
  const child = new Deno.Command(PYTHON, {
    args: [CLIENT_PY],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(encoder.encode(JSON.stringify(full)));
  await writer.close();
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    const out = await child.output();
    assert.equal(out.code, 0, `smtp_client.py failed: ${decoder.decode(out.stderr)}`);
    return JSON.parse(decoder.decode(out.stdout));
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Submits a message as `login` over the submission listener (STARTTLS + AUTH)
 * and asserts that every recipient was accepted.
 */
export async function submit(
  server: RunningPostino,
  envelope: { from?: string; to: string[]; message: string; login?: Login },
  extra: Record<string, unknown> = {},
): Promise<void> {
  const login = envelope.login ?? ALICE;
  const r = await smtplib({
    port: server.addresses.submission.port,
    security: "starttls",
    ...login,
    sender: envelope.from ?? login.user,
    recipients: envelope.to,
    message: envelope.message,
    ...extra,
  });
  assert.equal(r.ok, true, `submission failed: ${JSON.stringify(r.error)}`);
  assert.deepEqual(r.refused, {}, "every recipient accepted");
}

/** A simple message from `from` with a subject that tells the messages apart. */
export function message(from: string, subject: string, body = "Hello from Postino.\r\n"): string {
  return `From: <${from}>\r\nTo: <someone@remote.test>\r\nSubject: ${subject}\r\n` +
    `Date: Mon, 2 Mar 2026 10:00:00 +0000\r\nMessage-ID: <${crypto.randomUUID()}@localhost>\r\n` +
    `\r\n${body}`;
}

/** The messages in the INBOX of `address`, oldest first, as text. */
export function inbox(server: RunningPostino, address: string): string[] {
  return withStore(server, (store) =>
    store.all<{ body: Uint8Array }>(
      `SELECT m.body FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
       JOIN users u ON u.id = b.user_id JOIN messages m ON m.id = e.message_id
       WHERE u.address = ? AND b.name = 'INBOX' ORDER BY e.uid`,
      address,
    ).map((r) => decoder.decode(r.body)));
}

/** How many mailbox entries the store holds, over every user. */
export function mailboxEntryCount(server: RunningPostino): number {
  return withStore(
    server,
    (s) => s.get<{ n: number }>("SELECT count(*) n FROM mailbox_entries")!.n,
  );
}

/** A queued recipient as the store has it. */
export interface StoredRecipient {
  queueId: number;
  sender: string;
  recipient: string;
  status: string;
  attempts: number;
  lastError: string | null;
}

/** Every queued recipient in the store. */
export function storedQueue(server: RunningPostino): StoredRecipient[] {
  return withStore(server, (s) =>
    s.all<StoredRecipient>(
      `SELECT r.queue_id queueId, q.sender, r.recipient, r.status, r.attempts,
         r.last_error lastError
       FROM queue_recipients r JOIN queue q ON q.id = r.queue_id ORDER BY r.queue_id, r.recipient`,
    ));
}

/** One recipient line of `postino queue list`. */
export interface ListedRecipient {
  address: string;
  status: string;
  attempts: number;
  next?: string;
  error?: string;
}

/** One item of `postino queue list`. */
export interface ListedItem {
  id: number;
  from: string;
  size: number;
  age: string;
  recipients: ListedRecipient[];
}

/** Runs `postino queue list` on the server's data and parses what it printed. */
export async function queueList(server: RunningPostino): Promise<ListedItem[]> {
  const r = await server.cli(["queue", "list"]);
  assert.equal(r.code, 0, r.stderr);
  return parseQueueList(r.stdout);
}

/** Parses the output of `postino queue list`. */
export function parseQueueList(stdout: string): ListedItem[] {
  const items: ListedItem[] = [];
  for (const line of stdout.split("\n")) {
    if (line.trim() === "" || line === "The queue is empty") continue;
    if (!line.startsWith(" ")) {
      const m = /^(\d+)\tfrom=<([^>]*)>\tsize=(\d+)\tage=(\S+)$/.exec(line);
      assert.ok(m, `an item line: ${JSON.stringify(line)}`);
      items.push({ id: Number(m[1]), from: m[2], size: Number(m[3]), age: m[4], recipients: [] });
      continue;
    }
    const [head, ...fields] = line.trim().split("\t");
    const m = /^<([^>]*)>$/.exec(head);
    assert.ok(m && items.length > 0, `a recipient line: ${JSON.stringify(line)}`);
    const r: ListedRecipient = { address: m[1], status: fields[0], attempts: -1 };
    for (const f of fields.slice(1)) {
      const eq = f.indexOf("=");
      const [key, value] = [f.slice(0, eq), f.slice(eq + 1)];
      if (key === "attempts") r.attempts = Number(value);
      else if (key === "next") r.next = value;
      else if (key === "error") r.error = value;
    }
    items.at(-1)!.recipients.push(r);
  }
  return items;
}

/** Polls `check` every 50 ms until it gives a truthy value; throws after `timeoutMs`. */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 15_000,
): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the queue holds nothing pending (delivered or failed everywhere). */
export function waitForEmptyQueue(server: RunningPostino, timeoutMs = 15_000): Promise<true> {
  return waitUntil(
    () => storedQueue(server).every((r) => r.status !== "pending") || undefined,
    "an empty queue",
    timeoutMs,
  ).then(() => true);
}

/** The value of the first header field `name` in `text`, unfolded; undefined when absent. */
export function header(text: string, name: string): string | undefined {
  const head = text.split(/\r\n\r\n/)[0];
  const m = new RegExp(`^${name}:[ \\t]*([^\\r\\n]*(?:\\r\\n[ \\t][^\\r\\n]*)*)`, "im").exec(head);
  return m?.[1].replace(/\r\n[ \t]+/g, " ").trim();
}

/** Asserts `text` is a DSN about `recipient` with `status`; gives the delivery-status part. */
export function assertDsn(text: string, recipient: string, status: string): string {
  assert.match(header(text, "From") ?? "", new RegExp(`MAILER-DAEMON@${HOSTNAME}`, "i"));
  assert.match(
    header(text, "Content-Type") ?? "",
    /^multipart\/report;\s*report-type=delivery-status;/i,
  );
  const start = text.search(/^Content-Type: message\/delivery-status\r$/im);
  const report = start < 0 ? undefined : /\r\n\r\n([\s\S]*?)\r\n--/.exec(text.slice(start))?.[1];
  assert.ok(report, `a message/delivery-status part in:\n${text}`);
  assert.match(report, new RegExp(`^Reporting-MTA: dns; ?${HOSTNAME}\\r$`, "m"));
  const block = report.split(/\r\n\r\n/).find((b) =>
    new RegExp(`^Final-Recipient: rfc822; ?${recipient.replace(/[.+]/g, "\\$&")}\\r?$`, "mi")
      .test(b)
  );
  assert.ok(block, `a per-recipient block for ${recipient} in:\n${report}`);
  assert.match(block, /^Action: failed\r?$/m);
  assert.match(block, new RegExp(`^Status: ${status.replace(/\./g, "\\.")}\\r?$`, "m"));
  return report;
}

/**
 * Starts one sink per option set, all on the same port number (MX hosts are
 * reached on one `--mx-port`) and each on its own loopback address
 * (`hostname`, default 127.0.0.1 for the first). Retries when the port is
 * taken on one of the addresses.
 */
export async function startSinksOnOnePort(specs: SmtpSinkOptions[]): Promise<SmtpSink[]> {
  for (let tries = 0;; tries++) {
    const started: SmtpSink[] = [];
    try {
      const first = await startSmtpSink({ hostname: "127.0.0.1", ...specs[0], port: 0 });
      started.push(first);
      for (const spec of specs.slice(1)) {
        started.push(await startSmtpSink({ ...spec, port: first.port }));
      }
      return started;
    } catch (err) {
      await Promise.all(started.map((s) => s.close()));
      if (tries >= 10 || (err as { code?: string }).code !== "EADDRINUSE") throw err;
    }
  }
}

/** Runs `postino queue retry ID` on the server's data and asserts it worked. */
export async function queueRetry(server: RunningPostino, id: number): Promise<void> {
  const r = await server.cli(["queue", "retry", String(id)]);
  assert.equal(r.code, 0, r.stderr);
}

/** Waits until some stored recipient has had `attempts` attempts; gives the stored rows. */
export function waitForAttempts(
  server: RunningPostino,
  recipient: string,
  attempts: number,
): Promise<StoredRecipient> {
  return waitUntil(
    () => storedQueue(server).find((r) => r.recipient === recipient && r.attempts >= attempts),
    `${attempts} attempt(s) for ${recipient}`,
  );
}

/** Waits until the INBOX of `address` holds more than `count` messages; gives them all. */
export function waitForInbox(
  server: RunningPostino,
  address: string,
  count: number,
  timeoutMs = 15_000,
): Promise<string[]> {
  return waitUntil(
    () => {
      const box = inbox(server, address);
      return box.length > count ? box : undefined;
    },
    `a message in the INBOX of ${address}`,
    timeoutMs,
  );
}

/** A sink that is the MX of some domains, with the DNS stub that says so. */
export interface RemoteWorld extends AsyncDisposable {
  sink: SmtpSink;
  dns: DnsStub;
  /** `--dns` and `--mx-port` for `serve`. */
  args: string[];
}

/**
 * Starts a sink and a DNS stub in which each of `domains` has the MX
 * `mx.<domain>` at 127.0.0.1; gives the `serve` arguments that use them.
 */
export async function startRemote(
  sinkOptions: SmtpSinkOptions = {},
  domains: string[] = ["remote.test"],
): Promise<RemoteWorld> {
  const sink = await startSmtpSink(sinkOptions);
  const zone: Zone = {};
  for (const d of domains) {
    zone[d] = { MX: [{ preference: 10, exchange: `mx.${d}` }] };
    zone[`mx.${d}`] = { A: ["127.0.0.1"] };
  }
  let dns: DnsStub;
  try {
    dns = await startDnsStub(zone);
  } catch (err) {
    await sink.close();
    throw err;
  }
  return {
    sink,
    dns,
    args: ["--dns", dns.address, "--mx-port", String(sink.port)],
    async [Symbol.asyncDispose]() {
      await Promise.all([sink.close(), dns.close()]);
    },
  };
}
