/**
 * The junk filter's decision on one inbound message for one account: the
 * sender's reputation with the account first, then the classifier's score
 * over what the account has trained; the mailbox (Junk when spam), and the
 * `X-Postino-Spam` field that records why. When neither knows (an unknown
 * sender, an account that has not trained enough) there is no decision and
 * no field.
 */
import type { Store } from "../store/db.ts";
import {
  hasCorrespondents,
  isCorrespondent,
  junkFeatureCounts,
  junkTotals,
  junkWordCounts,
} from "../store/junk.ts";
import { FeatureTable } from "./feature_table.ts";
import { classify } from "./bayes.ts";
import { judgeReputation, reputationFeatures, type SenderFacts } from "./reputation.ts";
import { tokenize } from "./tokenize.ts";

/** Trained messages of each kind the classifier needs before it decides. */
export const MIN_TRAINED = 30;
/** A score at or above this files the message into Junk. */
export const SPAM_THRESHOLD = 0.9;

/** What the filter decided for one account. */
export interface JunkVerdict {
  spam: boolean;
  /** The classifier's score, 0 to 1; undefined when it abstained. */
  score?: number;
  /** Why, for the log and the header field. */
  reason: string;
  /** What decided; undefined when nothing did. */
  by?: "reputation" | "dnsbl" | "content";
  /**
   * The header field with CRLF, `X-Postino-Spam: yes|no; score=...; reason="..."`,
   * or "" when the filter abstained: no decision, nothing to record.
   */
  header: string;
}

/**
 * The features of `message`, read at the first call and kept: a message to
 * several accounts is tokenized once, one that no trained account gets never.
 */
export function featuresOf(message: Uint8Array): () => readonly string[] {
  let features: readonly string[] | undefined;
  return () => features ??= [...tokenize(message)];
}

/**
 * Judges a message, given by its sender's facts and its features (both read
 * only when needed), for user `userId`; `listedOn` are the DNS blocklists
 * (`spam.dnsbl_action` "junk") that list the client: spam unless the
 * sender's reputation vouches for it.
 */
export function judgeJunk(
  store: Store,
  userId: number,
  features: () => readonly string[],
  sender: () => SenderFacts = () => ({ dkim: [] }),
  listedOn: readonly string[] = [],
): JunkVerdict {
  const totals = junkTotals(store, userId);
  // An account that never trained and never wrote to anyone has no reputations to ask.
  if (totals.version > 0 || hasCorrespondents(store, userId)) {
    const facts = sender();
    const known = junkFeatureCounts(store, userId, reputationFeatures(facts));
    const correspondent = facts.from !== undefined && isCorrespondent(store, userId, facts.from);
    const reputation = judgeReputation(facts, (f) => known.get(f), correspondent);
    if (reputation) {
      return verdict(reputation.spam, reputation.spam ? 1 : 0, reputation.reason, "reputation");
    }
  }
  if (listedOn.length > 0) {
    return verdict(true, 1, `client listed on ${listedOn.join(", ")}`, "dnsbl");
  }
  // Cheap first: an account that has not trained enough costs no tokenizing.
  if (totals.spam < MIN_TRAINED || totals.ham < MIN_TRAINED) {
    return verdict(
      false,
      undefined,
      `not trained enough (${totals.spam} spam, ${totals.ham} ham; ${MIN_TRAINED} of each needed)`,
    );
  }
  const table = featureTable(store, userId, totals.version);
  const result = classify(features(), {
    spamMessages: totals.spam,
    hamMessages: totals.ham,
    counts: (f) => table.get(f),
  }, { minTrained: MIN_TRAINED });
  if (result.abstained) return verdict(false, undefined, result.reason);
  const spam = result.score >= SPAM_THRESHOLD;
  const clues = result.clues.slice(0, 5).map(([f, p]) => `${f}:${p.toFixed(2)}`).join(" ");
  return verdict(spam, result.score, `bayes${clues ? ` ${clues}` : ""}`, "content");
}

/** Accounts whose feature tables are kept in memory, at most; the least recently used goes. */
const TABLES_KEPT = 8;
const tables = new WeakMap<Store, Map<number, { version: number; table: FeatureTable }>>();

/** User `userId`'s feature table at `version` of their training: kept, or read from the store. */
function featureTable(store: Store, userId: number, version: number): FeatureTable {
  let kept = tables.get(store);
  if (!kept) tables.set(store, kept = new Map());
  let entry = kept.get(userId);
  if (!entry || entry.version !== version) {
    entry = { version, table: new FeatureTable(junkWordCounts(store, userId)) };
  }
  // Map order is insertion order: re-inserting makes it the most recently used.
  kept.delete(userId);
  kept.set(userId, entry);
  for (const oldest of kept.keys()) {
    if (kept.size <= TABLES_KEPT) break;
    kept.delete(oldest);
  }
  return entry.table;
}

function verdict(
  spam: boolean,
  score: number | undefined,
  reason: string,
  by?: JunkVerdict["by"],
): JunkVerdict {
  // A quoted-string (RFC 5322 §3.2.4): no quotes, backslashes or line breaks inside.
  const quoted = reason.replace(/[\\"\r\n]/g, "").slice(0, 200);
  const header = score === undefined
    ? ""
    : `X-Postino-Spam: ${spam ? "yes" : "no"}; score=${score.toFixed(3)}; reason="${quoted}"\r\n`;
  return { spam, score, reason, by, header };
}
