/**
 * DKIM (RFC 6376): key pairs, the DNS record that publishes a key, and
 * signing an outbound message. Signing is `npm:mailauth`'s (canonicalisation,
 * body hash, header folding); this module picks the policy — relaxed/relaxed,
 * the header set, From oversigned — and keeps the message bytes as they are.
 *
 * Invariants:
 * - {@link signMessage} only prepends one `DKIM-Signature` field: every byte
 *   of the message after it is the input byte for byte (8-bit data included).
 * - Signing never looks anything up in DNS: the key is given.
 */
import { Buffer } from "node:buffer";
import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import type { Writable } from "node:stream";
import { promisify } from "node:util";
import type { DKIMSignError } from "mailauth";
// The class behind mailauth's `dkimSign` (lib/dkim/sign.js), extended below to oversign From.

/** The key types Postino signs with: `rsa` (rsa-sha256) and `ed25519` (ed25519-sha256, RFC 8463). */
export type DkimAlgorithm = "rsa" | "ed25519";

/** Every {@link DkimAlgorithm}, in the order help texts list them. */
export const DKIM_ALGORITHMS: readonly DkimAlgorithm[] = ["rsa", "ed25519"];

/** A new key pair as stored and published. */
export interface DkimKeyPair {
  algorithm: DkimAlgorithm;
  /** The private key, PEM-encoded PKCS#8 (`-----BEGIN PRIVATE KEY-----`). */
  privateKeyPem: string;
  /**
   * The public key as the record's `p=` tag wants it, base64: the
   * SubjectPublicKeyInfo DER for RSA, the raw 32-byte key for Ed25519
   * (RFC 8463 §4.2).
   */
  publicKey: string;
}

/** Options of {@link generateDkimKey}. */
export interface GenerateDkimKeyOptions {
  /** RSA modulus length in bits; ignored for Ed25519. @default 2048 */
  rsaBits?: number;
}

/** A TXT record that publishes a DKIM key. */
export interface DkimDnsRecord {
  /** The owner name, `<selector>._domainkey.<domain>`, without a final dot. */
  name: string;
  type: "TXT";
  /** The whole value, e.g. `v=DKIM1; k=rsa; p=MIIB...`. */
  value: string;
  /** {@link value} cut into character-strings of at most 255 octets, as a zone file needs. */
  strings: string[];
}

/** The key a message is signed with. */
export interface DkimSigningKey {
  /** The signing domain (`d=`), in A-label form. */
  domain: string;
  /** The selector (`s=`). */
  selector: string;
  algorithm: DkimAlgorithm;
  /** The private key, PEM (PKCS#8). */
  privateKeyPem: string;
}

/** Options of {@link signMessage}. */
export interface SignMessageOptions {
  /** The signing time (`t=`). @default the current time */
  signTime?: Date;
}

/** Raised when a message cannot be signed (no From field, an unusable key); the message says why. */
export class DkimSignError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DkimSignError";
  }
}

/**
 * The header fields signed when present (RFC 6376 §5.4.1): the originator
 * and recipient fields, the ones a reader sees, threading, MIME structure
 * (so the body cannot be reinterpreted) and the mailing-list fields.
 */
export const SIGNED_HEADERS: readonly string[] = [
  "From",
  "Sender",
  "Reply-To",
  "To",
  "Cc",
  "Subject",
  "Date",
  "Message-ID",
  "In-Reply-To",
  "References",
  "MIME-Version",
  "Content-Type",
  "Content-Transfer-Encoding",
  "List-Id",
  "List-Help",
  "List-Unsubscribe",
  "List-Unsubscribe-Post",
  "List-Subscribe",
  "List-Post",
  "List-Owner",
  "List-Archive",
];

