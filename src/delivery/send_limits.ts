/**
 * The hourly send limits of authenticated users (`[limits] send_per_hour`,
 * `[limits] recipients_per_hour`), so that a stolen password cannot turn the
 * server into a spam source. One instance serves SMTP submission and the
 * send API alike: a message counts the same whichever way it came.
 *
 * - The window slides: what counts is what was accepted in the hour before
 *   now. A message counts once it is accepted (a refused one never does),
 *   with its recipients; a limit of 0 is no limit.
 * - Memory is bounded: a user's messages of one second share one entry (so
 *   at most 3600 per user), entries leave as they pass the hour, and a user
 *   with nothing left in the window is forgotten (everyone is swept at most
 *   once a minute). Counts live in memory: a restart forgets them, which an
 *   attacker with a password cannot cause.
 * - The clock is injected (`now`), so tests move time instead of waiting.
 */

/** The length of the window. */
export const WINDOW_MS = 3_600_000;
/** Messages of the same user within this long of the entry's first share that entry. */
const ENTRY_MS = 1000;
/** Everyone's expired entries are dropped at most this often. */
const SWEEP_MS = 60_000;

/** Which limit refused. */
export type SendLimit = "messages" | "recipients";

/** A refusal by a limit. */
export interface SendRefusal {
  limit: SendLimit;
  /** Messages, or recipients, accepted from the user in the window. */
  sent: number;
  /** Recipients asked for now (the recipients limit): this message's so far, with the new one. */
  asked: number;
  /** The limit. */
  max: number;
  /**
   * When asking again can succeed (epoch ms); undefined when waiting cannot
   * help (more recipients in one message than the limit).
   */
  retryAt?: number;
}

/** What a user sent in the window, beside the limits (for the admin page). */
export interface SendUsage {
  messages: number;
  recipients: number;
  /** 0 is no limit. */
  messagesLimit: number;
  /** 0 is no limit. */
  recipientsLimit: number;
  /** The user's last refusal, when it was within the window. */
  refused?: { at: number; limit: SendLimit };
}

/** How the limits are made. */
export interface SendLimitsOptions {
  /** Messages per user and hour; 0 is no limit. */
  messagesPerHour: number;
  /** Recipients per user and hour, over all messages; 0 is no limit. */
  recipientsPerHour: number;
  /** @default Date.now */
  now?: () => number;
  /** Told of every refusal (metrics). */
  onRefused?: (limit: SendLimit) => void;
}

interface Entry {
  at: number;
  messages: number;
  recipients: number;
}

interface UserWindow {
  /** Oldest first. */
  entries: Entry[];
  messages: number;
  recipients: number;
  refused?: { at: number; limit: SendLimit };
}

/** The counts of every user who sent in the last hour, and the checks against the limits. */
export class SendLimits {
  readonly messagesPerHour: number;
  readonly recipientsPerHour: number;
  readonly #now: () => number;
  readonly #onRefused?: (limit: SendLimit) => void;
  readonly #users = new Map<string, UserWindow>();
  #sweptAt = -Infinity;

  constructor(options: SendLimitsOptions) {
    this.messagesPerHour = options.messagesPerHour;
    this.recipientsPerHour = options.recipientsPerHour;
    this.#now = options.now ?? Date.now;
    this.#onRefused = options.onRefused;
  }

  /** The clock the window runs on. */
  now(): number {
    return this.#now();
  }

