/**
 * The server's TLS identity: the configured certificate and key, or under
 * `--dev` a self-signed pair generated in the data directory. It can be
 * replaced while the server runs (renewed files, ACME): listeners and
 * STARTTLS read it at each handshake, so new connections get the new
 * certificate and open ones keep theirs.
 */
import tls from "node:tls";
import type { Config } from "../config.ts";
import { CertificateError, checkCertificatePair } from "./certificate_check.ts";
import { ensureDevCertificate } from "./dev_cert.ts";

/** A loaded TLS identity. */
export interface TlsIdentity {
  readonly context: tls.SecureContext;
  /** The PEM texts, for listeners that take them rather than a context (HTTPS). */
  readonly cert: string;
  readonly key: string;
  readonly certFile: string;
  /** True for a generated self-signed certificate (development, or ACME not done yet). */
  readonly selfSigned: boolean;
}

/** A certificate and key as PEM, with where they came from. */
export interface PemIdentity {
  cert: string;
  key: string;
  certFile: string;
  selfSigned: boolean;
}

/** The identity the server serves now; {@link replace} swaps it for new connections. */
export class ServedCertificate implements TlsIdentity {
  #pem: PemIdentity;
  #context: tls.SecureContext;
  readonly #listeners = new Set<(identity: TlsIdentity) => void>();

  constructor(pem: PemIdentity) {
    this.#context = secureContext(pem.cert, pem.key);
    this.#pem = pem;
  }

  get context(): tls.SecureContext {
    return this.#context;
  }
  get cert(): string {
    return this.#pem.cert;
  }
  get key(): string {
    return this.#pem.key;
  }
  get certFile(): string {
    return this.#pem.certFile;
  }
  get selfSigned(): boolean {
    return this.#pem.selfSigned;
  }

  /**
   * Serves `pem` to new connections from now on; throws (and keeps the old
   * one) when it cannot be loaded. Tells every {@link onChange} listener.
   */
  replace(pem: PemIdentity): void {
    const context = secureContext(pem.cert, pem.key);
    this.#context = context;
    this.#pem = pem;
    for (const listener of this.#listeners) listener(this);
  }

  /** Calls `listener` after each replacement; returns the way to stop. */
  onChange(listener: (identity: TlsIdentity) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
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

/**
 * Reads and checks a certificate and key file pair; throws a
 * {@link TlsSetupError} naming the file at fault.
 */
export async function readCertificateFiles(
  certFile: string,
  keyFile: string,
): Promise<PemIdentity> {
  let cert: string;
  let key: string;
  try {
    cert = await Deno.readTextFile(certFile);
    key = await Deno.readTextFile(keyFile);
  } catch (err) {
    throw new TlsSetupError(`Cannot read the certificate files: ${(err as Error).message}`);
  }
  try {
    checkCertificatePair({ cert, key }, { cert: certFile, key: keyFile });
    secureContext(cert, key);
  } catch (err) {
    if (err instanceof CertificateError) throw new TlsSetupError(err.message);
    throw new TlsSetupError(
      `Cannot use tls.cert ${certFile} with tls.key ${keyFile}: ${(err as Error).message}`,
    );
  }
  return { cert, key, certFile, selfSigned: false };
}

/** Loads the TLS identity the configuration asks for; undefined when there is none. */
export async function loadTlsIdentity(config: Config): Promise<ServedCertificate | undefined> {
  const { certFile, keyFile } = config.tls;
  if (certFile && keyFile) {
    return new ServedCertificate(await readCertificateFiles(certFile, keyFile));
  }
  if (!config.dev) return undefined;
  const pair = await ensureDevCertificate(config.dataDir, config.hostname);
  return new ServedCertificate({ ...pair, selfSigned: true });
}