/** RSA modulus length of new keys (RFC 8301 §3.2 wants at least 1024; 2048 is the common floor now). */
const DEFAULT_RSA_BITS = 2048;
/** A DNS character-string holds at most 255 octets (RFC 1035 §3.3). */
const TXT_STRING_MAX = 255;
/** A selector: dot-separated DNS labels (RFC 6376 §3.1). */
const SELECTOR =
  /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** How the SubjectPublicKeyInfo DER of an Ed25519 key starts; the raw 32-byte key follows (RFC 8410 §4). */
const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

const generateKeyPairAsync = promisify(generateKeyPair);

/** Creates a new key pair for `algorithm` (RSA 2048 bits unless told otherwise). */
export async function generateDkimKey(
  algorithm: DkimAlgorithm,
  options: GenerateDkimKeyOptions = {},
): Promise<DkimKeyPair> {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  if (algorithm === "rsa") {
    pair = await generateKeyPairAsync("rsa", {
      modulusLength: options.rsaBits ?? DEFAULT_RSA_BITS,
    });
  } else if (algorithm === "ed25519") {
    pair = await generateKeyPairAsync("ed25519");
  } else {
    throw new TypeError(`Unknown DKIM algorithm: ${JSON.stringify(algorithm)}`);
  }
  return {
    algorithm,
    privateKeyPem: pair.privateKey.export({ format: "pem", type: "pkcs8" }) as string,
    publicKey: publicKeyValue(algorithm, pair.publicKey),
  };
}

/** The `p=` value of a public key: SPKI DER for RSA, the raw key for Ed25519 (RFC 8463 §4.2). */
function publicKeyValue(algorithm: DkimAlgorithm, key: KeyObject): string {
  const spki = key.export({ format: "der", type: "spki" });
  if (algorithm === "rsa") return spki.toString("base64");
  if (!spki.subarray(0, ED25519_SPKI_PREFIX.length).equals(ED25519_SPKI_PREFIX)) {
    throw new TypeError("Unexpected Ed25519 public key encoding");
  }
  return spki.subarray(ED25519_SPKI_PREFIX.length).toString("base64");
}

/** The `p=` value that belongs to a stored private key (to check a pair, or to print a record again). */
export function publicKeyOf(algorithm: DkimAlgorithm, privateKeyPem: string): string {
  return publicKeyValue(algorithm, createPublicKey(createPrivateKey(privateKeyPem)));
}

/** The TXT record that publishes `key` for `domain` under `selector` (RFC 6376 §3.6.2). */
export function dnsRecord(
  domain: string,
  selector: string,
  key: { algorithm: DkimAlgorithm; publicKey: string },
): DkimDnsRecord {
  const value = `v=DKIM1; k=${key.algorithm}; p=${key.publicKey}`;
  return { name: `${selector}._domainkey.${domain}`, type: "TXT", value, strings: splitTxt(value) };
}

/** Cuts an ASCII TXT value into strings of at most 255 octets; a resolver joins them without spaces. */
export function splitTxt(value: string): string[] {
  const strings: string[] = [];
  for (let i = 0; i < value.length; i += TXT_STRING_MAX) {
    strings.push(value.slice(i, i + TXT_STRING_MAX));
  }
  return strings.length ? strings : [""];
}

/** True when `selector` is usable: dot-separated DNS labels of letters, digits and hyphens. */
export function isValidSelector(selector: string): boolean {
  return selector.length <= 63 * 4 && SELECTOR.test(selector.toLowerCase());
}

/** The default selector for a key made at `now`: `postino` and the UTC year and month, e.g. `postino202611`. */
export function defaultSelector(now: Date = new Date()): string {
  const month = String(now.getUTCMonth() + 1).padStart(2, "0");
  return `postino${now.getUTCFullYear()}${month}`;
}

/** The header section as mailauth's message parser hands it to `messageHeaders`. */
interface ParsedHeaders {
  parsed: { key: string | null; casedKey?: string; line: Uint8Array }[];
}

