import assert from "node:assert/strict";
import { DnsCache } from "./cache.ts";

Deno.test("DnsCache keeps an answer for its TTL, capped, and never for 0", () => {
  let now = 0;
  const cache = new DnsCache<string>({ now: () => now });
  cache.set("a", "A", 10, false);
  cache.set("zero", "Z", 0, false);
  cache.set("long", "L", 999_999, false);
  cache.set("neg", "N", 999_999, true);
  assert.equal(cache.get("a"), "A");
  assert.equal(cache.get("zero"), undefined);
  now = 10_000;
  assert.equal(cache.get("a"), undefined, "expired after 10 s");
  now = 899_000;
  assert.equal(cache.get("neg"), "N");
  now = 900_000;
  assert.equal(cache.get("neg"), undefined, "negative answers at most 15 min");
  now = 3_599_000;
  assert.equal(cache.get("long"), "L");
  now = 3_600_000;
  assert.equal(cache.get("long"), undefined, "anything at most 1 h");
});

Deno.test("DnsCache drops the oldest entry when full", () => {
  const cache = new DnsCache<number>({ maxEntries: 3 });
  for (let i = 0; i < 5; i++) cache.set(`k${i}`, i, 60, false);
  assert.equal(cache.size, 3);
  assert.equal(cache.get("k0"), undefined);
  assert.equal(cache.get("k1"), undefined);
  assert.equal(cache.get("k4"), 4);
});
