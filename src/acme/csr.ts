/**
 * A PKCS#10 certificate signing request (RFC 2986) for an ECDSA P-256 key,
 * written in DER by a few lines of ASN.1 below: the subject's CN is the
 * first name, and every name is a dNSName of the subjectAltName extension
 * request (RFC 5280 §4.2.1.6), which is what CAs issue from (RFC 8555 §7.4).
 * Signed ecdsa-with-SHA256, the signature as DER (RFC 3279 §2.2.3), while
 * WebCrypto gives raw r||s.
 */
import { signRaw } from "./keys.ts";

const encoder = new TextEncoder();

const OID = {
  commonName: "2.5.4.3",
  subjectAltName: "2.5.29.17",
  extensionRequest: "1.2.840.113549.1.9.14", // PKCS#9
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
} as const;

/** RFC 5280 Appendix A.1: ub-common-name is 64 characters. */
const MAX_COMMON_NAME = 64;

/** A DER length (X.690 §8.1.3): short form below 128, else long form. */
function length(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return [0x80 | bytes.length, ...bytes];
}

/** A DER TLV of `tag` around the concatenated `content`. */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const size = content.reduce((n, c) => n + c.length, 0);
  const head = [tag, ...length(size)];
  const out = new Uint8Array(head.length + size);
  out.set(head);
  let offset = head.length;
  for (const c of content) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

const sequence = (...c: Uint8Array[]) => tlv(0x30, ...c);
const set = (...c: Uint8Array[]) => tlv(0x31, ...c);

/** An OBJECT IDENTIFIER from dotted text (X.690 §8.19): base-128 groups. */
export function oid(dotted: string): Uint8Array<ArrayBuffer> {
  const [a, b, ...rest] = dotted.split(".").map(Number);
  const bytes = [a * 40 + b];
  for (const n of rest) {
    const groups: number[] = [];
    for (let v = n;; v = Math.floor(v / 128)) {
      groups.unshift(v % 128);
      if (v < 128) break;
    }
    bytes.push(...groups.map((g, i) => i < groups.length - 1 ? g | 0x80 : g));
  }
  return tlv(0x06, new Uint8Array(bytes));
}

/** A non-negative INTEGER from big-endian bytes: leading zeros dropped, a zero added when the top bit is set. */
export function integer(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  return tlv(0x02, trimmed[0] & 0x80 ? new Uint8Array([0, ...trimmed]) : trimmed);
}

/** The DER ECDSA-Sig-Value (RFC 3279 §2.2.3), SEQUENCE { r, s }, of a raw r||s signature. */
export function derSignature(raw: Uint8Array): Uint8Array<ArrayBuffer> {
  if (raw.length === 0 || raw.length % 2) throw new Error("Cannot read a raw ECDSA signature");
  const half = raw.length / 2;
  return sequence(integer(raw.subarray(0, half)), integer(raw.subarray(half)));
}

/**
 * Checks a DNS name for a certificate: ASCII only (IDNs as A-labels,
 * `xn--`), labels of letters, digits and hyphens, a leading `*.` allowed.
 */
export function checkCertificateName(name: string): void {
  const labels = name.replace(/^\*\./, "").split(".");
  const ok = name.length <= 253 && labels.length >= 2 &&
    labels.every((l) => /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(l));
  if (!ok) throw new Error(`Cannot put ${JSON.stringify(name)} in a certificate: not a DNS name`);
}

/**
 * The CSR for `names` and `keys`, as DER. The first name is the subject's
 * CN when it fits (64 characters; a longer one is left to the SAN, as Let's
 * Encrypt does); every name goes into the subjectAltName.
 */
export async function createCsr(names: string[], keys: CryptoKeyPair): Promise<Uint8Array> {
  if (names.length === 0) {
    throw new Error("Cannot make a CSR: a certificate needs at least one name");
  }
  names.forEach(checkCertificateName);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const cn = names[0].length <= MAX_COMMON_NAME
    ? [set(sequence(oid(OID.commonName), tlv(0x0c, encoder.encode(names[0]))))]
    : [];
  const subject = sequence(...cn);
  // GeneralName dNSName is [2] IMPLICIT IA5String.
  const altNames = sequence(...names.map((n) => tlv(0x82, encoder.encode(n))));
  const extensions = sequence(sequence(oid(OID.subjectAltName), tlv(0x04, altNames)));
  // attributes [0]: one extensionRequest holding the extensions.
  const attributes = tlv(0xa0, sequence(oid(OID.extensionRequest), set(extensions)));
  const info = sequence(integer(new Uint8Array([0])), subject, spki, attributes);
  const signature = derSignature(await signRaw(keys.privateKey, info));
  return sequence(
    info,
    sequence(oid(OID.ecdsaWithSha256)),
    tlv(0x03, new Uint8Array([0, ...signature])), // BIT STRING, no unused bits
  );
}
