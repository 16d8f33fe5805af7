import assert from "node:assert/strict";
import { addDomain, addUser } from "../store/accounts.ts";
import { openStore, storePath } from "../store/db.ts";
import { Authenticator } from "./authenticator.ts";
import { hashPassword } from "./password.ts";
import { LoginThrottle } from "./throttle.ts";

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => now += ms };
}

Deno.test("LoginThrottle does not delay a client without failures", () => {
  const t = new LoginThrottle({ now: manualClock().now });
  assert.equal(t.delayFor("192.0.2.1", "alice@example.com"), 0);
});

Deno.test("LoginThrottle doubles the delay with each failure up to the cap", () => {
  const t = new LoginThrottle({ now: manualClock().now });
  const delays = [];
  for (let i = 1; i <= 8; i++) {
    assert.equal(t.recordFailure("192.0.2.1", "alice@example.com"), i);
    delays.push(t.delayFor("192.0.2.1", "alice@example.com"));
  }
  assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000, 15_000, 15_000, 15_000]);
});

Deno.test("LoginThrottle takes its base delay and cap from the options", () => {
  const t = new LoginThrottle({ baseDelayMs: 10, maxDelayMs: 35, now: manualClock().now });
  const delays = [];
  for (let i = 0; i < 4; i++) {
    t.recordFailure("192.0.2.1", "a@example.com");
    delays.push(t.delayFor("192.0.2.1", "a@example.com"));
  }
  assert.deepEqual(delays, [10, 20, 35, 35]);
});

Deno.test("LoginThrottle counts failures per client address across accounts", () => {
  const t = new LoginThrottle({ now: manualClock().now });
  t.recordFailure("192.0.2.1", "a@example.com");
  t.recordFailure("192.0.2.1", "b@example.com");
  assert.equal(t.recordFailure("192.0.2.1", "c@example.com"), 3);
  // A fourth account from the same address is slowed by the address's record.
  assert.equal(t.delayFor("192.0.2.1", "d@example.com"), 2000);
  // Another address trying a fresh account is not.
  assert.equal(t.delayFor("192.0.2.2", "d@example.com"), 0);
});

Deno.test("LoginThrottle counts failures per account across client addresses", () => {
  const t = new LoginThrottle({ now: manualClock().now });
  t.recordFailure("192.0.2.1", "alice@example.com");
  t.recordFailure("192.0.2.2", "alice@example.com");
  assert.equal(t.recordFailure("192.0.2.3", "alice@example.com"), 3);
  assert.equal(t.delayFor("192.0.2.99", "alice@example.com"), 2000);
  assert.equal(t.delayFor("192.0.2.99", "bob@example.com"), 0);
});

Deno.test("LoginThrottle forgets failures after a quiet period", () => {
  const clock = manualClock();
  const t = new LoginThrottle({ forgetAfterMs: 60_000, now: clock.now });
  t.recordFailure("192.0.2.1", "alice@example.com");
  t.recordFailure("192.0.2.1", "alice@example.com");
  clock.advance(60_000);
  assert.equal(t.delayFor("192.0.2.1", "alice@example.com"), 1000, "still within the period");
  clock.advance(1);
  assert.equal(t.delayFor("192.0.2.1", "alice@example.com"), 0);
  assert.equal(t.recordFailure("192.0.2.1", "alice@example.com"), 1, "counting starts again");
});

Deno.test("LoginThrottle measures the quiet period from the last failure", () => {
  const clock = manualClock();
  const t = new LoginThrottle({ forgetAfterMs: 60_000, now: clock.now });
  for (let i = 0; i < 3; i++) {
    t.recordFailure("192.0.2.1", "alice@example.com");
    clock.advance(50_000);
  }
  // 150 s after the first failure but only 50 s after the last: remembered.
  assert.equal(t.delayFor("192.0.2.1", "alice@example.com"), 2000);
});

Deno.test("LoginThrottle forgets by default after 15 minutes", () => {
  const clock = manualClock();
  const t = new LoginThrottle({ now: clock.now });
  t.recordFailure("192.0.2.1", "alice@example.com");
  clock.advance(14 * 60_000);
  assert.equal(t.delayFor("192.0.2.1", "alice@example.com"), 500);
  clock.advance(2 * 60_000);
  assert.equal(t.delayFor("192.0.2.1", "alice@example.com"), 0);
});

Deno.test("LoginThrottle clears the account on success but not the address", () => {
  const t = new LoginThrottle({ now: manualClock().now });
  t.recordFailure("192.0.2.1", "alice@example.com");
  t.recordFailure("192.0.2.1", "alice@example.com");
  t.recordSuccess("alice@example.com");
  assert.equal(t.delayFor("192.0.2.2", "alice@example.com"), 0, "the account is clear");
  assert.equal(t.delayFor("192.0.2.1", "bob@example.com"), 1000, "the address is not");
});

Deno.test("LoginThrottle stays correct with many distinct clients", () => {
  const clock = manualClock();
  const t = new LoginThrottle({ forgetAfterMs: 1000, now: clock.now });
  for (let i = 0; i < 12_000; i++) t.recordFailure(`10.0.${i >> 8}.${i & 255}`, `u${i}@x.example`);
  clock.advance(2000);
  // Pruning runs on the next failure; old records are gone, the new one counts from 1.
  assert.equal(t.recordFailure("10.0.0.0", "u0@x.example"), 1);
  assert.equal(t.delayFor("10.0.0.1", "u1@x.example"), 0);
});

Deno.test("Authenticator holds back failed logins with growing delays", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-throttle-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", await hashPassword("right", { ln: 4, r: 8, p: 1 }));
    const slept: number[] = [];
    const auth = new Authenticator(store, new LoginThrottle(), (ms) => {
      slept.push(ms);
      return Promise.resolve();
    });
    const attempt = (username: string, password: string, remoteAddress = "192.0.2.1") =>
      auth.login({ username, password, remoteAddress, protocol: "smtp", connectionId: "t" });
    assert.equal(await attempt("alice@example.com", "wrong"), undefined);
    assert.equal(await attempt("ALICE@Example.COM", "wrong"), undefined);
    assert.equal(await attempt("nobody@example.com", "wrong"), undefined);
    assert.deepEqual(slept, [500, 1000, 2000]);
    const user = await attempt("Alice@example.com", "right", "192.0.2.7");
    assert.equal(user?.address, "alice@example.com");
    assert.equal(slept.length, 3, "a success is not delayed");
    // The account's record is cleared; the guessing address still is slowed.
    assert.equal(auth.throttle.delayFor("192.0.2.8", "alice@example.com"), 0);
    assert.equal(auth.throttle.delayFor("192.0.2.1", "carol@example.com"), 2000);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
