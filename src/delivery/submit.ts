/**
 * Submitting a finished message on behalf of an authenticated user, as the
 * submission listener does for SMTP clients (RFC 6409): the same sender
 * check, the same routing of recipients, the same trace headers and durable
 * commit, then the queue (which signs outbound mail with DKIM). Used by the
 * HTTP send endpoint, which also keeps a copy in the user's Sent mailbox.
 */
import type { Config } from "../config.ts";
import { submissionHeaders } from "../mail/trace.ts";
import type { CommitQueue } from "../store/commit_queue.ts";
import type { Store } from "../store/db.ts";
import { FLAG_SEEN } from "../store/mailboxes.ts";
import { acceptMessage, newMessageId, type RoutedEnvelope } from "./accept.ts";
import { maySendAs, resolveRecipient } from "./router.ts";

/** Why a submission was refused; `field` is the index into the recipients or "from". */
export class SubmitError extends Error {
  readonly field: string;
  readonly status: "forbidden" | "invalid";
  constructor(message: string, field: string, status: "forbidden" | "invalid") {
    super(message);
    this.name = "SubmitError";
    this.field = field;
    this.status = status;
  }
}

/** What a submission needs of the server. */
export interface SubmitContext {
  config: Config;
  store: Store;
  commits: CommitQueue;
  outbound?: { wake(): void };
}

/** One submission. */
export interface Submission {
  user: { id: number; address: string };
  /** The envelope sender (normalised); must be one of the user's addresses. */
  sender: string;
  /** Normalised recipient addresses, each with the request field it came from. */
  recipients: { address: string; field: string }[];
  message: Uint8Array;
  /** The client, for the Received header. */
  remoteAddress: string;
  /** "HTTP" or "HTTPS", the Received header's `with`. */
  protocol: string;
  /** Also store the message, \Seen, in this mailbox of the user (e.g. "Sent"). */
  copyTo?: string;
}

/** What was accepted. */
export interface Submitted {
  /** Our id, as in the Received header and the logs. */
  id: string;
  localCount: number;
  remoteCount: number;
}

/**
 * Checks, routes and commits `submission`; resolves once the message and
 * its Sent copy are durable. Throws a {@link SubmitError} for a sender the
 * user may not use or a local recipient that does not exist.
 */
export async function submitMessage(
  ctx: SubmitContext,
  submission: Submission,
): Promise<Submitted> {
  const { store, config } = ctx;
  if (!maySendAs(store, submission.user.address, submission.sender)) {
    throw new SubmitError(
      `Sender address <${submission.sender}> not owned by ${submission.user.address}`,
      "from",
      "forbidden",
    );
  }
  const envelope: RoutedEnvelope = { sender: submission.sender, recipients: [] };
  for (const { address, field } of submission.recipients) {
    if (envelope.recipients.some((r) => r.address === address)) continue;
    const routes = resolveRecipient(store, address, { postmaster: config.postmaster });
    if (!routes) throw new SubmitError(`No such user here: <${address}>`, field, "invalid");
    envelope.recipients.push({ address, routes });
  }
  const id = newMessageId();
  const date = new Date();
  const accepted = await acceptMessage(ctx.commits, envelope, submission.message, {
    id,
    extraHeaders: submissionHeaders(submission.message, { hostname: config.hostname, id, date }),
    helo: "api",
    remoteAddress: submission.remoteAddress,
    hostname: config.hostname,
    protocol: submission.protocol,
    date,
  });
  if (accepted.remoteCount > 0) ctx.outbound?.wake();
  if (submission.copyTo) {
    await ctx.commits.deliver({
      body: submission.message,
      mailboxes: [{ userId: submission.user.id, mailbox: submission.copyTo }],
      flags: FLAG_SEEN,
      internalDate: date,
    });
  }
  return { id, localCount: accepted.localCount, remoteCount: accepted.remoteCount };
}
