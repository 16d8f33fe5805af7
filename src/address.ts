/**
 * Normal forms of domains and addresses as the store keeps them: domains in
 * lower-case ASCII (IDNs as A-labels, RFC 5890), local parts lower-cased so
 * lookups are case-insensitive as users expect (RFC 5321 §2.4 allows it).
 */
import { domainToASCII } from "node:url";

/** Raised for a domain or address that cannot be normalised; the message names the value. */
export class AddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AddressError";
  }
}

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// RFC 5322 §3.2.3 atext, plus UTF-8 (RFC 6531); dots checked separately.
const LOCAL_ATEXT = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\u{10FFFF}]+$/u;

/** Normalises a domain name to lower-case ASCII, or throws {@link AddressError}. */
export function normalizeDomain(input: string): string {
  const trimmed = input.trim().replace(/\.$/, "");
  const ascii = trimmed === "" ? "" : domainToASCII(trimmed).toLowerCase();
  if (!ascii || ascii.length > 253 || !ascii.split(".").every((l) => LABEL.test(l))) {
    throw new AddressError(`Invalid domain name: ${JSON.stringify(input)}`);
  }
  return ascii;
}

/** Splits an address at its last `@`; throws when either side is missing. */
export function splitAddress(input: string): { local: string; domain: string } {
  const at = input.lastIndexOf("@");
  if (at <= 0 || at === input.length - 1) {
    throw new AddressError(`Invalid address (expected local@domain): ${JSON.stringify(input)}`);
  }
  return { local: input.slice(0, at), domain: input.slice(at + 1) };
}

/** Normalises a local part: a dot-atom, at most 64 octets, lower-cased. */
export function normalizeLocalPart(local: string, original = local): string {
  const octets = new TextEncoder().encode(local).length;
  const dotAtom = local.split(".").every((atom) => LOCAL_ATEXT.test(atom));
  if (!dotAtom || octets > 64) {
    throw new AddressError(`Invalid local part in address: ${JSON.stringify(original)}`);
  }
  return local.toLowerCase();
}

/** Normalises `local@domain` for storage and lookup, or throws {@link AddressError}. */
export function normalizeAddress(input: string): string {
  const { local, domain } = splitAddress(input.trim());
  return `${normalizeLocalPart(local, input)}@${normalizeDomain(domain)}`;
}

/** The domain part of an already normalised address. */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf("@") + 1);
}
