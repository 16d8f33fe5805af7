/**
 * Learning from what the user does with their mail (issue 14): a message
 * moved or copied into the Junk mailbox, or given the `$Junk` keyword, is
 * trained as spam; as ham when moved out of Junk (except to Trash, where
 * clients put what the user deletes), filed from INBOX into a mailbox of
 * their own (Archive or a folder, not Trash or Junk), answered (`\Answered`
 * outside Junk), or given `$NotJunk`. Reading teaches nothing: people read
 * spam before they throw it away. Retraining a message on the other side
 * takes its earlier training back (store/junk.ts).
 */
import type { Store } from "../store/db.ts";
import { messageBody } from "../store/entries.ts";
import { noteCorrespondents, trainJunk, type TrainOutcome } from "../store/junk.ts";
import { log } from "../log.ts";
import { reputationFeatures, storedSenderFacts } from "./reputation.ts";
import { tokenize } from "./tokenize.ts";

const logger = log("junk");

/** A mailbox as the lessons see it: its name and special use (RFC 6154). */
export interface MailboxKind {
  name: string;
  specialUse?: string;
}

/** Where mail the user keeps on purpose can go: not Junk, Trash, Sent or Drafts. */
function keeps(box: MailboxKind): boolean {
  return !["\\Junk", "\\Trash", "\\Sent", "\\Drafts"].includes(box.specialUse ?? "");
}

/** What a move or copy between two mailboxes teaches. */
export function lessonOfMove(from: MailboxKind, to: MailboxKind): "spam" | "ham" | undefined {
  const fromJunk = from.specialUse === "\\Junk";
  const toJunk = to.specialUse === "\\Junk";
  if (toJunk) return fromJunk ? undefined : "spam";
  if (fromJunk) return to.specialUse === "\\Trash" ? undefined : "ham";
  const inbox = (box: MailboxKind) => box.name.toUpperCase() === "INBOX";
  if (inbox(from) && !inbox(to) && keeps(to)) return "ham";
  return undefined;
}

/**
 * What flags and keywords added by STORE teach, in mailbox `box`: `$Junk`
 * spam, `$NotJunk` ham (both at once nothing), and `\Answered` outside Junk
 * ham: the user wrote back.
 */
export function lessonOfStore(
  box: MailboxKind,
  answered: boolean,
  keywords: readonly string[],
): "spam" | "ham" | undefined {
  const lower = keywords.map((k) => k.toLowerCase());
  const junk = lower.includes("$junk");
  const notJunk = lower.includes("$notjunk");
  if (junk !== notJunk) return junk ? "spam" : "ham";
  if (junk) return undefined;
  return answered && box.specialUse !== "\\Junk" ? "ham" : undefined;
}

/**
 * Trains the messages `messageIds` of user `userId` as `lesson`: their
 * words, and their senders' reputation as our own trace fields (authserv-id
 * and `by` = `hostname`) record it. Gives how many changed.
 */
export function train(
  store: Store,
  userId: number,
  messageIds: readonly number[],
  lesson: "spam" | "ham",
  hostname: string,
): number {
  let changed = 0;
  for (const messageId of new Set(messageIds)) {
    let outcome: TrainOutcome;
    try {
      const body = messageBody(store, messageId);
      const features = [
        ...tokenize(body),
        ...reputationFeatures(storedSenderFacts(body, hostname)),
      ];
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

/**
 * The recipients of a message user `userId` sent (submission, the send API)
 * become the account's correspondents: their verified mail skips the
 * content check. Called once the message is accepted, so it never fails.
 */
export function learnCorrespondents(
  store: Store,
  userId: number,
  recipients: readonly string[],
): void {
  try {
    noteCorrespondents(store, userId, recipients);
  } catch (err) {
    logger.warn("Could not note the correspondents of user {user}: {error}", {
      user: userId,
      error: (err as Error)?.message ?? String(err),
    });
  }
}
