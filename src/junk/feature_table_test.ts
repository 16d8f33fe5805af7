import assert from "node:assert/strict";
import { featureHash, FeatureTable } from "./feature_table.ts";

Deno.test("featureHash() is FNV-1a of the UTF-16 code units, never 0", () => {
  const table: [string, number][] = [
    ["", 0x811c9dc5],
    ["a", 0xe40c292c],
    ["foobar", 0xbf9cf968],
  ];
  for (const [text, want] of table) assert.equal(featureHash(text), want, JSON.stringify(text));
  assert.notEqual(featureHash("große"), featureHash("grosse"));
});

Deno.test("FeatureTable gives the counts of what it holds and nothing for the rest", () => {
  const rows: [string, number, number][] = Array.from(
    { length: 5000 },
    (_, i) => [`word${i}`, i % 7, i % 3],
  );
  const table = new FeatureTable(rows);
  for (const [feature, spam, ham] of rows) {
    assert.deepEqual(table.get(feature), { spam, ham }, feature);
  }
  for (const absent of ["word5000", "", "subject:word1", "Word1"]) {
    assert.equal(table.get(absent), undefined, absent);
  }
  assert.equal(table.bytes, 16384 * 12, "at most half full: 5000 rows in 16384 slots");
  const empty = new FeatureTable([]);
  assert.equal(empty.get("anything"), undefined);
});
