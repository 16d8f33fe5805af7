/**
 * Checks a certificate chain and private key before the server uses them, so
 * that a bad file fails `serve` at start with one line naming it, rather than
 * every client's first STARTTLS later. `tls.createSecureContext` accepts text
 * that is not PEM at all, so it cannot be the check.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";

/** What is wrong with a certificate or key file; the message names the file. */
export class CertificateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CertificateError";
  }
}

/** What a checked pair tells about itself. */
export interface CertificateSummary {
  /** The leaf certificate's subject and DNS names, as written. */
  names: string[];
  notBefore: Date;
  notAfter: Date;
  /** How many certificates the chain holds, the leaf included. */
  chainLength: number;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----/;

/**
 * Checks that `certPem` is a PEM certificate chain whose first certificate is
 * valid at `now` and belongs to the PEM private key `keyPem`. Throws a
 * {@link CertificateError} naming the file at fault.
 */
export function checkCertificatePair(
  pems: { cert: string; key: string },
  files: { cert: string; key: string },
  now: Date = new Date(),
): CertificateSummary {
  const blocks = pems.cert.match(CERT_BLOCK) ?? [];
  if (blocks.length === 0) {
    throw new CertificateError(
      `Certificate file ${files.cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  }
  const chain = blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch {
      throw new CertificateError(
        `Certificate file ${files.cert}: certificate ${i + 1} of ${blocks.length} cannot be parsed`,
      );
    }
  });
  const key = parseKey(pems.key, files.key);
  const leaf = chain[0];
  let matches = false;
  try {
    matches = leaf.checkPrivateKey(key);
  } catch {
    // A key of another type (EC against RSA) may throw rather than answer false.
  }
  if (!matches) {
    throw new CertificateError(
      `Certificate file ${files.cert} does not belong to the key in ${files.key}`,
    );
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    throw new CertificateError(
      `Certificate file ${files.cert} expired on ${notAfter.toISOString()}`,
    );
  }
  if (notBefore.getTime() > now.getTime()) {
    throw new CertificateError(
      `Certificate file ${files.cert} is not valid before ${notBefore.toISOString()}`,
    );
  }
  return { names: certificateNames(leaf), notBefore, notAfter, chainLength: chain.length };
}

function parseKey(pem: string, file: string): KeyObject {
  const label = KEY_BLOCK.exec(pem)?.[1];
  if (!label) {
    throw new CertificateError(
      `Key file ${file} holds no PEM private key (-----BEGIN PRIVATE KEY-----)`,
    );
  }
  if (label === "ENCRYPTED PRIVATE KEY" || /Proc-Type: 4,ENCRYPTED/.test(pem)) {
    throw new CertificateError(`Key file ${file} is encrypted; give the key without a passphrase`);
  }
  try {
    return createPrivateKey(pem);
  } catch {
    throw new CertificateError(`Key file ${file}: the private key cannot be parsed`);
  }
}

/** The subject CN and the DNS names of the subject alternative name. */
function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  if (cn) names.push(cn);
  for (const entry of (cert.subjectAltName ?? "").split(/,\s*/)) {
    const m = /^DNS:(.+)$/.exec(entry);
    if (m && !names.includes(m[1])) names.push(m[1]);
  }
  return names;
}
