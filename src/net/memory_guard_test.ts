import assert from "node:assert/strict";
import { MemoryGuard } from "./memory_guard.ts";

const MIB = 1024 * 1024;

/** A guard on a fake clock whose resident set follows `rss(now)`. */
function fakeGuard(rss: (now: number) => number, maxWaitMs?: number) {
  let now = 0;
  const events: string[] = [];
  const guard = new MemoryGuard({
    limitBytes: 100 * MIB,
    readRss: () => rss(now),
    collect: () => events.push(`collect@${now}`),
    onPressure: (slowed, bytes) => events.push(`${slowed ? "slow" : "fast"}@${bytes / MIB}`),
    maxWaitMs,
    now: () => now,
    sleep: (ms) => {
      now += ms;
      return Promise.resolve();
    },
  });
  return { guard, events, at: () => now, set: (t: number) => (now = t) };
}

Deno.test("MemoryGuard admits at once below 75% of the limit", async () => {
  const { guard, events } = fakeGuard(() => 74 * MIB);
  assert.equal(await guard.admit(), 0);
  assert.deepEqual(events, []);
});

Deno.test("MemoryGuard delays in proportion between 75% and 90% of the limit", async () => {
  const table: [number, number][] = [[75, 0], [78, 100], [82.5, 250], [89.9, 497]];
  for (const [mib, wantMs] of table) {
    const { guard, events } = fakeGuard(() => mib * MIB);
    assert.equal(await guard.admit(), wantMs, `${mib} MiB`);
    assert.deepEqual(events, [`slow@${mib}`]);
  }
});

Deno.test("MemoryGuard waits above 90% until memory falls, collecting garbage once a second", async () => {
  // 95 MiB until t=2500 ms, then 60 MiB (the collections freed it).
  const { guard, events, set } = fakeGuard((t) => t < 2500 ? 95 * MIB : 60 * MIB);
  assert.equal(await guard.admit(), 2500);
  assert.deepEqual(events, ["slow@95", "collect@0", "collect@1000", "collect@2000"]);
  set(2600);
  assert.equal(await guard.admit(), 0);
  assert.deepEqual(events.at(-1), "fast@60");
});

Deno.test("MemoryGuard lets a session go on after its longest wait when memory does not fall", async () => {
  const { guard } = fakeGuard(() => 99 * MIB, 1500);
  assert.equal(await guard.admit(), 1500);
});

Deno.test("MemoryGuard refuses a limit that is not a positive size", () => {
  for (const bad of [0, -1, NaN]) {
    assert.throws(() => new MemoryGuard({ limitBytes: bad }), RangeError);
  }
});