/** What this module uses of mailauth's untyped `DkimSigner` (a Writable the message is written to). */
interface MailauthSigner extends Writable {
  /** Hook called with the parsed header section before the body is hashed. */
  messageHeaders(headers: ParsedHeaders): Promise<void>;
  /** The signature fields made, folded, without the final CRLF; filled when the stream finishes. */
  signatureHeaders: string[];
  /** Why a signature was not made. */
  errors: DKIMSignError[];
}

/** The options of mailauth's `DkimSigner` this module passes. */
interface MailauthSignerOptions {
  canonicalization: string;
  algorithm: string;
  headerList: string;
  signTime: Date;
  strict: boolean;
  signatureData: { signingDomain: string; selector: string; privateKey: string }[];
}

type SignerClass = new (options: MailauthSignerOptions) => MailauthSigner;

let signerClass: Promise<SignerClass> | undefined;

/**
 * mailauth's signer with From oversigned (RFC 6376 §8.15): `h=` names From
 * once more than the message has From fields, so a From added in transit
 * breaks the signature instead of being shown to the reader.
 *
 * mailauth builds `h=` from each signed field's `casedKey`, and hashes the
 * field's `line`. Giving the first From field the name `From: From` adds the
 * extra, empty entry to `h=` and nothing to the hash, which is exactly what
 * an entry with no field left to match stands for (RFC 6376 §5.4.2).
 *
 * mailauth is loaded at the first signature, not at start: it costs the
 * process some 30 MB, which a server that only receives and serves mail
 * need not pay.
 */
function oversigningSigner(): Promise<SignerClass> {
  return signerClass ??= import("mailauth/lib/dkim/dkim-signer.js").then((module) => {
    const DkimSigner = module.DkimSigner as unknown as SignerClass;
    return class OversigningDkimSigner extends DkimSigner {
      override async messageHeaders(headers: ParsedHeaders): Promise<void> {
        const first = headers.parsed.find((h) => h.key === "from");
        if (first) first.casedKey = `${first.casedKey}: From`;
        await super.messageHeaders(headers);
      }
    };
  });
}

/**
 * Signs `message` (CRLF line ends, 8-bit data allowed) with `key`:
 * relaxed/relaxed, the {@link SIGNED_HEADERS} that are present, From
 * oversigned. Gives the message with the `DKIM-Signature` field prepended and
 * otherwise unchanged. Throws {@link DkimSignError} when it cannot sign.
 */
export async function signMessage(
  message: Uint8Array,
  key: DkimSigningKey,
  options: SignMessageOptions = {},
): Promise<Uint8Array> {
  const Signer = await oversigningSigner();
  const signer = new Signer({
    canonicalization: "relaxed/relaxed",
    algorithm: key.algorithm === "rsa" ? "rsa-sha256" : "ed25519-sha256",
    headerList: SIGNED_HEADERS.join(":"),
    signTime: options.signTime ?? new Date(),
    // Not strict: strict mode refuses a single-label d= such as "localhost" (the dev domain),
    // which RFC 6376 allows. What else it refuses cannot happen here: our keys are RSA 2048 or
    // Ed25519 and the algorithm is never rsa-sha1; unsafe d=/s= values are refused in any mode.
    strict: false,
    signatureData: [{
      signingDomain: key.domain,
      selector: key.selector,
      privateKey: key.privateKeyPem,
    }],
  });
  await new Promise<void>((resolve, reject) => {
    signer.once("error", reject);
    signer.once("finish", resolve);
    signer.end(Buffer.from(message.buffer, message.byteOffset, message.byteLength));
  });
  const { errors, signatureHeaders: headers } = signer;
  if (errors.length > 0 || headers.length !== 1) {
    const reason = errors.map((e) => e.err?.message).join("; ") || "no signature was made";
    throw new DkimSignError(
      `Cannot DKIM-sign the message for ${key.domain} (selector ${key.selector}): ${reason}`,
    );
  }
  const field = new TextEncoder().encode(`${headers[0]}\r\n`);
  const signed = new Uint8Array(field.length + message.length);
  signed.set(field);
  signed.set(message, field.length);
  return signed;
}
