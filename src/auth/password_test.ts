import assert from "node:assert/strict";
import {
  DEFAULT_PARAMS,
  hashPassword,
  type ScryptParams,
  verifyNothing,
  verifyPassword,
} from "./password.ts";

/** Cheap parameters so the tests stay fast; the format is the same. */
const FAST: ScryptParams = { ln: 8, r: 8, p: 1 };

const B64 = "[A-Za-z0-9+/]";
/** 16 bytes of salt are 22 base64 characters and "=="; 32 bytes of key are 43 and "=". */
const SALT_AND_KEY = `\\$${B64}{22}==\\$${B64}{43}=`;

Deno.test("hashPassword() uses the default parameters and verifies", async () => {
  const stored = await hashPassword("correct horse battery staple");
  assert.match(stored, new RegExp(`^\\$scrypt\\$ln=15,r=8,p=1${SALT_AND_KEY}$`));
  assert.deepEqual(DEFAULT_PARAMS, { ln: 15, r: 8, p: 1 });
  assert.equal(await verifyPassword("correct horse battery staple", stored), true);
});

Deno.test("hashPassword() records the parameters it was given", async () => {
  const stored = await hashPassword("secret", { ln: 6, r: 4, p: 2 });
  assert.match(stored, new RegExp(`^\\$scrypt\\$ln=6,r=4,p=2${SALT_AND_KEY}$`));
  assert.equal(await verifyPassword("secret", stored), true);
});

Deno.test("hashPassword() salts: the same password hashes differently", async () => {
  const a = await hashPassword("same password", FAST);
  const b = await hashPassword("same password", FAST);
  assert.notEqual(a, b);
  const [saltA, keyA] = a.split("$").slice(3);
  const [saltB, keyB] = b.split("$").slice(3);
  assert.notEqual(saltA, saltB);
  assert.notEqual(keyA, keyB);
  assert.equal(await verifyPassword("same password", a), true);
  assert.equal(await verifyPassword("same password", b), true);
});

const wrongPasswords: [name: string, password: string][] = [
  ["an empty password", ""],
  ["a missing last character", "correct horse battery stapl"],
  ["a different case", "Correct horse battery staple"],
  ["a trailing space", "correct horse battery staple "],
  ["a trailing newline", "correct horse battery staple\n"],
  ["an extra character", "correct horse battery staplee"],
];

for (const [name, password] of wrongPasswords) {
  Deno.test(`verifyPassword() rejects ${name}`, async () => {
    const stored = await hashPassword("correct horse battery staple", FAST);
    assert.equal(await verifyPassword(password, stored), false);
  });
}

Deno.test("verifyPassword() verifies a hash made with other (lower) parameters", async () => {
  const weak = await hashPassword("old password", { ln: 4, r: 1, p: 1 });
  assert.match(weak, /^\$scrypt\$ln=4,r=1,p=1\$/);
  assert.equal(await verifyPassword("old password", weak), true);
  assert.equal(await verifyPassword("old passwore", weak), false);
});

/** Replaces the character at `index` with another base64 character. */
function flip(text: string, index: number): string {
  return text.slice(0, index) + (text[index] === "A" ? "B" : "A") + text.slice(index + 1);
}

/** A real hash of "secret" and its parts, to build broken variants from. */
async function sample() {
  const stored = await hashPassword("secret", FAST);
  const [, , params, salt, key] = stored.split("$");
  return { stored, params, salt, key };
}

