/**
 * DKIM signing of outbound mail (RFC 6376): a message is signed for the
 * domain of its From address when we hold a key for it (that is what DMARC
 * aligns with, RFC 7489 §3.1.1), else for the envelope sender's domain.
 * Without a key it leaves unsigned.
 */
import { log } from "../log.ts";
import { headerValue } from "../mail/headers.ts";
import { DkimSignError, signMessage } from "../security/dkim.ts";
import type { Store } from "../store/db.ts";
import { activeDkimKey } from "../store/dkim_keys.ts";

const logger = log("dkim");

/** The domain of the (first) address in a From field value, lower-cased. */
export function fromDomain(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const angle = /<([^<>]*)>/.exec(value)?.[1];
  const address = angle ?? value.split(",")[0].trim();
  const at = address.lastIndexOf("@");
  return at > 0 ? address.slice(at + 1).trim().toLowerCase() : undefined;
}

/** A signing function for the queue runner over the keys in `store`. */
export function dkimSigner(store: Store) {
  return async (message: Uint8Array, sender: string): Promise<Uint8Array> => {
    const domains = [fromDomain(headerValue(message, "From")), fromDomain(sender)];
    for (const domain of domains) {
      const key = domain ? activeDkimKey(store, domain) : undefined;
      if (!key) continue;
      try {
        return await signMessage(message, key);
      } catch (err) {
        // A message we cannot sign still goes out; receivers judge it unsigned.
        if (!(err instanceof DkimSignError)) throw err;
        logger.warn("Cannot sign for {domain}: {error}", { domain, error: err.message });
      }
    }
    return message;
  };
}
