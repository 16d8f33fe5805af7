/**
 * A self-signed certificate for `--dev`, generated in-process with WebCrypto
 * and @peculiar/x509 (no openssl binary needed, so it works inside a compiled
 * executable). Kept in the data directory and reused while it is valid and
 * names the host.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { join } from "node:path";

x509.cryptoProvider.set(crypto);

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
    const cert = new x509.X509Certificate(certPem);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const dns = san?.names.items.filter((n) => n.type === "dns").map((n) => n.value) ?? [];
    return cert.notAfter.getTime() > Date.now() + DAY_MS && dns.includes(hostname);
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