const malformed: [name: string, make: (s: Awaited<ReturnType<typeof sample>>) => string][] = [
  ["an empty string", () => ""],
  ["the password itself", () => "secret"],
  ["only the scheme", () => "$scrypt$"],
  ["an unknown scheme", (s) => `$bcrypt$${s.params}$${s.salt}$${s.key}`],
  ["an upper-case scheme", (s) => `$SCRYPT$${s.params}$${s.salt}$${s.key}`],
  ["a missing key", (s) => `$scrypt$${s.params}$${s.salt}`],
  ["an empty key", (s) => `$scrypt$${s.params}$${s.salt}$`],
  ["an empty salt", (s) => `$scrypt$${s.params}$$${s.key}`],
  ["missing parameters", (s) => `$scrypt$${s.salt}$${s.key}`],
  ["parameters in another order", (s) => `$scrypt$r=8,ln=8,p=1$${s.salt}$${s.key}`],
  ["ln = 0", (s) => `$scrypt$ln=0,r=8,p=1$${s.salt}$${s.key}`],
  ["ln above 22", (s) => `$scrypt$ln=23,r=8,p=1$${s.salt}$${s.key}`],
  ["r = 0", (s) => `$scrypt$ln=8,r=0,p=1$${s.salt}$${s.key}`],
  ["p = 0", (s) => `$scrypt$ln=8,r=8,p=0$${s.salt}$${s.key}`],
  ["a negative cost", (s) => `$scrypt$ln=-8,r=8,p=1$${s.salt}$${s.key}`],
  ["an extra field", (s) => `${s.stored}$extra`],
  ["a trailing newline", (s) => `${s.stored}\n`],
  ["a leading space", (s) => ` ${s.stored}`],
  ["a character outside base64", (s) => `$scrypt$${s.params}$${s.salt}$${s.key.slice(1)}!`],
  ["a changed key", (s) => `$scrypt$${s.params}$${s.salt}$${flip(s.key, 5)}`],
  ["a changed salt", (s) => `$scrypt$${s.params}$${flip(s.salt, 5)}$${s.key}`],
  ["a changed cost", (s) => `$scrypt$ln=9,r=8,p=1$${s.salt}$${s.key}`],
];

for (const [name, make] of malformed) {
  Deno.test(`verifyPassword() never accepts a hash with ${name}`, async () => {
    const s = await sample();
    assert.equal(await verifyPassword("secret", make(s)), false);
  });
}

// A malformed hash never matches: undecodable base64 and parameters scrypt refuses resolve
// false rather than throwing (a caller would turn the exception into a temporary failure).
Deno.test({
  name: "verifyPassword() resolves false for undecodable base64 and refused parameters",
  fn: async () => {
    const s = await sample();
    const inputs = [
      `$scrypt$${s.params}$A$${s.key}`,
      `$scrypt$${s.params}$${s.salt}$AAAAA`,
      `$scrypt$ln=4,r=1073741824,p=1$${s.salt}$${s.key}`,
      `$scrypt$ln=4,r=8,p=99999999$${s.salt}$${s.key}`,
    ];
    for (const stored of inputs) {
      assert.equal(await verifyPassword("secret", stored), false, stored);
    }
  },
});

// scrypt's output for a shorter length is a prefix of the longer one, so a hash with a key cut
// short would verify far too easily; only full 32-byte keys are accepted.
Deno.test({
  name: "verifyPassword() never accepts a hash with a truncated key",
  fn: async () => {
    const s = await sample();
    const truncated = `$scrypt$${s.params}$${s.salt}$${s.key.slice(0, 4)}`;
    assert.equal(await verifyPassword("secret", truncated), false);
  },
});

const unicode: [name: string, hashed: string, typed: string][] = [
  ["NFD typed for an NFC password", "caf\u00e9", "cafe\u0301"],
  ["NFC typed for an NFD password", "cafe\u0301", "caf\u00e9"],
  ["the angstrom sign for A with ring", "\u212b ngstr\u00f6m", "\u00c5 ngstro\u0308m"],
  ["Hangul jamo for the syllable", "\ud55c\uae00", "\u1112\u1161\u11ab\u1100\u1173\u11af"],
  ["the same emoji", "p\u{1f511}ss", "p\u{1f511}ss"],
];

for (const [name, hashed, typed] of unicode) {
  Deno.test(`verifyPassword() accepts ${name}`, async () => {
    const stored = await hashPassword(hashed, FAST);
    assert.equal(await verifyPassword(typed, stored), true);
  });
}

Deno.test("verifyPassword() keeps different letters different after normalisation", async () => {
  const stored = await hashPassword("caf\u00e9", FAST);
  assert.equal(await verifyPassword("cafe", stored), false);
  assert.equal(await verifyPassword("caf\u00e8", stored), false);
});

Deno.test("verifyNothing() resolves false", async () => {
  assert.equal(await verifyNothing("anything"), false);
});
