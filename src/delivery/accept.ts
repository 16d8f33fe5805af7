/**
 * Taking responsibility for a message: split its recipients into local
 * mailboxes and the outbound queue, add the trace headers, and commit it
 * durably (through the group commit) before the session may answer 250.
 */
import type { CommitQueue } from "../store/commit_queue.ts";
import type { MailboxTarget } from "../store/mailboxes.ts";
import { receivedHeader, type ReceivedInfo, returnPathHeader } from "../mail/trace.ts";
import type { Route } from "./router.ts";

/** An envelope whose recipients have been routed. */
export interface RoutedEnvelope {
  /** The reverse-path; "" for the null sender. */
  sender: string;
  recipients: { address: string; routes: Route[] }[];
}

/** What was stored. */
export interface Accepted {
  id: string;
  localCount: number;
  remoteCount: number;
  /** The stored bytes, handed back so their buffer can be reused (see CommitQueue). */
  body: Uint8Array;
}

const encoder = new TextEncoder();

/** A short id for logs and Received headers: time-ordered, then random; 14 characters. */
export function newMessageId(): string {
  const time = Date.now().toString(36).padStart(9, "0");
  const rand = Array.from(crypto.getRandomValues(new Uint8Array(5)), (b) => (b % 36).toString(36));
  return (time + rand.join("")).toUpperCase().slice(0, 16);
}

/**
 * Stores the message for all its recipients; resolves once it is durable.
 * When `headroom` bytes before `content` in its buffer are free, the trace
 * headers are written there and the message is not copied.
 */
export async function acceptMessage(
  commits: CommitQueue,
  envelope: RoutedEnvelope,
  content: Uint8Array,
  trace: Omit<ReceivedInfo, "recipient" | "id"> & {
    id?: string;
    headroom?: number;
    /** Some line of the content starts with "." (see MessageContent). @default true */
    dotLines?: boolean;
    /** Header lines to add after Received (verdicts; submission's Date and Message-ID). */
    extraHeaders?: string;
    /** Local copies go to this mailbox instead of INBOX (Junk for DMARC quarantine). */
    mailbox?: string;
  },
): Promise<Accepted> {
  const id = trace.id ?? newMessageId();
  const mailboxes: MailboxTarget[] = [];
  const remote: string[] = [];
  for (const r of envelope.recipients) {
    for (const route of r.routes) {
      if (route.kind === "local") mailboxes.push({ userId: route.userId, mailbox: trace.mailbox });
      else remote.push(route.address);
    }
  }
  const only = envelope.recipients.length === 1 ? envelope.recipients[0].address : undefined;
  // Return-Path belongs to final delivery only (RFC 5321 §4.4): the queued copy is the same
  // bytes without that first line, so one buffer serves both.
  const returnPath = encoder.encode(mailboxes.length > 0 ? returnPathHeader(envelope.sender) : "");
  const received = encoder.encode(
    receivedHeader({ ...trace, id, recipient: only }) + (trace.extraHeaders ?? ""),
  );
  const headLength = returnPath.length + received.length;
  let body: Uint8Array;
  if (headLength <= (trace.headroom ?? 0)) {
    body = new Uint8Array(
      content.buffer,
      content.byteOffset - headLength,
      headLength + content.length,
    );
  } else {
    body = new Uint8Array(headLength + content.length);
    body.set(content, headLength);
  }
  body.set(returnPath);
  body.set(received, returnPath.length);
  const committed = await commits.deliver({
    body,
    mailboxes,
    outbound: remote.length > 0 ? { sender: envelope.sender, recipients: remote } : undefined,
    outboundOffset: returnPath.length,
    internalDate: trace.date,
    dotLines: trace.dotLines,
  });
  return { id, localCount: mailboxes.length, remoteCount: remote.length, body: committed.body };
}
