import assert from "node:assert/strict";
import { runPeriodically } from "./periodic.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("runPeriodically() runs at once and on its interval, survives errors, and stops", async () => {
  let runs = 0;
  const errors: unknown[] = [];
  const stop = runPeriodically(
    () => {
      runs++;
      if (runs === 2) throw new Error("round two fails");
    },
    10,
    { onError: (err) => errors.push(err) },
  );
  assert.equal(runs, 1, "at once");
  const deadline = Date.now() + 5000;
  while (runs < 4 && Date.now() < deadline) await sleep(5);
  stop();
  assert.ok(runs >= 4, `went on after the failing round: ${runs}`);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /round two fails/);
  const stopped = runs;
  await sleep(50);
  assert.equal(runs, stopped, "no round after stop");

  let later = 0;
  const stopLater = runPeriodically(() => later++, 1000, { now: false });
  assert.equal(later, 0, "now: false waits for the interval");
  stopLater();
});
