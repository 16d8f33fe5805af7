/**
 * Domains, users and aliases. Addresses arrive here already normalised
 * (see src/address.ts); these functions enforce the rules between them:
 * a user or alias lives in a local domain, and an address is a user or an
 * alias, never both.
 */
import { domainOf } from "../address.ts";
import { type Store, StoreError } from "./db.ts";
import { ensureStandardFolders } from "./folders.ts";

/** A local domain with its counts. */
export interface DomainInfo {
  name: string;
  users: number;
  aliases: number;
  createdAt: Date;
}

/** A user as listed; the password hash never leaves the store through here. */
export interface UserInfo {
  address: string;
  admin: boolean;
  messages: number;
  bytes: number;
  createdAt: Date;
}

/** A user as needed to authenticate. */
export interface UserRecord {
  id: number;
  address: string;
  passwordHash: string;
  /** May administer the server (domains, users, queue) over HTTP. */
  admin: boolean;
}

/** One alias target. */
export interface AliasInfo {
  address: string;
  target: string;
}

function domainId(store: Store, name: string): number | undefined {
  return store.get<{ id: number }>("SELECT id FROM domains WHERE name = ?", name)?.id;
}

/** Adds a local domain; fails when it exists already. */
export function addDomain(store: Store, name: string): void {
  if (domainId(store, name) !== undefined) {
    throw new StoreError(`Domain ${name} already exists`, "conflict");
  }
  store.run("INSERT INTO domains (name, created_at) VALUES (?, ?)", name, Date.now());
}

/** Adds a local domain unless present; true when it was added. */
export function ensureDomain(store: Store, name: string): boolean {
  return store.run(
    "INSERT INTO domains (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
    name,
    Date.now(),
  ).changes > 0;
}

/** Removes a local domain that has no users and no aliases left. */
export function removeDomain(store: Store, name: string): void {
  store.transaction(() => {
    const id = domainId(store, name);
    if (id === undefined) throw new StoreError(`Domain ${name} does not exist`, "not_found");
    const users = store.get<{ n: number }>("SELECT count(*) n FROM users WHERE domain_id = ?", id)!;
    const aliases = store.get<{ n: number }>(
      "SELECT count(*) n FROM aliases WHERE domain_id = ?",
      id,
    )!;
    if (users.n > 0 || aliases.n > 0) {
      throw new StoreError(
        `Domain ${name} still has ${users.n} user(s) and ${aliases.n} alias(es); delete them first`,
        "conflict",
      );
    }
    store.run("DELETE FROM domains WHERE id = ?", id);
  });
}

/** All local domains, sorted by name. */
export function listDomains(store: Store): DomainInfo[] {
  return store.all<{ name: string; users: number; aliases: number; created_at: number }>(
    `SELECT d.name, d.created_at,
       (SELECT count(*) FROM users u WHERE u.domain_id = d.id) users,
       (SELECT count(DISTINCT address) FROM aliases a WHERE a.domain_id = d.id) aliases
     FROM domains d ORDER BY d.name`,
  ).map((r) => ({
    name: r.name,
    users: r.users,
    aliases: r.aliases,
    createdAt: new Date(r.created_at),
  }));
}

/** True when `name` is one of our domains. */
export function isLocalDomain(store: Store, name: string): boolean {
  return domainId(store, name) !== undefined;
}

function requireLocalDomain(store: Store, address: string): number {
  const domain = domainOf(address);
  const id = domainId(store, domain);
  if (id === undefined) {
    throw new StoreError(
      `Domain ${domain} is not a local domain; add it first with: postino domain add ${domain}`,
    );
  }
  return id;
}

function isAlias(store: Store, address: string): boolean {
  return store.get("SELECT 1 FROM aliases WHERE address = ?", address) !== undefined;
}

/** Throws the reason why `address` cannot become a user now, if there is one; gives its domain id. */
export function checkCanAddUser(store: Store, address: string): number {
  const domain = requireLocalDomain(store, address);
  if (findUser(store, address)) throw new StoreError(`User ${address} already exists`, "conflict");
  if (isAlias(store, address)) {
    throw new StoreError(`${address} is an alias; delete it first`, "conflict");
  }
  return domain;
}

/**
 * Adds a user with an already hashed password and gives them INBOX, Sent,
 * Drafts, Trash, Junk, Archive. The first user ever added is an admin, so a
 * fresh server can be administered at once; `admin` makes any user one.
 * Returns whether the user is an admin.
 */
export function addUser(
  store: Store,
  address: string,
  passwordHash: string,
  options: { admin?: boolean } = {},
): boolean {
  return store.transaction(() => {
    const domain = checkCanAddUser(store, address);
    const first = store.run(
      "INSERT INTO settings (name, value) VALUES ('first_user', ?) ON CONFLICT (name) DO NOTHING",
      address,
    ).changes > 0;
    const admin = first || options.admin === true;
    const { lastInsertRowid: userId } = store.run(
      `INSERT INTO users (address, domain_id, password_hash, created_at, admin)
       VALUES (?, ?, ?, ?, ?)`,
      address,
      domain,
      passwordHash,
      Date.now(),
      admin ? 1 : 0,
    );
    ensureStandardFolders(store, userId); // INBOX and the special-use mailboxes (RFC 6154)
    return admin;
  });
}

