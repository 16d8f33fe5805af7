import assert from "node:assert/strict";
import { MaildropLocks } from "./locks.ts";

Deno.test("MaildropLocks gives a user's lock to one owner at a time", () => {
  const locks = new MaildropLocks();
  assert.equal(locks.isLocked(1), false);
  assert.equal(locks.acquire(1, "conn-a"), true);
  assert.equal(locks.isLocked(1), true);
  assert.equal(locks.acquire(1, "conn-b"), false, "a second owner is refused");
  assert.equal(locks.acquire(1, "conn-a"), true, "the owner may take it again");
  locks.release(1, "conn-a");
  assert.equal(locks.isLocked(1), false);
  assert.equal(locks.acquire(1, "conn-b"), true, "free again after release");
});

Deno.test("MaildropLocks keeps users apart", () => {
  const locks = new MaildropLocks();
  assert.equal(locks.acquire(1, "conn-a"), true);
  assert.equal(locks.acquire(2, "conn-b"), true);
  assert.equal(locks.acquire(2, "conn-a"), false);
  locks.release(1, "conn-a");
  assert.equal(locks.isLocked(1), false);
  assert.equal(locks.isLocked(2), true);
});

Deno.test("MaildropLocks.release() by someone else is ignored", () => {
  const locks = new MaildropLocks();
  locks.acquire(1, "conn-a");
  locks.release(1, "conn-b");
  assert.equal(locks.isLocked(1), true);
  assert.equal(locks.acquire(1, "conn-b"), false);
  locks.release(7, "conn-a"); // never locked: nothing happens
  assert.equal(locks.isLocked(7), false);
});

Deno.test("MaildropLocks are independent per instance (one per server)", () => {
  const a = new MaildropLocks();
  const b = new MaildropLocks();
  assert.equal(a.acquire(1, "x"), true);
  assert.equal(b.acquire(1, "y"), true);
});
