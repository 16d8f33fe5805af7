/**
 * Where `serve` gets its certificate and how it stays fresh: files given
 * with --tls-cert/--tls-key (reloaded when they change), ACME (obtained and
 * renewed by the server, a self-signed one served until the first arrives),
 * the development certificate under --dev, or none.
 */
import type { Config } from "../config.ts";
import { Resolver } from "../dns/resolver.ts";
import { AcmeManager } from "../acme/manager.ts";
import { acmeNames } from "../acme/names.ts";
import { log } from "../log.ts";
import { watchCertificateFiles } from "../net/certificate_files.ts";
import { ensureDevCertificate } from "../net/dev_cert.ts";
import { loadTlsIdentity, ServedCertificate } from "../net/tls.ts";
import type { Store } from "../store/db.ts";

/** The certificate to start with, and what keeps it up to date once the server runs. */
export interface Certificates {
  tls?: ServedCertificate;
  /** ACME http-01 answers for the HTTP listener. */
  challenges: Map<string, string>;
  /** Starts watching or renewing; call once the listeners run. */
  start(): void;
  stop(): Promise<void>;
}

const logger = log("tls");

/** Chooses the certificate source the configuration asks for. */
export async function certificates(config: Config, store: Store): Promise<Certificates> {
  const challenges = new Map<string, string>();
  const { acme, certFile, keyFile } = config.tls;
  if (acme) {
    const stored = await AcmeManager.stored(config.dataDir);
    let tls: ServedCertificate;
    if (stored) {
      tls = new ServedCertificate({
        cert: stored.cert,
        key: stored.key,
        certFile: `${AcmeManager.directory(config.dataDir)}/cert.pem`,
        selfSigned: false,
      });
    } else {
      const pair = await ensureDevCertificate(config.dataDir, config.hostname);
      tls = new ServedCertificate({ ...pair, selfSigned: true });
      logger.warn("Serving a self-signed certificate until the ACME certificate arrives");
    }
    if (!config.listeners.http) {
      logger.warn("ACME needs the HTTP listener (port 80) to answer its http-01 challenges");
    }
    const resolver = new Resolver({ servers: config.dns ? [config.dns] : undefined, cache: true });
    const manager = new AcmeManager({
      directoryUrl: acme,
      email: config.tls.acmeEmail,
      caCerts: config.tls.acmeCaFile ? [await Deno.readTextFile(config.tls.acmeCaFile)] : undefined,
      dataDir: config.dataDir,
      served: tls,
      challenges,
      names: () => acmeNames(config.hostname, store, resolver),
    });
    return { tls, challenges, start: () => manager.start(), stop: () => manager.stop() };
  }
  const tls = await loadTlsIdentity(config);
  if (tls?.selfSigned) {
    logger.info("Using the self-signed development certificate {file}", { file: tls.certFile });
  } else if (!tls) {
    logger.warn(
      "No certificate (--tls-cert/--tls-key/--acme): STARTTLS is off and AUTH is not offered",
    );
  }
  let watch: { close(): void } | undefined;
  return {
    tls,
    challenges,
    start() {
      if (tls && certFile && keyFile) watch = watchCertificateFiles(tls, certFile, keyFile);
    },
    stop() {
      watch?.close();
      return Promise.resolve();
    },
  };
}
