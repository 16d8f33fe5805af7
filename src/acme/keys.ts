/**
 * The keys of ACME: ECDSA P-256 pairs for the account and the certificate,
 * kept as PKCS#8 PEM, their public JWK, and its RFC 7638 thumbprint.
 */

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const encoder = new TextEncoder();

/** base64url without padding (RFC 4648 §5, RFC 7515 §2). */
export function base64url(data: Uint8Array | ArrayBuffer | string): string {
  const bytes = typeof data === "string"
    ? encoder.encode(data)
    : data instanceof Uint8Array
    ? data
    : new Uint8Array(data);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A new ECDSA P-256 key pair, extractable so it can be stored. */
export function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

/** The account key is an ECDSA P-256 pair (JWS ES256). */
export const generateAccountKey = generateKeyPair;

/** A private key as PKCS#8 PEM. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  const b64 = btoa(String.fromCharCode(...der)).replace(/.{64}/g, "$&\n").trimEnd();
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

/** A key pair from a PKCS#8 PEM private key (ECDSA P-256). */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKeyPair> {
  const b64 = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  const der = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const privateKey = await crypto.subtle.importKey("pkcs8", der, ALGORITHM, true, ["sign"]);
  // The public half from the private JWK's coordinates.
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", privateKey);
  const publicKey = await crypto.subtle.importKey(
    "jwk",
    { kty, crv, x, y },
    ALGORITHM,
    true,
    ["verify"],
  );
  return { privateKey, publicKey };
}

/** The public JWK with only the members RFC 7638 §3.2 names for EC keys. */
export async function publicJwk(
  key: CryptoKey,
): Promise<{ crv: string; kty: string; x: string; y: string }> {
  const { crv, kty, x, y } = await crypto.subtle.exportKey("jwk", key);
  return { crv: crv!, kty: kty!, x: x!, y: y! };
}

/** The JWK thumbprint (RFC 7638): SHA-256 of the members in lexical order, base64url. */
export async function jwkThumbprint(
  jwk: { crv: string; kty: string; x: string; y: string },
): Promise<string> {
  const canonical = `{"crv":"${jwk.crv}","kty":"${jwk.kty}","x":"${jwk.x}","y":"${jwk.y}"}`;
  return base64url(await crypto.subtle.digest("SHA-256", encoder.encode(canonical)));
}

/** An ECDSA P-256 SHA-256 signature in the raw r||s form JWS ES256 uses (RFC 7518 §3.4). */
export async function signRaw(key: CryptoKey, data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, data));
}