/** Makes a user an admin or not. */
export function setAdmin(store: Store, address: string, admin: boolean): void {
  const r = store.run("UPDATE users SET admin = ? WHERE address = ?", admin ? 1 : 0, address);
  if (r.changes === 0) throw new StoreError(`User ${address} does not exist`, "not_found");
}

/**
 * Replaces a user's password hash and ends their web sessions, so a stolen
 * session does not outlive the password it was opened with.
 */
export function setPasswordHash(store: Store, address: string, passwordHash: string): void {
  store.transaction(() => {
    const r = store.run(
      "UPDATE users SET password_hash = ? WHERE address = ?",
      passwordHash,
      address,
    );
    if (r.changes === 0) throw new StoreError(`User ${address} does not exist`, "not_found");
    store.run(
      "DELETE FROM web_sessions WHERE user_id = (SELECT id FROM users WHERE address = ?)",
      address,
    );
  });
}

/** Removes a user with all their mailboxes and messages. */
export function removeUser(store: Store, address: string): void {
  const r = store.run("DELETE FROM users WHERE address = ?", address);
  if (r.changes === 0) throw new StoreError(`User ${address} does not exist`, "not_found");
}

/** The user with this address, or undefined. */
export function findUser(store: Store, address: string): UserRecord | undefined {
  const row = store.get<{ id: number; address: string; password_hash: string; admin: number }>(
    "SELECT id, address, password_hash, admin FROM users WHERE address = ?",
    address,
  );
  return row && {
    id: row.id,
    address: row.address,
    passwordHash: row.password_hash,
    admin: row.admin === 1,
  };
}

/** The addresses of the users whose local part is `local` (any domain). */
export function usersWithLocalPart(store: Store, local: string): string[] {
  // The escape keeps "_" and "%" in a local part from acting as LIKE wildcards.
  const pattern = `${local.replace(/[\\%_]/g, (c) => `\\${c}`)}@%`;
  return store.all<{ address: string }>(
    "SELECT address FROM users WHERE address LIKE ? ESCAPE '\\' ORDER BY address",
    pattern,
  ).map((r) => r.address);
}

/** The address of the first user ever added (the postmaster when none is configured). */
export function oldestUser(store: Store): string | undefined {
  return store.get<{ address: string }>("SELECT address FROM users ORDER BY id LIMIT 1")?.address;
}

/** All users, sorted by address, with the size of their mail. */
export function listUsers(store: Store): UserInfo[] {
  return store.all<
    { address: string; admin: number; created_at: number; messages: number; bytes: number }
  >(
    `SELECT u.address, u.admin, u.created_at, count(e.uid) messages, coalesce(sum(e.size), 0) bytes
     FROM users u
     LEFT JOIN mailboxes m ON m.user_id = u.id
     LEFT JOIN mailbox_entries e ON e.mailbox_id = m.id
     GROUP BY u.id ORDER BY u.address`,
  ).map((r) => ({
    address: r.address,
    admin: r.admin === 1,
    messages: r.messages,
    bytes: r.bytes,
    createdAt: new Date(r.created_at),
  }));
}

/** Adds `target` to the alias `address` (an alias may have several targets). */
export function addAlias(store: Store, address: string, target: string): void {
  store.transaction(() => {
    const domain = requireLocalDomain(store, address);
    if (findUser(store, address)) {
      throw new StoreError(`${address} is a user; an alias cannot be`, "conflict");
    }
    if (address === target) throw new StoreError(`Alias ${address} cannot point to itself`);
    const r = store.run(
      `INSERT INTO aliases (address, domain_id, target, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (address, target) DO NOTHING`,
      address,
      domain,
      target,
      Date.now(),
    );
    if (r.changes === 0) {
      throw new StoreError(`Alias ${address} -> ${target} already exists`, "conflict");
    }
  });
}

/** Removes an alias with all its targets. */
export function removeAlias(store: Store, address: string): void {
  const r = store.run("DELETE FROM aliases WHERE address = ?", address);
  if (r.changes === 0) throw new StoreError(`Alias ${address} does not exist`, "not_found");
}

/** The targets of an alias (empty when it is not one). */
export function aliasTargets(store: Store, address: string): string[] {
  return store.all<{ target: string }>(
    "SELECT target FROM aliases WHERE address = ? ORDER BY target",
    address,
  ).map((r) => r.target);
}

/** All aliases, sorted; with `target`, only those that deliver to it. */
export function listAliases(store: Store, options: { target?: string } = {}): AliasInfo[] {
  if (options.target !== undefined) {
    return store.all<AliasInfo>(
      "SELECT address, target FROM aliases WHERE target = ? ORDER BY address",
      options.target,
    );
  }
  return store.all<AliasInfo>("SELECT address, target FROM aliases ORDER BY address, target");
}

/** How many local domains and users there are. */
export function accountCounts(store: Store): { domains: number; users: number } {
  return store.get<{ domains: number; users: number }>(
    "SELECT (SELECT count(*) FROM domains) domains, (SELECT count(*) FROM users) users",
  )!;
}
