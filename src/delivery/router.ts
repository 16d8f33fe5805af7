/**
 * Where a recipient's mail goes: to local users (directly, through aliases,
 * or through plus-addressing `user+tag@`), or out to remote addresses.
 *
 * Aliases expand recursively with cycle detection and a depth cap; a target
 * in a local domain that leads nowhere is skipped.
 */
import { AddressError, normalizeDomain } from "../address.ts";
import { aliasTargets, findUser, isLocalDomain, oldestUser } from "../store/accounts.ts";
import type { Store } from "../store/db.ts";

/** One destination of a recipient. */
export type Route =
  | { kind: "local"; userId: number; address: string }
  | { kind: "remote"; address: string };

/** Routing settings. */
export interface RouterOptions {
  /**
   * Where postmaster@<local domain> goes when there is no such user or
   * alias (RFC 5321 §4.5.1). @default the oldest user account
   */
  postmaster?: string;
}

const MAX_ALIAS_DEPTH = 10;

/**
 * The normal form of an envelope address: the domain lower-cased as an
 * A-label, the local part as given (RFC 5321 §2.4: only the receiving host
 * may treat it case-insensitively, so ours are looked up lower-cased and
 * remote ones travel unchanged).
 */
export function normalizeRecipient(local: string, domain: string): string {
  let ascii = domain;
  try {
    ascii = domain.startsWith("[") ? domain : normalizeDomain(domain);
  } catch (err) {
    if (!(err instanceof AddressError)) throw err;
  }
  return `${local}@${ascii}`;
}

function split(address: string): { local: string; domain: string } {
  const at = address.lastIndexOf("@");
  return { local: address.slice(0, at), domain: address.slice(at + 1) };
}

/**
 * The routes of a normalised recipient address, or undefined when it is in a
 * local domain but no user, alias or plus-address matches (550 5.1.1).
 */
export function resolveRecipient(
  store: Store,
  address: string,
  options: RouterOptions = {},
): Route[] | undefined {
  const routes = new Map<string, Route>();
  const visited = new Set<string>();

  const expand = (given: string, depth: number): boolean => {
    const { domain } = split(given);
    if (!isLocalDomain(store, domain)) {
      routes.set(`remote:${given}`, { kind: "remote", address: given });
      return true;
    }
    const local = split(given).local.toLowerCase(); // our local parts are case-insensitive
    const addr = `${local}@${domain}`;
    if (visited.has(addr) || depth > MAX_ALIAS_DEPTH) return false;
    visited.add(addr);
    const user = findUser(store, addr);
    if (user) {
      routes.set(`local:${user.id}`, { kind: "local", userId: user.id, address: user.address });
      return true;
    }
    const targets = aliasTargets(store, addr);
    if (targets.length > 0) {
      let any = false;
      for (const target of targets) any = expand(target, depth + 1) || any;
      return any;
    }
    const plus = local.indexOf("+");
    if (plus > 0) return expand(`${local.slice(0, plus)}@${domain}`, depth);
    // RFC 5321 §4.5.1: every domain must accept postmaster.
    if (local === "postmaster") {
      const target = postmasterOf(store, options);
      if (target && target !== addr) return expand(target, depth + 1);
    }
    return false;
  };

  return expand(address, 0) ? [...routes.values()] : undefined;
}

/** The postmaster's address: the configured one, else the oldest user; undefined without users. */
export function postmasterOf(store: Store, options: RouterOptions): string | undefined {
  return options.postmaster ?? oldestUser(store);
}

/** True when `sender` is one of the addresses user `userAddress` may send as. */
export function maySendAs(store: Store, userAddress: string, sender: string): boolean {
  if (sender.toLowerCase() === userAddress) return true;
  // Their plus-addresses, and aliases that deliver to them (directly or through other aliases).
  return resolveRecipient(store, sender)?.some((r) =>
    r.kind === "local" && r.address === userAddress
  ) ?? false;
}
