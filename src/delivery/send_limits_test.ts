import assert from "node:assert/strict";
import { describeRefusal, type SendLimit, SendLimits, WINDOW_MS } from "./send_limits.ts";

const MIN = 60_000;
const T0 = Date.UTC(2026, 2, 2, 10, 0, 0);

/** Limits on a clock the test moves by hand, with the refusals they reported. */
function fakeLimits(messagesPerHour: number, recipientsPerHour: number) {
  let now = T0;
  const reported: SendLimit[] = [];
  const limits = new SendLimits({
    messagesPerHour,
    recipientsPerHour,
    now: () => now,
    onRefused: (limit) => reported.push(limit),
  });
  return {
    limits,
    reported,
    /** Moves the clock to `ms` after the start. */
    at(ms: number) {
      now = T0 + ms;
    },
  };
}

/** One step of a case: move the clock, then send or ask. */
type Step =
  | { at: number; send: number }
  | { at: number; message: "ok" | "refused" }
  | { at: number; recipients: number; want: "ok" | "refused" };

interface Case {
  name: string;
  messages: number;
  recipients: number;
  steps: Step[];
}

const cases: Case[] = [
  {
    name: "the message limit refuses the message past it and resets after the hour",
    messages: 2,
    recipients: 0,
    steps: [
      { at: 0, message: "ok" },
      { at: 0, send: 1 },
      { at: 1 * MIN, send: 1 },
      { at: 2 * MIN, message: "refused" },
      { at: WINDOW_MS - 1, message: "refused" },
      // The first message leaves the window exactly an hour after it was sent.
      { at: WINDOW_MS, message: "ok" },
      { at: WINDOW_MS, send: 1 },
      { at: WINDOW_MS, message: "refused" },
      { at: WINDOW_MS + MIN, message: "ok" },
    ],
  },
  {
    name: "the window slides: each message frees its place an hour after it was sent",
    messages: 3,
    recipients: 0,
    steps: [
      { at: 0, send: 1 },
      { at: 20 * MIN, send: 1 },
      { at: 40 * MIN, send: 1 },
      { at: 50 * MIN, message: "refused" },
      { at: 60 * MIN, message: "ok" },
      { at: 60 * MIN, send: 1 },
      { at: 70 * MIN, message: "refused" },
      { at: 80 * MIN, message: "ok" },
    ],
  },
  {
    name: "the recipient limit counts accepted recipients and those asked for now",
    messages: 0,
    recipients: 5,
    steps: [
      { at: 0, send: 3 },
      { at: 1 * MIN, recipients: 2, want: "ok" },
      { at: 1 * MIN, recipients: 3, want: "refused" },
      { at: 2 * MIN, send: 2 },
      { at: 3 * MIN, recipients: 1, want: "refused" },
      { at: WINDOW_MS, recipients: 3, want: "ok" },
      { at: WINDOW_MS, recipients: 4, want: "refused" },
      { at: WINDOW_MS + 2 * MIN, recipients: 5, want: "ok" },
    ],
  },
  {
    name: "0 is no limit",
    messages: 0,
    recipients: 0,
    steps: [
      ...Array.from({ length: 50 }, (_, i): Step => ({ at: i, send: 100 })),
      { at: 100, message: "ok" },
      { at: 100, recipients: 10_000, want: "ok" },
    ],
  },
  {
    name: "messages of the same second share an entry and leave together",
    messages: 3,
    recipients: 0,
    steps: [
      { at: 0, send: 1 },
      { at: 400, send: 1 },
      { at: 999, send: 1 },
      { at: 1000, message: "refused" },
      { at: WINDOW_MS, message: "ok" },
    ],
  },
];

