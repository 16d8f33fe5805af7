/**
 * Password hashing with scrypt (node:crypto). The stored form carries its own
 * parameters, so they can be raised later without breaking old hashes:
 *
 *   $scrypt$ln=15,r=8,p=1$<salt, base64>$<key, base64>
 *
 * (the PHC string format; ln is log2 of the cost N).
 */
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** Parameters used for new hashes. N = 2^15 with r = 8 takes 32 MiB and tens of milliseconds. */
export const DEFAULT_PARAMS: ScryptParams = { ln: 15, r: 8, p: 1 };

/** scrypt cost parameters. */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  ln: number;
  r: number;
  p: number;
}

const SALT_BYTES = 16;
const KEY_BYTES = 32;
const FORMAT =
  /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

/**
 * At most this many derivations run at once: each takes 128 * N * r bytes
 * (32 MiB with the defaults), so fifty clients logging in together would
 * otherwise cost the server more than a gigabyte; more than the cores can
 * run at once would not be faster anyway.
 */
const MAX_CONCURRENT = 2;
let running = 0;
const waiting: (() => void)[] = [];

async function derive(password: string, salt: Uint8Array, keyLength: number, params: ScryptParams) {
  while (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await scryptOnce(password, salt, keyLength, params);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function scryptOnce(password: string, salt: Uint8Array, keyLength: number, params: ScryptParams) {
  const N = 2 ** params.ln;
  return new Promise<Uint8Array>((resolve, reject) => {
    scrypt(
      password.normalize("NFC"),
      salt,
      keyLength,
      { N, r: params.r, p: params.p, maxmem: 256 * N * params.r },
      (err, key) => err ? reject(err) : resolve(new Uint8Array(key)),
    );
  });
}

function b64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function unb64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** The longest password accepted, in UTF-8 bytes. */
export const MAX_PASSWORD_BYTES = 1024;

/**
 * Why `password` cannot be set (empty, too long, or holding a NUL or line
 * break, which no SASL exchange can carry), or undefined when it can.
 */
export function passwordProblem(password: string): string | undefined {
  if (password === "") return "The password is empty";
  if (new TextEncoder().encode(password).length > MAX_PASSWORD_BYTES) {
    return `The password is longer than ${MAX_PASSWORD_BYTES} bytes`;
  }
  if (/[\0\r\n]/.test(password)) return "The password contains a NUL or line break";
  return undefined;
}

/** Hashes a password with a fresh random salt. */
export async function hashPassword(
  password: string,
  params: ScryptParams = DEFAULT_PARAMS,
): Promise<string> {
  const salt = new Uint8Array(randomBytes(SALT_BYTES));
  const key = await derive(password, salt, KEY_BYTES, params);
  return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${b64(salt)}$${b64(key)}`;
}

/** True when `password` matches `stored`; compares in constant time. A malformed hash never matches. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const m = FORMAT.exec(stored);
  if (!m) return false;
  const params = { ln: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  // Bounds keep a damaged hash from asking for absurd memory or time.
  if (params.ln < 1 || params.ln > 20 || params.r < 1 || params.r > 32) return false;
  if (params.p < 1 || params.p > 16) return false;
  try {
    const salt = unb64(m[4]);
    const expected = unb64(m[5]);
    // A short key is a prefix of the full one and would match far too easily.
    if (salt.length < 8 || expected.length !== KEY_BYTES) return false;
    const actual = await derive(password, salt, expected.length, params);
    return timingSafeEqual(actual, expected);
  } catch {
    return false; // malformed base64 or parameters scrypt refuses
  }
}

let dummy: Promise<string> | undefined;

/**
 * Spends the time of one verification against a hash nobody knows, so that
 * a login for a user who does not exist takes as long as a wrong password.
 */
export async function verifyNothing(password: string): Promise<false> {
  dummy ??= hashPassword(crypto.randomUUID());
  await verifyPassword(password, await dummy);
  return false;
}
