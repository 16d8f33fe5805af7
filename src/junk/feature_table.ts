/**
 * An account's feature counts in memory, for the classifier: each feature is
 * hashed to 32 bits (feature hashing) into an open-addressing table of typed
 * arrays, 12 bytes a slot, so 30,000 features take about 0.75 MB outside the
 * JavaScript heap. Looking up a message's features this way costs a few
 * microseconds instead of a SQLite lookup each (half a millisecond for a
 * message). Two features with the same hash share counts: with 200,000
 * features in 2^32 hashes that happens to a handful, which moves no verdict.
 *
 * The store stays the truth: a table is built from it and rebuilt when the
 * account's training changes (verdict.ts).
 */

/** FNV-1a over the UTF-16 code units, never 0 (0 marks an empty slot). */
export function featureHash(feature: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < feature.length; i++) {
    h ^= feature.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) || 1;
}

/** Feature counts by hash. */
export class FeatureTable {
  readonly #keys: Uint32Array;
  readonly #spam: Uint32Array;
  readonly #ham: Uint32Array;
  readonly #mask: number;

  /** A table of the rows `[feature, spam, ham]`. */
  constructor(rows: readonly (readonly [string, number, number])[]) {
    // At most half full, so probes stay short.
    let size = 16;
    while (size < rows.length * 2) size *= 2;
    this.#keys = new Uint32Array(size);
    this.#spam = new Uint32Array(size);
    this.#ham = new Uint32Array(size);
    this.#mask = size - 1;
    for (const [feature, spam, ham] of rows) {
      const hash = featureHash(feature);
      const slot = this.#slot(hash);
      this.#keys[slot] = hash;
      this.#spam[slot] += spam;
      this.#ham[slot] += ham;
    }
  }

  /** Bytes the table holds. */
  get bytes(): number {
    return this.#keys.byteLength * 3;
  }

  /** The counts of `feature`, or undefined when it was never seen. */
  get(feature: string): { spam: number; ham: number } | undefined {
    const hash = featureHash(feature);
    const slot = this.#slot(hash);
    if (this.#keys[slot] === 0) return undefined;
    return { spam: this.#spam[slot], ham: this.#ham[slot] };
  }

  /** The slot of `hash`: where it is, or the empty slot where it would go. */
  #slot(hash: number): number {
    let slot = hash & this.#mask;
    while (this.#keys[slot] !== 0 && this.#keys[slot] !== hash) slot = (slot + 1) & this.#mask;
    return slot;
  }
}
