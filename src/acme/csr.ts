/**
 * A PKCS#10 certificate signing request (RFC 2986) for an ECDSA P-256 key,
 * written in DER by hand: the subject's CN is the first name, and every name
 * is a dNSName of the subjectAltName extension request (RFC 5280 §4.2.1.6),
 * which is what CAs issue from. Signed with ecdsa-with-SHA256.
 */
import { signRaw } from "./keys.ts";

const encoder = new TextEncoder();

/** A DER length (X.690 §8.1.3). */
function length(n: number): number[] {
  if (n < 0x80) return [n];
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return [0x80 | bytes.length, ...bytes];
}

/** A DER TLV. */
function tlv(tag: number, ...content: Uint8Array[]): Uint8Array<ArrayBuffer> {
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

/** An OBJECT IDENTIFIER from dotted text (X.690 §8.19). */
function oid(dotted: string): Uint8Array {
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

/** A non-negative INTEGER from big-endian bytes (leading zeros dropped, a sign byte added). */
function integer(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.subarray(i);
  return tlv(0x02, trimmed[0] & 0x80 ? new Uint8Array([0, ...trimmed]) : trimmed);
}

/** The DER ECDSA-Sig-Value (RFC 3279 §2.2.3) of a raw r||s signature. */
export function derSignature(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return sequence(integer(raw.subarray(0, half)), integer(raw.subarray(half)));
}

/** The CSR for `names` (the first one becomes the CN) and `keys`, as DER. */
export async function createCsr(names: string[], keys: CryptoKeyPair): Promise<Uint8Array> {
  if (names.length === 0) throw new Error("A certificate needs at least one name");
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const subject = sequence(set(sequence(oid("2.5.4.3"), tlv(0x0c, encoder.encode(names[0])))));
  const altNames = sequence(...names.map((n) => tlv(0x82, encoder.encode(n))));
  const extensions = sequence(sequence(oid("2.5.29.17"), tlv(0x04, altNames)));
  // [0] attributes: one extensionRequest (PKCS#9 1.2.840.113549.1.9.14).
  const attributes = tlv(0xa0, sequence(oid("1.2.840.113549.1.9.14"), set(extensions)));
  const info = sequence(integer(new Uint8Array([0])), subject, spki, attributes);
  const signature = derSignature(await signRaw(keys.privateKey, info));
  return sequence(
    info,
    sequence(oid("1.2.840.10045.4.3.2")),
    tlv(0x03, new Uint8Array([0, ...signature])),
  );
}
