/**
 * `postino setup`'s work, apart from printing: record the domain and our
 * host name, make the DKIM keys (Ed25519 and RSA 2048, both published; RSA,
 * made last, signs, since every receiver checks RSA and not all Ed25519),
 * add the first admin, and work out the records to publish.
 */
import { isIP } from "node:net";
import type { Config } from "../config.ts";
import type { DnsRecord } from "../dns/records_to_publish.ts";
import { hashPassword } from "../auth/password.ts";
import { defaultSelector, generateDkimKey } from "../security/dkim.ts";
import { addDomain, addUser, checkCanAddUser, isLocalDomain } from "../store/accounts.ts";
import { type Store, StoreError } from "../store/db.ts";
import { addDkimKey, checkCanAddDkimKey } from "../store/dkim_keys.ts";
import { setSetting } from "../store/settings.ts";
import { domainRecords } from "./domain_records.ts";

/** What to set up. */
export interface SetupRequest {
  /** The mail domain, normalised. */
  domain: string;
  /** This server's host name (MX target, TLS certificate), normalised. */
  hostname: string;
  /** The first admin's address, normalised. @default postmaster@<domain> */
  admin?: string;
  /** The admin's password; one is generated (and returned) when missing. */
  password?: string;
  /** Our public addresses; detected from the network interfaces when missing. */
  ips?: string[];
}

/** What setup did. */
export interface SetupResult {
  admin: string;
  /** The generated password, when none was given: shown once. */
  generatedPassword?: string;
  /** The DKIM selectors made: Ed25519 first, then RSA (which signs). */
  selectors: { ed25519: string; rsa: string };
  ips: string[];
  records: DnsRecord[];
}

/** A password of 20 characters from 120 random bits, easy to copy (no look-alikes). */
export function generatePassword(): string {
  const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(20));
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/**
 * The public IPv4 and IPv6 addresses of this machine's interfaces (not
 * loopback, private, link-local or unique-local), IPv4 first.
 */
export function detectPublicIps(
  interfaces: { address: string; family: string }[] = Deno.networkInterfaces(),
): string[] {
  const found = interfaces.map((i) => i.address.toLowerCase()).filter((a) =>
    isIP(a) && !isPrivate(a)
  );
  return [...new Set(found)].sort((a, b) => isIP(a) - isIP(b));
}

function isPrivate(ip: string): boolean {
  if (isIP(ip) === 4) {
    const [a, b] = ip.split(".").map(Number);
    return a === 10 || a === 127 || a === 0 || (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) ||
      (a === 100 && b >= 64 && b <= 127);
  }
  return ip === "::1" || ip === "::" || /^f[cd]/.test(ip) || /^fe[89ab]/.test(ip);
}

/**
 * Sets `request.domain` up in `store`. Refuses (with a {@link StoreError})
 * a domain that is already local, before changing anything.
 */
export async function setupDomain(
  store: Store,
  config: Config,
  request: SetupRequest,
): Promise<SetupResult> {
  const { domain, hostname } = request;
  if (isLocalDomain(store, domain)) {
    throw new StoreError(
      `Domain ${domain} is set up already; see its records with: postino dns records ${domain}`,
      "conflict",
    );
  }
  const admin = request.admin ?? `postmaster@${domain}`;
  const selector = defaultSelector();
  const selectors = { ed25519: `${selector}e`, rsa: `${selector}r` };
  // Make everything slow first, then store it all in one transaction.
  const [ed25519, rsa] = await Promise.all([
    generateDkimKey("ed25519"),
    generateDkimKey("rsa"),
  ]);
  const password = request.password ?? generatePassword();
  const hash = await hashPassword(password);
  const ips = request.ips ?? detectPublicIps();
  store.transaction(() => {
    addDomain(store, domain);
    checkCanAddUser(store, admin);
    checkCanAddDkimKey(store, domain, selectors.ed25519);
    checkCanAddDkimKey(store, domain, selectors.rsa);
    const now = Date.now();
    addDkimKey(store, {
      domain,
      selector: selectors.ed25519,
      ...ed25519,
      createdAt: new Date(now),
    });
    addDkimKey(store, { domain, selector: selectors.rsa, ...rsa, createdAt: new Date(now + 1) });
    addUser(store, admin, hash, { admin: true });
    setSetting(store, "hostname", hostname);
    if (ips.length > 0) setSetting(store, "public_ips", ips.join(" "));
  });
  const records = await domainRecords(store, { ...config, hostname }, domain, ips);
  return {
    admin,
    generatedPassword: request.password === undefined ? password : undefined,
    selectors,
    ips,
    records,
  };
}