for (const c of cases) {
  Deno.test(`SendLimits: ${c.name}`, () => {
    const { limits, at } = fakeLimits(c.messages, c.recipients);
    for (const [i, step] of c.steps.entries()) {
      at(step.at);
      if ("send" in step) {
        limits.record("alice@example.com", step.send);
      } else if ("message" in step) {
        const refusal = limits.checkMessage("alice@example.com");
        assert.equal(refusal ? "refused" : "ok", step.message, `step ${i} at ${step.at}`);
      } else {
        const refusal = limits.checkRecipients("alice@example.com", step.recipients);
        assert.equal(refusal ? "refused" : "ok", step.want, `step ${i} at ${step.at}`);
      }
    }
  });
}

Deno.test("SendLimits: a refusal says what was counted and when asking again can succeed", () => {
  const { limits, at, reported } = fakeLimits(2, 4);
  limits.record("alice@example.com", 1);
  at(10 * MIN);
  limits.record("alice@example.com", 2);
  at(15 * MIN);
  const messages = limits.checkMessage("alice@example.com");
  assert.deepEqual(messages, {
    limit: "messages",
    sent: 2,
    asked: 1,
    max: 2,
    retryAt: T0 + WINDOW_MS,
  });
  assert.equal(
    describeRefusal("alice@example.com", messages, T0 + 15 * MIN),
    "alice@example.com sent 2 messages in the last hour, limit 2; try again in 45 min",
  );
  // Three recipients sent; two more need the first message's one to leave, then the others' two.
  const two = limits.checkRecipients("alice@example.com", 2);
  assert.deepEqual(two, {
    limit: "recipients",
    sent: 3,
    asked: 2,
    max: 4,
    retryAt: T0 + WINDOW_MS,
  });
  const four = limits.checkRecipients("alice@example.com", 4);
  assert.equal(four?.retryAt, T0 + 10 * MIN + WINDOW_MS);
  assert.equal(
    describeRefusal("alice@example.com", four!, T0 + 15 * MIN),
    "alice@example.com sent to 3 recipients in the last hour and this message has 4, limit 4; " +
      "try again in 55 min",
  );
  // More recipients than the limit in one message: no wait helps.
  const five = limits.checkRecipients("alice@example.com", 5);
  assert.equal(five?.retryAt, undefined);
  assert.match(describeRefusal("alice@example.com", five!, T0), /; try again later$/);
  assert.deepEqual(reported, ["messages", "recipients", "recipients", "recipients"]);
});

Deno.test("SendLimits: users are counted apart, and the usage shows the last refusal", () => {
  const { limits, at } = fakeLimits(1, 10);
  limits.record("alice@example.com", 3);
  assert.equal(limits.checkMessage("bob@example.com"), undefined);
  assert.ok(limits.checkMessage("alice@example.com"));
  at(5 * MIN);
  assert.deepEqual(limits.usage("alice@example.com"), {
    messages: 1,
    recipients: 3,
    messagesLimit: 1,
    recipientsLimit: 10,
    refused: { at: T0, limit: "messages" },
  });
  assert.deepEqual(limits.usage("bob@example.com"), {
    messages: 0,
    recipients: 0,
    messagesLimit: 1,
    recipientsLimit: 10,
  });
  // The refusal is shown for an hour after it, like the counts.
  at(WINDOW_MS);
  assert.deepEqual(limits.usage("alice@example.com"), {
    messages: 0,
    recipients: 0,
    messagesLimit: 1,
    recipientsLimit: 10,
  });
});

Deno.test("SendLimits: memory stays bounded: old entries and idle users are dropped", () => {
  const { limits, at } = fakeLimits(0, 0);
  for (let i = 0; i < 1000; i++) limits.record(`user${i}@example.com`, 1);
  // One user sending all the time keeps at most one entry per second of the window.
  for (let ms = 0; ms < 2 * WINDOW_MS; ms += 250) {
    at(ms);
    limits.record("busy@example.com", 1);
  }
  assert.equal(limits.usage("busy@example.com").messages, 4 * 3600);
  assert.deepEqual(
    limits.remembered(),
    { users: 1, entries: 3600 },
    "the 1000 users of two hours ago are gone; busy has one entry per second",
  );
  at(4 * WINDOW_MS);
  assert.deepEqual(limits.remembered(), { users: 0, entries: 0 });
});
