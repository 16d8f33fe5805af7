/**
 * How a protocol session (SMTP, POP3, IMAP) ends: its command loop returns
 * why, or throws. An idle timeout and an internal error each get the
 * protocol's farewell; a peer that went away gets nothing; an internal error
 * is logged with its stack. One place, so the three protocols end alike.
 */
import type { Logger } from "@logtape/logtape";
import { type Connection, ConnectionClosed, ConnectionTimeout } from "./connection.ts";

/** What a session supplies: its greeting and loop, and its two farewells. */
export interface SessionRun {
  /** Greets the client, then runs commands until the session ends; gives why it ended. */
  serve(): Promise<string>;
  /** Tells a client that was idle too long that the session ends. */
  timedOut(): Promise<void>;
  /** Tells the client that the session ends on an internal error. */
  failed(): Promise<void>;
}

/** Runs a session to its end and gives why it ended, for the disconnect log line. */
export async function runToEnd(conn: Connection, logger: Logger, run: SessionRun): Promise<string> {
  try {
    return await run.serve();
  } catch (err) {
    if (err instanceof ConnectionTimeout) {
      await run.timedOut();
      return "timeout";
    }
    if (err instanceof ConnectionClosed) return "client closed";
    logger.error("{id} session failed: {error}", {
      id: conn.id,
      error: (err as Error)?.stack ?? String(err),
    });
    await run.failed();
    return `error: ${(err as Error)?.message ?? err}`;
  }
}
