/**
 * The server's TLS identity: the configured certificate and key, or under
 * `--dev` a self-signed pair generated in the data directory.
 */
import tls from "node:tls";
import type { Config } from "../config.ts";
import { CertificateError, checkCertificatePair } from "./certificate_check.ts";
import { ensureDevCertificate } from "./dev_cert.ts";

/** A loaded TLS identity. */
export interface TlsIdentity {
  context: tls.SecureContext;
  /** The PEM texts, for listeners that take them rather than a context (HTTPS). */
  cert: string;
  key: string;
  certFile: string;
  /** True for the generated development certificate. */
  selfSigned: boolean;
}

/** Raised when the certificate or key cannot be used. */
export class TlsSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TlsSetupError";
  }
}

/** Builds a secure context; TLS 1.2 is the floor (RFC 8996 deprecates 1.0/1.1, RFC 8314 §4.1). */
export function secureContext(cert: string, key: string): tls.SecureContext {
  return tls.createSecureContext({ cert, key, minVersion: "TLSv1.2" });
}

/** Loads the TLS identity the configuration asks for; undefined when there is none. */
export async function loadTlsIdentity(config: Config): Promise<TlsIdentity | undefined> {
  const { certFile, keyFile } = config.tls;
  if (certFile && keyFile) {
    const cert = await Deno.readTextFile(certFile);
    const key = await Deno.readTextFile(keyFile);
    try {
      checkCertificatePair({ cert, key }, { cert: certFile, key: keyFile });
    } catch (err) {
      if (err instanceof CertificateError) throw new TlsSetupError(err.message);
      throw err;
    }
    try {
      return { context: secureContext(cert, key), cert, key, certFile, selfSigned: false };
    } catch (err) {
      throw new TlsSetupError(
        `Cannot use tls.cert ${certFile} with tls.key ${keyFile}: ${(err as Error).message}`,
      );
    }
  }
  if (!config.dev) return undefined;
  const pair = await ensureDevCertificate(config.dataDir, config.hostname);
  return {
    context: secureContext(pair.cert, pair.key),
    cert: pair.cert,
    key: pair.key,
    certFile: pair.certFile,
    selfSigned: true,
  };
}
