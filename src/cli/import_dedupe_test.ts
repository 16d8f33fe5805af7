import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { KeySet } from "./import_dedupe.ts";

const key = (n: number) => new Uint8Array(createHash("sha256").update(String(n)).digest());

Deno.test("KeySet adds, finds and deletes 128-bit keys, as a Set of their hex would", () => {
  const set = new KeySet();
  const model = new Set<number>();
  // A seeded walk of adds and deletes, through several growths of the table.
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let step = 0; step < 30_000; step++) {
    const n = Math.floor(random() * 8000);
    if (random() < 0.7) {
      assert.equal(set.add(key(n)), !model.has(n), `add ${n}`);
      model.add(n);
    } else {
      set.delete(key(n));
      model.delete(n);
    }
  }
  assert.equal(set.size, model.size);
  for (let n = 0; n < 8000; n++) assert.equal(set.has(key(n)), model.has(n), `has ${n}`);
});

Deno.test("KeySet tells keys apart that differ in any of their 16 bytes, and none beyond", () => {
  const set = new KeySet();
  const base = new Uint8Array(32);
  set.add(base);
  for (let i = 0; i < 16; i++) {
    const other = base.slice();
    other[i] = 0x80;
    assert.equal(set.has(other), false, `byte ${i}`);
  }
  const tail = base.slice();
  tail[20] = 1;
  assert.equal(set.has(tail), true, "bytes after the 16th do not count");
  // The all-zero key is a key like any other.
  assert.equal(set.add(new Uint8Array(32)), false);
});
