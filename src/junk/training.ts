/**
 * Learning from what the user does with their mail (issue 14): a message
 * moved or copied into the Junk mailbox, or given the `$Junk` keyword, is
 * trained as spam; moved out of Junk (except to Trash, where clients put
 * what the user deletes), or given `$NotJunk`, as ham. Retraining a message
 * on the other side takes its earlier training back (store/junk.ts).
 */
import type { Store } from "../store/db.ts";
import { messageBody } from "../store/entries.ts";
import { trainJunk, type TrainOutcome } from "../store/junk.ts";
import { log } from "../log.ts";
import { tokenize } from "./tokenize.ts";

const logger = log("junk");

/** What a move or copy between two mailboxes teaches, by their special use (RFC 6154). */
export function lessonOfMove(
  fromSpecialUse: string | undefined,
  toSpecialUse: string | undefined,
): "spam" | "ham" | undefined {
  const fromJunk = fromSpecialUse === "\\Junk";
  const toJunk = toSpecialUse === "\\Junk";
  if (toJunk && !fromJunk) return "spam";
  if (fromJunk && !toJunk && toSpecialUse !== "\\Trash") return "ham";
  return undefined;
}

/** What keywords set by STORE teach: `$Junk` spam, `$NotJunk` ham, both or neither nothing. */
export function lessonOfKeywords(keywords: readonly string[]): "spam" | "ham" | undefined {
  const lower = keywords.map((k) => k.toLowerCase());
  const junk = lower.includes("$junk");
  const notJunk = lower.includes("$notjunk");
  if (junk === notJunk) return undefined;
  return junk ? "spam" : "ham";
}

/** Trains the messages `messageIds` of user `userId` as `lesson`; gives how many changed. */
export function train(
  store: Store,
  userId: number,
  messageIds: readonly number[],
  lesson: "spam" | "ham",
): number {
  let changed = 0;
  for (const messageId of new Set(messageIds)) {
    let outcome: TrainOutcome;
    try {
      const features = [...tokenize(messageBody(store, messageId))];
      outcome = trainJunk(store, userId, messageId, features, lesson === "spam");
    } catch (err) {
      // Learning is a side effect of the user's action; it must not make the action fail.
      logger.warn("Could not train message {message} as {lesson}: {error}", {
        message: messageId,
        lesson,
        error: (err as Error)?.message ?? String(err),
      });
      continue;
    }
    if (outcome !== "unchanged") changed++;
    logger.debug("Trained message {message} of user {user} as {lesson} ({outcome})", {
      message: messageId,
      user: userId,
      lesson,
      outcome,
    });
  }
  return changed;
}
