/**
 * Whether checking a message needs its body: only a DKIM signature or an
 * ARC set hashes it (RFC 6376 §3.7, RFC 8617 §4.1.2). Without one, the
 * checks read the header section alone.
 */
const latin1 = new TextDecoder("latin1");
const SIGNED = /^(?:DKIM-Signature|ARC-[A-Za-z-]+)[ \t]*:/im;

/** True when the header section `head` holds a DKIM-Signature or ARC field. */
export function bodyNeeded(head: Uint8Array): boolean {
  return SIGNED.test(latin1.decode(head));
}
