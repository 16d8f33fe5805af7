import assert from "node:assert/strict";
import { DnsCache, MAX_NEGATIVE_TTL, MAX_TTL, MIN_NEGATIVE_TTL, MIN_TTL } from "./cache.ts";

Deno.test("DnsCache keeps an answer for its TTL, between a floor and a ceiling", () => {
  const cases: [string, number | undefined, boolean, number][] = [
    ["a", 10, false, 10],
    ["zero", 0, false, MIN_TTL],
    ["negative-ttl", -5, false, MIN_TTL],
    ["long", 999_999, false, MAX_TTL],
    ["neg", 999_999, true, MAX_NEGATIVE_TTL],
    ["neg-short", 1, true, MIN_NEGATIVE_TTL],
    ["neg-no-soa", undefined, true, MIN_NEGATIVE_TTL],
    ["neg-mid", 120, true, 120],
  ];
  for (const [key, ttl, negative, seconds] of cases) {
    let now = 0;
    const cache = new DnsCache<string>({ now: () => now });
    cache.set(key, key, ttl, negative);
    now = seconds * 1000 - 1;
    assert.equal(cache.get(key), key, `${key} still kept just before ${seconds} s`);
    now = seconds * 1000;
    assert.equal(cache.get(key), undefined, `${key} gone after ${seconds} s`);
  }
});

Deno.test("DnsCache drops the oldest entry when full", () => {
  const cache = new DnsCache<number>({ maxEntries: 3 });
  for (let i = 0; i < 5; i++) cache.set(`k${i}`, i, 60, false);
  assert.equal(cache.size, 3);
  assert.equal(cache.get("k0"), undefined);
  assert.equal(cache.get("k1"), undefined);
  assert.equal(cache.get("k4"), 4);
});
