/**
 * A self-signed certificate for `--dev`, generated in-process with WebCrypto
 * and @peculiar/x509 (no openssl binary needed, so it works inside a compiled
 * executable). Kept in the data directory and reused while it is valid and
 * names the host.
 */
import { X509Certificate } from "node:crypto";
import { join } from "node:path";

/**
 * @peculiar/x509 is loaded only to make a certificate: it costs about 20 MB
 * of memory, which a running server should not carry for a one-off job.
 */
async function loadX509() {
  // It resolves its services through tsyringe, which needs the Reflect metadata API.
  await import("reflect-metadata");
  const x509 = await import("@peculiar/x509");
  x509.cryptoProvider.set(crypto);
  return x509;
}

/** File names of the generated pair inside the data directory. */
export const DEV_CERT_FILE = "dev-cert.pem";
export const DEV_KEY_FILE = "dev-key.pem";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const VALID_DAYS = 365;
const DAY_MS = 86_400_000;

/** PEM text of a certificate and its private key. */
export interface PemPair {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = btoa(String.fromCharCode(...new Uint8Array(der)));
  return `-----BEGIN ${label}-----\n${
    b64.replace(/.{64}/g, "$&\n").trimEnd()
  }\n-----END ${label}-----\n`;
}

/** Creates a new self-signed certificate for `hostname`, localhost and the loopback addresses. */
export async function createSelfSigned(hostname: string): Promise<{ cert: string; key: string }> {
  const x509 = await loadX509();
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const names = [...new Set([hostname, "localhost"])];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Array.from(
      crypto.getRandomValues(new Uint8Array(12)),
      (b) => (b & 0x7f).toString(16).padStart(2, "0"),
    ).join(""),
    name: `CN=${hostname}, O=Postino development certificate`,
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + VALID_DAYS * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        ...names.map((value) => ({ type: "dns" as const, value })),
        { type: "ip", value: "127.0.0.1" },
        { type: "ip", value: "::1" },
      ]),
    ],
  });
  const key = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { cert: cert.toString("pem") + "\n", key: pem("PRIVATE KEY", key) };
}

/** True when `certPem` is still valid for a day and names `hostname`. */
function usable(certPem: string, hostname: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const dns = (cert.subjectAltName ?? "").split(", ").filter((n) => n.startsWith("DNS:"));
    return Date.parse(cert.validTo) > Date.now() + DAY_MS && dns.includes(`DNS:${hostname}`);
  } catch {
    return false;
  }
}

/** The development certificate in `dataDir`, generated (or renewed) when needed. */
export async function ensureDevCertificate(dataDir: string, hostname: string): Promise<PemPair> {
  const certFile = join(dataDir, DEV_CERT_FILE);
  const keyFile = join(dataDir, DEV_KEY_FILE);
  try {
    const cert = await Deno.readTextFile(certFile);
    const key = await Deno.readTextFile(keyFile);
    if (usable(cert, hostname)) return { cert, key, certFile, keyFile };
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const fresh = await createSelfSigned(hostname);
  await Deno.writeTextFile(keyFile, fresh.key, { mode: 0o600 });
  await Deno.writeTextFile(certFile, fresh.cert);
  return { ...fresh, certFile, keyFile };
}
