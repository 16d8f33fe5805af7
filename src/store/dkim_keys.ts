/**
 * DKIM signing keys. A key belongs to a local domain and is named by its
 * selector, unique per domain; a domain may have several (a new key next to
 * the old one while DNS catches up), and the newest active one signs.
 *
 * The private key leaves the store only through {@link activeDkimKey}, for
 * signing; listings carry the public part alone.
 */
import type { DkimAlgorithm } from "../security/dkim.ts";
import { isLocalDomain } from "./accounts.ts";
import { type Store, StoreError } from "./db.ts";

/** A key to store. */
export interface NewDkimKey {
  /** A local domain, normalised (see src/address.ts). */
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  /** PEM (PKCS#8). */
  privateKeyPem: string;
  /** The DNS record's `p=` value (base64). */
  publicKey: string;
  /** Whether the key may sign. @default true */
  active?: boolean;
  /** @default the current time */
  createdAt?: Date;
}

/** A key as listed: everything but the private key. */
export interface DkimKeyInfo {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  publicKey: string;
  createdAt: Date;
  active: boolean;
}

/** A key as needed to sign. */
export interface DkimKey extends DkimKeyInfo {
  privateKeyPem: string;
}

interface Row {
  domain: string;
  selector: string;
  algorithm: DkimAlgorithm;
  private_key: string;
  public_key: string;
  created_at: number;
  active: number;
}

function info(r: Omit<Row, "private_key">): DkimKeyInfo {
  return {
    domain: r.domain,
    selector: r.selector,
    algorithm: r.algorithm,
    publicKey: r.public_key,
    createdAt: new Date(r.created_at),
    active: r.active === 1,
  };
}

/**
 * Throws the reason why a key `selector` cannot be added to `domain` now, if
 * there is one: the domain is not local, or the selector is taken.
 */
export function checkCanAddDkimKey(store: Store, domain: string, selector: string): void {
  if (!isLocalDomain(store, domain)) {
    throw new StoreError(
      `Domain ${domain} is not a local domain; add it first with: postino domain add ${domain}`,
    );
  }
  const taken = store.get(
    "SELECT 1 FROM dkim_keys WHERE domain = ? AND selector = ?",
    domain,
    selector,
  );
  if (taken !== undefined) {
    throw new StoreError(
      `DKIM key ${selector} of ${domain} already exists; choose another with --selector`,
      "conflict",
    );
  }
}

/** Stores a new key (active unless told otherwise); fails for a non-local domain or a taken selector. */
export function addDkimKey(store: Store, key: NewDkimKey): void {
  store.transaction(() => {
    checkCanAddDkimKey(store, key.domain, key.selector);
    store.run(
      `INSERT INTO dkim_keys (domain, selector, algorithm, private_key, public_key, created_at, active)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      key.domain,
      key.selector,
      key.algorithm,
      key.privateKeyPem,
      key.publicKey,
      (key.createdAt ?? new Date()).getTime(),
      key.active === false ? 0 : 1,
    );
  });
}

/** The key that signs mail of `domain`: its newest active key, or undefined when it has none. */
export function activeDkimKey(store: Store, domain: string): DkimKey | undefined {
  const row = store.get<Row>(
    `SELECT domain, selector, algorithm, private_key, public_key, created_at, active
     FROM dkim_keys WHERE domain = ? AND active = 1
     ORDER BY created_at DESC, id DESC LIMIT 1`,
    domain,
  );
  return row && { ...info(row), privateKeyPem: row.private_key };
}

/** All keys, by domain and then oldest first, without their private keys. */
export function listDkimKeys(store: Store): DkimKeyInfo[] {
  return store.all<Omit<Row, "private_key">>(
    `SELECT domain, selector, algorithm, public_key, created_at, active
     FROM dkim_keys ORDER BY domain, created_at, id`,
  ).map(info);
}
