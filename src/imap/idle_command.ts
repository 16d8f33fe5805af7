/**
 * IDLE (RFC 2177): after the continuation, the changes of the selected
 * mailbox are sent as they happen, until the client says DONE. Other
 * sessions' changes arrive through {@link MailboxChanges}; a poll catches
 * those of other processes.
 */
import { type Connection, ConnectionClosed, ConnectionShutdown } from "../net/connection.ts";
import type { MailboxChanges } from "../store/changes.ts";
import { bad, ok, type Reply, type Untagged } from "./reply.ts";

/** During IDLE the mailbox is also looked at this often (changes made by other processes). */
const IDLE_POLL_MS = 10_000;

/** What IDLE needs of its session. */
export interface IdleOptions {
  /** The selected mailbox; undefined: nothing is selected, IDLE only waits for DONE. */
  mailboxId: number | undefined;
  changes: MailboxChanges;
  /** Sends what changed in the selected mailbox since the session last looked. */
  report: () => Promise<void>;
  untagged: Untagged;
  /** The longest line read while idling. */
  maxLine: number;
}

/** Runs IDLE to its end: DONE, anything else (BAD), or a server shutdown (BYE). */
export async function idleCommand(conn: Connection, options: IdleOptions): Promise<Reply> {
  const { mailboxId } = options;
  await conn.write("+ idling\r\n");
  let pending: Promise<void> = Promise.resolve();
  const report = () => {
    pending = pending.then(() => options.report()).then(() => conn.flush()).catch(() => {});
  };
  const unsubscribe = mailboxId !== undefined
    ? options.changes.subscribe(mailboxId, report)
    : () => {};
  const poll = mailboxId !== undefined ? setInterval(report, IDLE_POLL_MS) : undefined;
  try {
    report();
    for (;;) {
      const line = await conn.readLine(options.maxLine, { betweenCommands: true });
      if (line === null) throw new ConnectionClosed();
      const text = new TextDecoder().decode(line.bytes).trim();
      if (text.toUpperCase() === "DONE") break;
      return bad("Expected DONE");
    }
  } catch (err) {
    if (err instanceof ConnectionShutdown) {
      await options.untagged("BYE Server shutting down");
      return { ...ok("IDLE terminated"), close: "shutdown" };
    }
    throw err;
  } finally {
    unsubscribe();
    clearInterval(poll);
    await pending;
  }
  return ok("IDLE terminated");
}