  /** A refusal when one more message from `user` would pass the message limit. */
  checkMessage(user: string): SendRefusal | undefined {
    const max = this.messagesPerHour;
    if (max <= 0) return undefined;
    const now = this.#now();
    const w = this.#window(user, now);
    if (!w || w.messages < max) return undefined;
    return this.#refuse(user, now, {
      limit: "messages",
      sent: w.messages,
      asked: 1,
      max,
      retryAt: releaseAt(w, "messages", w.messages + 1 - max),
    });
  }

  /**
   * A refusal when `asked` recipients (those of the message being made,
   * with the new one) on top of what `user` sent in the window would pass
   * the recipients limit.
   */
  checkRecipients(user: string, asked: number): SendRefusal | undefined {
    const max = this.recipientsPerHour;
    if (max <= 0) return undefined;
    const now = this.#now();
    const w = this.#window(user, now);
    const sent = w?.recipients ?? 0;
    if (sent + asked <= max) return undefined;
    return this.#refuse(user, now, {
      limit: "recipients",
      sent,
      asked,
      max,
      retryAt: asked > max ? undefined : w && releaseAt(w, "recipients", sent + asked - max),
    });
  }

  /** Both checks, for a message whose recipients are all known (the send API). */
  check(user: string, recipients: number): SendRefusal | undefined {
    return this.checkMessage(user) ?? this.checkRecipients(user, recipients);
  }

  /** Counts an accepted message of `user` to `recipients` recipients. */
  record(user: string, recipients: number): void {
    const now = this.#now();
    const w = this.#window(user, now) ?? this.#add(user);
    const last = w.entries.at(-1);
    if (last && now >= last.at && now - last.at < ENTRY_MS) {
      last.messages++;
      last.recipients += recipients;
    } else {
      w.entries.push({ at: now, messages: 1, recipients });
    }
    w.messages++;
    w.recipients += recipients;
  }

  /** What `user` sent in the window, and the limits. */
  usage(user: string): SendUsage {
    const w = this.#window(user, this.#now());
    return {
      messages: w?.messages ?? 0,
      recipients: w?.recipients ?? 0,
      messagesLimit: this.messagesPerHour,
      recipientsLimit: this.recipientsPerHour,
      ...(w?.refused ? { refused: { ...w.refused } } : {}),
    };
  }

  /** How many users and entries the limits remember now (tests: memory stays bounded). */
  remembered(): { users: number; entries: number } {
    this.#sweep(this.#now(), true);
    let entries = 0;
    for (const w of this.#users.values()) entries += w.entries.length;
    return { users: this.#users.size, entries };
  }

  #add(user: string): UserWindow {
    const w: UserWindow = { entries: [], messages: 0, recipients: 0 };
    this.#users.set(user, w);
    return w;
  }

  #refuse(user: string, now: number, refusal: SendRefusal): SendRefusal {
    const w = this.#users.get(user) ?? this.#add(user);
    w.refused = { at: now, limit: refusal.limit };
    this.#onRefused?.(refusal.limit);
    return refusal;
  }

  /** The user's window with what passed the hour dropped; undefined when nothing is left. */
  #window(user: string, now: number): UserWindow | undefined {
    this.#sweep(now, false);
    const w = this.#users.get(user);
    if (!w) return undefined;
    if (expire(w, now)) return w;
    this.#users.delete(user);
    return undefined;
  }

  #sweep(now: number, force: boolean): void {
    if (!force && now - this.#sweptAt < SWEEP_MS && now >= this.#sweptAt) return;
    this.#sweptAt = now;
    for (const [user, w] of this.#users) if (!expire(w, now)) this.#users.delete(user);
  }
}

/** Drops what passed the hour; false when the user has nothing left to remember. */
function expire(w: UserWindow, now: number): boolean {
  let drop = 0;
  while (drop < w.entries.length && w.entries[drop].at + WINDOW_MS <= now) {
    w.messages -= w.entries[drop].messages;
    w.recipients -= w.entries[drop].recipients;
    drop++;
  }
  if (drop > 0) w.entries.splice(0, drop);
  if (w.refused && w.refused.at + WINDOW_MS <= now) w.refused = undefined;
  return w.entries.length > 0 || w.refused !== undefined;
}

/** When enough of the oldest entries have left the window to free `needed` messages or recipients. */
function releaseAt(w: UserWindow, what: SendLimit, needed: number): number | undefined {
  let freed = 0;
  for (const entry of w.entries) {
    freed += what === "messages" ? entry.messages : entry.recipients;
    if (freed >= needed) return entry.at + WINDOW_MS;
  }
  return undefined;
}

/**
 * The refusal in words, the same for SMTP and the API:
 * "alice@example.com sent 200 messages in the last hour, limit 200; try again in 12 min".
 */
export function describeRefusal(user: string, refusal: SendRefusal, now: number): string {
  const when = refusal.retryAt === undefined
    ? "try again later"
    : `try again in ${Math.max(1, Math.ceil((refusal.retryAt - now) / 60_000))} min`;
  if (refusal.limit === "messages") {
    return `${user} sent ${refusal.sent} message${plural(refusal.sent)} in the last hour, ` +
      `limit ${refusal.max}; ${when}`;
  }
  return `${user} sent to ${refusal.sent} recipient${plural(refusal.sent)} in the last hour ` +
    `and this message has ${refusal.asked}, limit ${refusal.max}; ${when}`;
}

function plural(n: number): string {
  return n === 1 ? "" : "s";
}
