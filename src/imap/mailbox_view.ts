/**
 * What one IMAP session knows of its selected mailbox: the uid of every
 * message number, and how far it has caught up with the mailbox's changes
 * (modseqs). `sync` brings it up to date and says what to tell the client:
 * expunges, new messages, flag changes (RFC 9051 §7.4, §7.5; RFC 7162).
 *
 * Invariant: a message number stays valid until its EXPUNGE was sent, so
 * expunges can be held back while a command that may not see them runs
 * (FETCH, STORE, SEARCH; RFC 9051 §7.5.1).
 */
import type { SequenceSet } from "./command.ts";
import {
  changedSince,
  type Entry,
  expungedSince,
  listUids,
  mailboxState,
} from "../store/entries.ts";
import type { Store } from "../store/db.ts";

/** What a sync found. */
export interface Updates {
  /** Expunged uids, each with the message number it had when reported (descending numbers). */
  expunged: { uid: number; seq: number }[];
  /** The message count, when it grew. */
  exists?: number;
  /** Entries of known messages whose flags changed. */
  changed: (Entry & { seq: number })[];
}

/** The selected mailbox of a session. */
export class MailboxView {
  readonly mailboxId: number;
  readonly readOnly: boolean;
  readonly uidvalidity: number;
  /** First uid that is \Recent for this session (IMAP4rev1 only). */
  readonly recentFrom: number;
  #uids: number[];
  #flagModseq: number;
  #expungeModseq: number;
  /** This session's own flag changes (uid to modseq), already told to the client. */
  #own = new Map<number, number>();

  constructor(
    store: Store,
    mailboxId: number,
    options: { readOnly: boolean; recentFrom: number },
  ) {
    const state = mailboxState(store, mailboxId)!;
    this.mailboxId = mailboxId;
    this.readOnly = options.readOnly;
    this.uidvalidity = state.uidvalidity;
    this.recentFrom = options.recentFrom;
    this.#uids = listUids(store, mailboxId);
    this.#flagModseq = state.highestModseq;
    this.#expungeModseq = state.highestModseq;
  }

  /** The number of messages the client knows. */
  get exists(): number {
    return this.#uids.length;
  }

  /** The uids, in message number order. */
  get uids(): readonly number[] {
    return this.#uids;
  }

  /** The highest modseq this session has caught up with. */
  get modseq(): number {
    return Math.min(this.#flagModseq, this.#expungeModseq);
  }

  /** The message number of a uid, or 0. */
  seqOf(uid: number): number {
    let lo = 0;
    let hi = this.#uids.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.#uids[mid];
      if (v === uid) return mid + 1;
      if (v < uid) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  /** The count of \Recent messages (uids at or after `recentFrom`). */
  get recent(): number {
    return this.#uids.filter((u) => u >= this.recentFrom).length;
  }

  /**
   * The uids a sequence set names, ascending, without duplicates: message
   * numbers (`byUid` false) or uids. Numbers past the end are ignored for
   * uids, an error for message numbers (the caller answers BAD).
   */
  resolve(set: SequenceSet, byUid: boolean, saved?: readonly number[]): number[] | "invalid" {
    if (set.saved) return [...(saved ?? [])].filter((u) => this.seqOf(u) > 0);
    const out = new Set<number>();
    const uids = this.#uids;
    if (byUid) {
      const max = uids.length > 0 ? uids[uids.length - 1] : 0;
      for (const r of set.ranges) {
        let a = r.from === "*" ? max : r.from;
        let b = r.to === "*" ? max : r.to;
        if (a > b) [a, b] = [b, a];
        // RFC 9051 §6.4.9: "n:*" names the largest uid even when n is larger.
        if ((r.from === "*" || r.to === "*") && a > max && max > 0) a = b = max;
        for (const uid of uids) if (uid >= a && uid <= b) out.add(uid);
      }
    } else {
      const n = uids.length;
      for (const r of set.ranges) {
        let a = r.from === "*" ? n : r.from;
        let b = r.to === "*" ? n : r.to;
        if (a > b) [a, b] = [b, a];
        if (a < 1 || b > n) return "invalid";
        for (let i = a; i <= b; i++) out.add(uids[i - 1]);
      }
    }
    return [...out].sort((x, y) => x - y);
  }

  /**
   * Whether a uid set names `uid`, whether or not that message still exists:
   * VANISHED reports expunged uids of the set the client gave (RFC 7162
   * §3.2.6). `*` is unbounded here, since the client may know uids above the
   * largest one left.
   */
  static uidSetIncludes(set: SequenceSet, uid: number): boolean {
    return set.ranges.some((r) => {
      const a = r.from === "*" ? Infinity : r.from;
      const b = r.to === "*" ? Infinity : r.to;
      return uid >= Math.min(a, b) && uid <= Math.max(a, b);
    });
  }

  /** Notes flag changes this session made and reported itself, so `sync` does not repeat them. */
  absorb(changed: { uid: number; modseq: number }[]): void {
    for (const c of changed) this.#own.set(c.uid, c.modseq);
  }

  /**
   * Catches up with the mailbox. With `allowExpunge` false, expunges stay
   * pending (their numbers stay valid) and are reported by a later sync.
   */
  sync(store: Store, allowExpunge: boolean): Updates {
    const updates: Updates = { expunged: [], changed: [] };
    const state = mailboxState(store, this.mailboxId);
    if (!state) return updates; // the mailbox was deleted; the session notices on its own
    if (state.highestModseq === this.#flagModseq && state.highestModseq === this.#expungeModseq) {
      return updates;
    }
    if (allowExpunge && state.highestModseq > this.#expungeModseq) {
      const gone = new Set(expungedSince(store, this.mailboxId, this.#expungeModseq));
      // Report from the highest number down, so each number is right when sent.
      for (let i = this.#uids.length - 1; i >= 0; i--) {
        if (gone.has(this.#uids[i])) updates.expunged.push({ uid: this.#uids[i], seq: i + 1 });
      }
      if (updates.expunged.length > 0) this.#uids = this.#uids.filter((u) => !gone.has(u));
      this.#expungeModseq = state.highestModseq;
    }
    if (state.highestModseq > this.#flagModseq) {
      const max = this.#uids.length > 0 ? this.#uids[this.#uids.length - 1] : 0;
      const before = this.#uids.length;
      for (const e of changedSince(store, this.mailboxId, this.#flagModseq)) {
        if (e.uid > max) this.#uids.push(e.uid);
        else if (this.#own.get(e.uid) === e.modseq) {
          // Our own change, reported when it was made.
        } else {
          const seq = this.seqOf(e.uid);
          if (seq > 0) updates.changed.push({ ...e, seq });
        }
      }
      if (this.#uids.length > before) updates.exists = this.#uids.length;
      this.#flagModseq = state.highestModseq;
      this.#own.clear();
    }
    return updates;
  }
}
