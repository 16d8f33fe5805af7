/**
 * Storing a bounce (RFC 3464 DSN, built by dsn.ts) for the envelope sender:
 * into their mailbox when they are local, into the queue when not. Used by
 * the queue runner for failed deliveries and by SMTP for recipients found
 * over quota once a message's size is known.
 */
import type { Config } from "../config.ts";
import type { Store } from "../store/db.ts";
import { deliver } from "../store/mailboxes.ts";
import { buildDsn, type FailedRecipient } from "./dsn.ts";
import { resolveRecipient } from "./router.ts";

/** What bounced. */
export interface Bounce {
  /** The original envelope sender; "" (the null sender) gets no bounce (RFC 3464 §2). */
  sender: string;
  failed: FailedRecipient[];
  arrivalDate: Date;
  original: Uint8Array;
}

/** What {@link storeBounce} did. */
export type BounceOutcome =
  | { stored: true; mailboxIds: number[]; queued: boolean }
  | { stored: false; why: "null sender" | "no route" };

/** Stores the bounce of `bounce` for its sender, in the caller's transaction if any. */
export function storeBounce(store: Store, config: Config, bounce: Bounce): BounceOutcome {
  // RFC 3464 §2 / RFC 5321 §6.1: never bounce a bounce.
  if (bounce.sender === "") return { stored: false, why: "null sender" };
  const dsn = buildDsn({ hostname: config.hostname, ...bounce });
  const routes = resolveRecipient(store, bounce.sender, { postmaster: config.postmaster });
  if (!routes) return { stored: false, why: "no route" };
  const local = routes.flatMap((r) => r.kind === "local" ? [{ userId: r.userId }] : []);
  const remote = routes.flatMap((r) => r.kind === "remote" ? [r.address] : []);
  // Final delivery gets Return-Path (RFC 5321 §4.4), the queued copy goes without.
  const returnPath = new TextEncoder().encode("Return-Path: <>\r\n");
  const body = new Uint8Array(returnPath.length + dsn.length);
  body.set(returnPath);
  body.set(dsn, returnPath.length);
  const stored = deliver(store, {
    body: local.length > 0 ? body : dsn,
    mailboxes: local,
    outbound: remote.length > 0 ? { sender: "", recipients: remote } : undefined,
    outboundOffset: local.length > 0 ? returnPath.length : 0,
  });
  return {
    stored: true,
    mailboxIds: stored.entries.map((e) => e.mailboxId),
    queued: remote.length > 0,
  };
}
