import assert from "node:assert/strict";
import { MemoryGuard } from "./memory_guard.ts";

const MIB = 1024 * 1024;

/** A guard with a 100 MiB limit on a fake clock whose resident set follows `rss(now)`. */
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
  /** Admits once; gives the milliseconds waited and the release. */
  const admit = async () => {
    const started = now;
    const release = await guard.admit();
    return { waited: now - started, release };
  };
  return { admit, events, set: (t: number) => (now = t) };
}

Deno.test("MemoryGuard admits at once below 75% of the limit", async () => {
  const { admit, events } = fakeGuard(() => 74 * MIB);
  for (let i = 0; i < 5; i++) assert.equal((await admit()).waited, 0);
  assert.deepEqual(events, []);
});

Deno.test("MemoryGuard delays in proportion between 75% and 90% of the limit", async () => {
  const table: [number, number][] = [[75, 0], [78, 100], [82.5, 250], [89.9, 497]];
  for (const [mib, wantMs] of table) {
    const { admit, events } = fakeGuard(() => mib * MIB);
    assert.equal((await admit()).waited, wantMs, `${mib} MiB`);
    assert.deepEqual(events, [`slow@${mib}`]);
  }
});

Deno.test("MemoryGuard above 90% takes two messages in at once and collects garbage", async () => {
  // 95 MiB until t=2500 ms, then 60 MiB (the collections freed it).
  const { admit, events, set } = fakeGuard((t) => t < 2500 ? 95 * MIB : 60 * MIB);
  const first = await admit();
  const second = await admit();
  assert.deepEqual([first.waited, second.waited], [0, 0], "two in at once");
  // The third waits for memory to fall, or a turn, collecting once a second meanwhile.
  const third = admit();
  const thirdDone = await third;
  assert.equal(thirdDone.waited, 2500);
  assert.deepEqual(events, ["slow@95", "collect@0", "collect@1000", "collect@2000"]);
  for (const r of [first, second, thirdDone]) r.release();
  set(2600);
  assert.equal((await admit()).waited, 0);
  assert.equal(events.at(-1), "fast@60");
});

Deno.test("MemoryGuard gives a turn as soon as a message above the mark is in", async () => {
  let now = 0;
  const guard = new MemoryGuard({
    limitBytes: 100 * MIB,
    readRss: () => 99 * MIB,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
      await Promise.resolve();
    },
  });
  const a = await guard.admit();
  await guard.admit();
  let thirdIn = false;
  const third = guard.admit().then((release) => {
    thirdIn = true;
    return release;
  });
  for (let i = 0; i < 5; i++) await Promise.resolve();
  assert.equal(thirdIn, false, "waits while two are in");
  a();
  a(); // a second call changes nothing
  (await third)();
  assert.ok(now < 1000, `in after ${now} ms, once a turn was free`);
});

Deno.test("MemoryGuard lets a session go on after its longest wait", async () => {
  const { admit } = fakeGuard(() => 99 * MIB, 1500);
  await admit();
  await admit();
  assert.equal((await admit()).waited, 1500);
});

Deno.test("MemoryGuard refuses a limit that is not a positive size", () => {
  for (const bad of [0, -1, NaN]) {
    assert.throws(() => new MemoryGuard({ limitBytes: bad }), RangeError);
  }
});
