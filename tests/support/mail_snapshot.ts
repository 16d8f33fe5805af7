/**
 * What a running Postino serves to its users over IMAP and POP3, read by
 * Python's imaplib and poplib (mail_snapshot.py): mailboxes with UIDVALIDITY
 * and UIDNEXT, each message's UID, flags, internal date, size and SHA-256,
 * and the POP3 maildrop with UIDLs. Reading changes nothing (EXAMINE,
 * BODY.PEEK, no DELE).
 */
import assert from "node:assert/strict";
import { run } from "./pop3_fixture.ts";

const SCRIPT = new URL("./mail_snapshot.py", import.meta.url).pathname;

/** One message as IMAP serves it. */
export interface ImapMessage {
  uid: number;
  flags: string[];
  /** Seconds since the epoch. */
  internaldate: number;
  size: number;
  sha256: string;
  /** With `bodies`: the bytes, base64. */
  b64?: string;
}

/** One mailbox as IMAP serves it. */
export interface ImapMailbox {
  uidvalidity: number;
  uidnext: number;
  messages: ImapMessage[];
}

/** One message as POP3 serves it. */
export interface Pop3Message {
  uidl: string;
  size: number;
  sha256: string;
  b64?: string;
}

/** What one user gets. */
export interface UserSnapshot {
  imap?: Record<string, ImapMailbox>;
  pop3?: Pop3Message[];
}

/** Reads what the server on `imap`/`pop3` serves to each of `users`. */
export async function mailSnapshot(options: {
  imap?: number;
  pop3?: number;
  users: readonly { address: string; password: string }[];
  bodies?: boolean;
  timeoutMs?: number;
}): Promise<Record<string, UserSnapshot>> {
  const r = await run("python3", [SCRIPT], {
    stdin: JSON.stringify({
      host: "127.0.0.1",
      imap: options.imap ?? null,
      pop3: options.pop3 ?? null,
      users: options.users,
      bodies: options.bodies ?? false,
    }),
    timeoutMs: options.timeoutMs ?? 60_000,
  });
  assert.equal(r.code, 0, `mail_snapshot.py failed: ${r.stderr}`);
  return JSON.parse(new TextDecoder().decode(r.stdout)).users;
}
