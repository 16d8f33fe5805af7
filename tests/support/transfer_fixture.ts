/**
 * Shared pieces of the export and import tests: Python's `mailbox` module
 * and imaplib through mailbox_tool.py (mbox files and Maildir trees written
 * and read by Python, a server's mailboxes filled and read byte for byte),
 * and the test messages.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { run } from "./pop3_fixture.ts";
import { type CliResult, runCli, type RunningPostino } from "./server.ts";

const TOOL_PY = new URL("./mailbox_tool.py", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Base64 of bytes or text. */
export function b64(data: Uint8Array | string): string {
  return Buffer.from(typeof data === "string" ? encoder.encode(data) : data).toString("base64");
}

/** Bytes of base64. */
export function unb64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}

/** Bytes from code points 0-255, one byte each (8-bit bytes are easy to write). */
export function latin1Bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}

/** Bytes as code points 0-255, one per byte (TextDecoder's latin1 is windows-1252). */
export function latin1(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    out += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return out;
}

let python: Promise<string> | undefined;

function pythonPath(): Promise<string> {
  python ??= run("python3", ["-c", "import sys; print(sys.executable)"]).then((r) =>
    decoder.decode(r.stdout).trim() || "python3"
  );
  return python;
}

/** Runs one mailbox_tool.py job and gives its JSON answer. */
export async function mailboxTool<T = Record<string, never>>(
  job: Record<string, unknown>,
  timeoutMs = 120_000,
): Promise<T> {
  const r = await run(await pythonPath(), [TOOL_PY], {
    stdin: JSON.stringify(job),
    timeoutMs,
  });
  assert.equal(r.code, 0, `mailbox_tool.py ${job.op} failed: ${r.stderr}`);
  return JSON.parse(decoder.decode(r.stdout));
}

/** A message as imaplib read it: flags sorted, internal date in epoch seconds. */
export interface Dumped {
  uid: number;
  flags: string[];
  date: number;
  b64: string;
}

/** Every mailbox of a user over IMAP, each message's BODY[], FLAGS and INTERNALDATE. */
export async function imapDump(
  port: number,
  user: string,
  password: string,
): Promise<Record<string, Dumped[]>> {
  const r = await mailboxTool<{ mailboxes: Record<string, Dumped[]> }>({
    op: "imap_dump",
    port,
    user,
    password,
  });
  // \Recent says which session saw a message first, not what the message is.
  for (const list of Object.values(r.mailboxes)) {
    for (const m of list) m.flags = m.flags.filter((f) => f !== "\\Recent");
  }
  return r.mailboxes;
}

/** A message to put in a mailbox: its bytes, IMAP flags, internal date (epoch seconds). */
export interface Filled {
  bytes: Uint8Array;
  flags?: string[];
  date: number;
}

/** APPENDs messages to a user's mailboxes (created when missing) over IMAP. */
export async function imapFill(
  port: number,
  user: string,
  password: string,
  mailboxes: Record<string, Filled[]>,
): Promise<void> {
  await mailboxTool({
    op: "imap_fill",
    port,
    user,
    password,
    mailboxes: Object.entries(mailboxes).map(([name, messages]) => ({
      name,
      messages: messages.map((m) => ({ b64: b64(m.bytes), flags: m.flags ?? [], date: m.date })),
    })),
  });
}

/** Adds a user to a running server's store. */
export async function addUser(server: RunningPostino, address: string, password: string) {
  const r = await server.cli(["user", "add", address, "--password-stdin"], `${password}\n`);
  assert.equal(r.code, 0, r.stderr);
}

/** Runs a management command on the server's data; asserts the exit status. */
export async function cli(
  server: RunningPostino,
  args: string[],
  options: { code?: number; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const r = await runCli(args, {
    dataDir: server.dataDir,
    env: { POSTINO_INBOUND_CHECKS: "false", ...options.env },
    timeoutMs: options.timeoutMs ?? 120_000,
  });
  assert.equal(r.code, options.code ?? 0, `postino ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** A CRLF message with a Message-ID, Subject and body (LF in `body` become CRLF). */
export function mail(
  subject: string,
  body: string,
  extra: Record<string, string> = {},
): Uint8Array {
  const head = [
    "From: Sender <sender@remote.example>",
    "To: alice@localhost",
    `Subject: ${subject}`,
    "Date: Mon, 02 Mar 2026 10:00:00 +0000",
    `Message-ID: <${subject.replace(/[^A-Za-z0-9]/g, "-")}.${crypto.randomUUID()}@remote.example>`,
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
  ].join("\r\n");
  return latin1Bytes(`${head}\r\n\r\n${body.replace(/\r?\n/g, "\r\n")}`);
}

/** A message of about `size` bytes: base64-like lines of 76 characters. */
export function bigMail(subject: string, size: number): Uint8Array {
  const line = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ABCDEFGHIJKL";
  const lines = Math.ceil(size / (line.length + 2));
  return mail(subject, `${`${line}\n`.repeat(lines)}`, {
    "Content-Type": "application/octet-stream",
    "Content-Transfer-Encoding": "base64",
  });
}

/** LF line ends (as files written by Python and Unix mail programs have them). */
export function lf(bytes: Uint8Array): Uint8Array {
  return latin1Bytes(latin1(bytes).replace(/\r\n/g, "\n"));
}

/** CRLF line ends. */
export function crlf(bytes: Uint8Array): Uint8Array {
  return latin1Bytes(latin1(bytes).replace(/\r?\n/g, "\r\n"));
}
