/**
 * The keys of ACME and what is made from them: ECDSA P-256 pairs for the
 * account and the certificate, kept as PKCS#8 PEM; the account key's public
 * JWK and its RFC 7638 thumbprint (the second half of every http-01 key
 * authorization, RFC 8555 §8.1); and the flattened JWS (RFC 7515 §7.2.2)
 * that carries every ACME request, signed ES256 (RFC 7518 §3.4).
 */

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;
const encoder = new TextEncoder();

/** A public JWK, as far as a thumbprint needs it. */
export interface PublicJwk {
  kty: string;
  crv?: string;
  x?: string;
  y?: string;
  n?: string;
  e?: string;
}

/** A JWS in the flattened JSON serialization, as ACME sends it (RFC 8555 §6.2). */
export interface FlattenedJws {
  protected: string;
  payload: string;
  signature: string;
}

/** base64url without padding (RFC 4648 §5, RFC 7515 §2). */
export function base64url(data: Uint8Array | ArrayBuffer | string): string {
  const bytes = typeof data === "string"
    ? encoder.encode(data)
    : data instanceof Uint8Array
    ? data
    : new Uint8Array(data);
  return base64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The bytes of base64url text, padded or not. */
export function base64urlDecode(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new Error(`Cannot decode base64url: ${text}`);
  const b64 = text.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), (c) => c.charCodeAt(0));
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** A new ECDSA P-256 key pair, extractable so that it can be stored. */
export function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

/** The account key is an ECDSA P-256 pair too (JWS ES256). */
export const generateAccountKey = generateKeyPair;

/** Whether `key` is an ECDSA P-256 key, the only kind this client signs with. */
export function isP256(key: CryptoKey): boolean {
  const algorithm = key.algorithm as EcKeyAlgorithm;
  return algorithm.name === "ECDSA" && algorithm.namedCurve === "P-256";
}

/** A private key as PKCS#8 PEM (RFC 5958, RFC 7468 §10). */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  const lines = base64(der).replace(/.{64}/g, "$&\n").trimEnd();
  return `-----BEGIN PRIVATE KEY-----\n${lines}\n-----END PRIVATE KEY-----\n`;
}

/** The key pair of a PKCS#8 PEM private key (ECDSA P-256), both halves extractable. */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKeyPair> {
  const match = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(pem);
  if (!match) {
    throw new Error("Cannot read the private key: expected a PKCS#8 PEM (BEGIN PRIVATE KEY)");
  }
  const der = Uint8Array.from(atob(match[1].replace(/\s+/g, "")), (c) => c.charCodeAt(0));
  const privateKey = await crypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"]);
  // The public half from the private JWK's coordinates.
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", privateKey);
  const jwk = { kty, crv, x, y };
  const publicKey = await crypto.subtle.importKey("jwk", jwk, ALGORITHM, true, ["verify"]);
  return { privateKey, publicKey };
}

/** The public JWK of an EC key with only the members RFC 7638 §3.2 keeps. */
export async function publicJwk(
  key: CryptoKey,
): Promise<Required<Pick<PublicJwk, "crv" | "kty" | "x" | "y">>> {
  const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", key);
  if (kty !== "EC" || !crv || !x || !y) throw new Error(`Cannot use a ${kty} key as an ACME key`);
  return { crv, kty, x, y };
}

/**
 * The JWK thumbprint (RFC 7638 §3): SHA-256 over the required members in
 * lexical order with no white space, base64url. The members are base64url
 * or fixed names, so JSON.stringify of an ordered object is the canonical
 * form (§3.3).
 */
export async function jwkThumbprint(jwk: PublicJwk): Promise<string> {
  const required: Record<string, string[]> = {
    EC: ["crv", "kty", "x", "y"],
    RSA: ["e", "kty", "n"],
    OKP: ["crv", "kty", "x"],
  };
  const members = required[jwk.kty];
  if (!members) throw new Error(`Cannot take the thumbprint of a ${jwk.kty} key`);
  const ordered: Record<string, unknown> = {};
  for (const member of members) {
    const value = jwk[member as keyof PublicJwk];
    if (typeof value !== "string") throw new Error(`Cannot take the thumbprint: no "${member}"`);
    ordered[member] = value;
  }
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(JSON.stringify(ordered)));
  return base64url(digest);
}

/** An ECDSA P-256 SHA-256 signature, raw r||s as JWS ES256 wants it (RFC 7518 §3.4). */
export async function signRaw(
  key: CryptoKey,
  data: Uint8Array<ArrayBuffer>,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await crypto.subtle.sign(SIGN, key, data));
}

/**
 * A flattened JWS over `payload` as JSON, signed ES256. `payload` undefined
 * makes the empty payload of a POST-as-GET (RFC 8555 §6.3).
 */
export async function signJws(
  privateKey: CryptoKey,
  header: Record<string, unknown>,
  payload?: unknown,
): Promise<FlattenedJws> {
  const protectedPart = base64url(JSON.stringify(header));
  const payloadPart = payload === undefined ? "" : base64url(JSON.stringify(payload));
  const signature = await signRaw(privateKey, encoder.encode(`${protectedPart}.${payloadPart}`));
  return { protected: protectedPart, payload: payloadPart, signature: base64url(signature) };
}

/** Whether `jws` is signed by `publicKey` (ES256): what a CA checks; for tests. */
export function verifyJws(publicKey: CryptoKey, jws: FlattenedJws): Promise<boolean> {
  return crypto.subtle.verify(
    SIGN,
    publicKey,
    base64urlDecode(jws.signature),
    encoder.encode(`${jws.protected}.${jws.payload}`),
  );
}
