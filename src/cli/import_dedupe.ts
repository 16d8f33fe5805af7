/**
 * Finds the messages an import has stored before, so importing the same
 * source twice adds nothing. Two messages are the same when their
 * {@link duplicateKey}s are (Message-ID and a hash of the body; the whole
 * message's hash without Message-ID), in the same mailbox.
 *
 * Nothing is stored for it (no schema change): a mailbox's existing entries
 * are grouped by body size, read from their stored metadata, and a stored
 * body is read and hashed only when a message of the same body size comes
 * along. A first import into an empty mailbox hashes nothing stored; a
 * repeated one reads each matching body once. Memory: one number per
 * existing entry, and 16 bytes in a typed array (off the garbage-collected
 * heap) per message seen.
 */
import { bodySize, duplicateKey } from "../mail/import_message.ts";
import type { Store } from "../store/db.ts";
import { messageBody } from "../store/entries.ts";
import { entryBodySizes } from "../store/import_index.ts";

/**
 * A set of 128-bit keys (the first 16 bytes of a SHA-256) in one typed
 * array: open addressing with linear probing, kept at most half full. A
 * slot of four zero words is empty; a key's first word has its lowest bit
 * set, so no key is all zero.
 */
export class KeySet {
  #slots = new Uint32Array(4 * 1024);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  #words(key: Uint8Array): [number, number, number, number] {
    const v = new DataView(key.buffer, key.byteOffset, 16);
    return [v.getUint32(0) | 1, v.getUint32(4), v.getUint32(8), v.getUint32(12)];
  }

  /** The slot holding `w`, or the empty slot where it would go. */
  #find(w: number[]): number {
    const mask = this.#slots.length / 4 - 1;
    let i = w[1] & mask;
    for (;;) {
      const at = i * 4;
      const s = this.#slots;
      if (s[at] === 0) return i;
      if (s[at] === w[0] >>> 0 && s[at + 1] === w[1] && s[at + 2] === w[2] && s[at + 3] === w[3]) {
        return i;
      }
      i = (i + 1) & mask;
    }
  }

  has(key: Uint8Array): boolean {
    return this.#slots[this.#find(this.#words(key)) * 4] !== 0;
  }

  /** Adds `key`; false when it was there already. */
  add(key: Uint8Array): boolean {
    const w = this.#words(key);
    const i = this.#find(w);
    if (this.#slots[i * 4] !== 0) return false;
    this.#slots.set(w, i * 4);
    this.#size++;
    if (this.#size * 2 > this.#slots.length / 4) this.#grow();
    return true;
  }

  /** Takes `key` out (moving the keys after it back, so no probe sequence breaks). */
  delete(key: Uint8Array): void {
    const s = this.#slots;
    const mask = s.length / 4 - 1;
    let i = this.#find(this.#words(key));
    if (s[i * 4] === 0) return;
    s.fill(0, i * 4, i * 4 + 4);
    this.#size--;
    for (let j = (i + 1) & mask; s[j * 4] !== 0; j = (j + 1) & mask) {
      const home = s[j * 4 + 1] & mask;
      // The key at j may move to i when i lies on its way from its home slot to j.
      if (((j - home) & mask) >= ((j - i) & mask)) {
        s.copyWithin(i * 4, j * 4, j * 4 + 4);
        s.fill(0, j * 4, j * 4 + 4);
        i = j;
      }
    }
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Uint32Array(old.length * 2);
    for (let at = 0; at < old.length; at += 4) {
      if (old[at] === 0) continue;
      const w = [old[at], old[at + 1], old[at + 2], old[at + 3]];
      this.#slots.set(w, this.#find(w) * 4);
    }
  }
}

interface Box {
  /** Stored messages not hashed yet, by body size (null: size unknown, hashed on first use). */
  bySize: Map<number | null, number[]>;
  keys: KeySet;
}

/** The keys of the messages in the mailboxes an import writes to. */
export class DuplicateIndex {
  readonly #store: Store;
  readonly #boxes = new Map<number, Box>();

  constructor(store: Store) {
    this.#store = store;
  }

  #box(mailboxId: number): Box {
    let box = this.#boxes.get(mailboxId);
    if (!box) {
      box = { bySize: new Map(), keys: new KeySet() };
      for (const { messageId, bodySize } of entryBodySizes(this.#store, mailboxId)) {
        const list = box.bySize.get(bodySize);
        if (list) list.push(messageId);
        else box.bySize.set(bodySize, [messageId]);
      }
      this.#boxes.set(mailboxId, box);
    }
    return box;
  }

  /** Hashes the stored messages that could be `message`'s twin. */
  async #hashCandidates(box: Box, size: number): Promise<void> {
    for (const group of [size, null]) {
      const ids = box.bySize.get(group);
      if (!ids) continue;
      box.bySize.delete(group);
      for (const id of ids) box.keys.add(await duplicateKey(messageBody(this.#store, id)));
    }
  }

  /**
   * Undefined when the mailbox holds `message` already (stored, or seen
   * earlier in this import); else remembers it as held and gives its key.
   */
  async add(mailboxId: number, message: Uint8Array): Promise<Uint8Array | undefined> {
    const box = this.#box(mailboxId);
    await this.#hashCandidates(box, bodySize(message));
    const key = await duplicateKey(message);
    return box.keys.add(key) ? key : undefined;
  }

  /** Forgets a message's key again (it was not stored after all). */
  forget(mailboxId: number, key: Uint8Array): void {
    this.#boxes.get(mailboxId)?.keys.delete(key);
  }
}
