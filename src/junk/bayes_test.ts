import assert from "node:assert/strict";
import { chi2Q, classify, featureProbability, type TrainedCounts } from "./bayes.ts";

function close(actual: number, want: number, what: string, within = 1e-6): void {
  assert.ok(Math.abs(actual - want) < within, `${what}: ${actual} is not ${want}`);
}

Deno.test("chi2Q() matches the chi-square survival function for even degrees of freedom", () => {
  // Closed forms (df 2: e^-x/2; df 4: e^-x/2 (1 + x/2)) and the 5% critical values of the
  // usual tables (df 6: 12.592, df 20: 31.410, df 40: 55.758).
  const table: [number, number, number, number][] = [
    [0, 2, 1, 1e-12],
    [2, 2, Math.exp(-1), 1e-12],
    [10, 4, Math.exp(-5) * 6, 1e-12],
    [12.592, 6, 0.05, 1e-4],
    [31.410, 20, 0.05, 1e-4],
    [55.758, 40, 0.05, 1e-4],
  ];
  for (const [x2, df, want, within] of table) {
    close(chi2Q(x2, df), want, `chi2Q(${x2}, ${df})`, within);
  }
});

Deno.test("featureProbability() follows Robinson: pulled to 0.5 while rarely seen", () => {
  const table: [number, number, number][] = [
    // spam, ham (of 100 spam and 100 ham messages) -> f(w)
    [0, 0, 0.5],
    [1, 0, 0.9166666667], // s = 0.2: (0.2 * 0.5 + 1) / 1.2
    [10, 0, 0.9901960784],
    [0, 10, 0.0098039216],
    [10, 10, 0.5],
    [30, 10, 0.7487562189], // p = 0.3 / (0.3 + 0.1); (0.1 + 40 p) / 40.2
  ];
  for (const [spam, ham, want] of table) {
    close(featureProbability({ spam, ham }, 100, 100), want, `${spam}/${ham}`);
  }
  // p = 0.5 / (0.5 + 0.05); (0.1 + 10 p) / 10.2
  close(featureProbability({ spam: 5, ham: 5 }, 10, 100), 0.9010695187, "ratios, not counts");
  assert.equal(featureProbability({ spam: 3, ham: 0 }, 0, 10), 0.5, "nothing trained as spam");
});

/** A corpus where `spammy` words appear in 90% of spam, `hammy` in 90% of ham. */
function corpus(spamMessages: number, hamMessages: number): TrainedCounts {
  const counts = new Map<string, { spam: number; ham: number }>();
  for (const w of ["viagra", "winner", "prize", "unsubscribe"]) {
    counts.set(w, { spam: Math.round(spamMessages * 0.9), ham: Math.round(hamMessages * 0.02) });
  }
  for (const w of ["meeting", "tomorrow", "patch", "review"]) {
    counts.set(w, { spam: Math.round(spamMessages * 0.02), ham: Math.round(hamMessages * 0.9) });
  }
  counts.set("the", { spam: spamMessages, ham: hamMessages });
  return { spamMessages, hamMessages, counts: (f) => counts.get(f) };
}

Deno.test("classify() scores spam high, ham low, and a mix or nothing known near 0.5", () => {
  const trained = corpus(200, 300);
  const spam = classify(["viagra", "winner", "prize", "the", "unknown"], trained);
  const ham = classify(["meeting", "tomorrow", "patch", "review", "the"], trained);
  const mixed = classify(["viagra", "winner", "meeting", "tomorrow"], trained);
  const unknown = classify(["never", "seen", "the"], trained);
  assert.ok(!spam.abstained && spam.score > 0.95, JSON.stringify(spam));
  assert.ok(!ham.abstained && ham.score < 0.05, JSON.stringify(ham));
  assert.ok(!mixed.abstained && Math.abs(mixed.score - 0.5) < 0.2, JSON.stringify(mixed));
  assert.deepEqual(unknown, { abstained: false, score: 0.5, clues: [] });
  assert.ok(!spam.abstained && spam.clues.map(([f]) => f).includes("viagra"));
  assert.ok(
    !spam.abstained && !spam.clues.map(([f]) => f).includes("the"),
    "neutral words left out",
  );
});

Deno.test("classify() abstains until both kinds are trained enough", () => {
  const r = classify(["viagra"], corpus(200, 29));
  assert.deepEqual(r, {
    abstained: true,
    reason: "trained on 200 spam and 29 ham; needs 30 of each",
  });
  assert.equal(classify(["viagra"], corpus(5, 5), { minTrained: 5 }).abstained, false);
});
