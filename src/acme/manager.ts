/**
 * Keeps the server's certificate from an ACME CA (RFC 8555): obtains one for
 * the host name (and the `mta-sts.` and `autoconfig.` names of local domains
 * that point at this server) through http-01 on the HTTP listener, keeps the
 * account key and the certificate in `<data>/acme/`, serves each new
 * certificate on every TLS listener at once, renews at two thirds of the
 * lifetime, backs off when the CA fails, and warns when expiry comes close.
 *
 * Invariants: the served certificate is replaced only by one that loaded;
 * a failure never stops the server, it only schedules another try.
 */
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { log } from "../log.ts";
import type { ServedCertificate } from "../net/tls.ts";
import { AcmeClient } from "./client.ts";
import { exportPrivateKeyPem, generateAccountKey, importPrivateKeyPem } from "./keys.ts";

const logger = log("acme");

/** Tries after a failure: 1 min, 5 min, 15 min, 1 h, then every 4 h. */
const BACKOFF_MS = [60_000, 300_000, 900_000, 3_600_000, 4 * 3_600_000];
/** Warn when the certificate in use expires within this (and renewal has not worked). */
const WARN_BEFORE_MS = 14 * 86_400_000;
/** The longest a timer is set for (setTimeout's limit is about 24.8 days). */
const MAX_TIMER_MS = 86_400_000;

/** What the manager needs. */
export interface AcmeManagerOptions {
  directoryUrl: string;
  /** Contact address of the account. */
  email?: string;
  /** Extra CA certificates (PEM) to trust for the CA's HTTPS. */
  caCerts?: string[];
  dataDir: string;
  served: ServedCertificate;
  /** Where http-01 answers are kept for the HTTP listener: token -> key authorization. */
  challenges: Map<string, string>;
  /** The names to ask for now (the host name first). */
  names: () => Promise<string[]>;
  /** @default Date.now */
  now?: () => number;
  /** For tests. */
  fetch?: typeof fetch;
}

/** A certificate as stored and as read back. */
interface Stored {
  cert: string;
  key: string;
  notBefore: number;
  notAfter: number;
  names: string[];
}

/** Obtains, stores, serves and renews the certificate. */
export class AcmeManager {
  readonly #options: AcmeManagerOptions;
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: AcmeManagerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** The directory that holds the account key and the certificate. */
  static directory(dataDir: string): string {
    return join(dataDir, "acme");
  }

  /**
   * The stored certificate and key when they are still valid, for serving
   * at start before anything is asked of the CA.
   */
  static async stored(dataDir: string, now = Date.now()): Promise<Stored | undefined> {
    const dir = AcmeManager.directory(dataDir);
    try {
      const cert = await Deno.readTextFile(join(dir, "cert.pem"));
      const key = await Deno.readTextFile(join(dir, "cert-key.pem"));
      const x509 = new X509Certificate(cert);
      const notAfter = Date.parse(x509.validTo);
      if (notAfter <= now) return undefined;
      const names = (x509.subjectAltName ?? "").split(/,\s*/).filter((n) => n.startsWith("DNS:"))
        .map((n) => n.slice(4));
      return { cert, key, notBefore: Date.parse(x509.validFrom), notAfter, names };
    } catch {
      return undefined;
    }
  }

  /** Starts: renews now when needed, else schedules the renewal. */
  start(): void {
    this.#schedule(0);
  }

  /** Stops the timers; a run in progress finishes on its own. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running?.catch(() => {});
  }

  /** Runs one check now (tests); resolves when it is done. */
  runNow(): Promise<void> {
    clearTimeout(this.#timer);
    this.#running ??= this.#run().finally(() => this.#running = undefined);
    return this.#running;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.runNow(), Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
  }

  async #run(): Promise<void> {
    const names = await this.#options.names();
    const stored = await AcmeManager.stored(this.#options.dataDir, this.#now());
    const now = this.#now();
    const due = !stored || now >= renewalTime(stored) ||
      names.some((n) => !stored.names.includes(n));
    if (!due) {
      this.#serve(stored, false);
      this.#schedule(renewalTime(stored) - now);
      return;
    }
    try {
      const fresh = await this.#obtain(names);
      this.#failures = 0;
      this.#serve(fresh, true);
      logger.info("Obtained a certificate for {names}, valid until {until}", {
        names: names.join(", "),
        until: new Date(fresh.notAfter).toISOString(),
      });
      this.#schedule(renewalTime(fresh) - this.#now());
    } catch (err) {
      const wait = BACKOFF_MS[Math.min(this.#failures, BACKOFF_MS.length - 1)];
      this.#failures++;
      logger.error(
        "Could not obtain a certificate for {names} (try {n}, next in {wait}s): {error}",
        {
          names: names.join(", "),
          n: this.#failures,
          wait: Math.round(wait / 1000),
          error: (err as Error)?.message ?? String(err),
        },
      );
      if (stored && stored.notAfter - now < WARN_BEFORE_MS) {
        logger.warn("The certificate in use expires on {until} and renewal fails", {
          until: new Date(stored.notAfter).toISOString(),
        });
      }
      if (stored) this.#serve(stored, false);
      this.#schedule(wait);
    }
  }

  /** Serves `cert` unless it is already what is served. */
  #serve(cert: Stored, fresh: boolean): void {
    const served = this.#options.served;
    if (served.cert === cert.cert) return;
    served.replace({
      cert: cert.cert,
      key: cert.key,
      certFile: join(AcmeManager.directory(this.#options.dataDir), "cert.pem"),
      selfSigned: false,
    });
    if (!fresh) logger.info("Serving the stored ACME certificate");
  }

  async #obtain(names: string[]): Promise<Stored> {
    const dir = AcmeManager.directory(this.#options.dataDir);
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const client = new AcmeClient({
      directoryUrl: this.#options.directoryUrl,
      accountKey: await this.#accountKey(dir),
      caCerts: this.#options.caCerts,
      contact: this.#options.email ? [`mailto:${this.#options.email}`] : undefined,
      fetch: this.#options.fetch,
    });
    await client.account();
    const { challenges } = this.#options;
    const issued = await client.issue(names, {
      publish: (token, keyAuthorization) => void challenges.set(token, keyAuthorization),
      unpublish: (token) => void challenges.delete(token),
    });
    // Written whole before renamed: a crash never leaves half a certificate to load.
    await writeAtomically(join(dir, "cert-key.pem"), issued.privateKeyPem, 0o600);
    await writeAtomically(join(dir, "cert.pem"), issued.certificatePem, 0o644);
    const x509 = new X509Certificate(issued.certificatePem);
    return {
      cert: issued.certificatePem,
      key: issued.privateKeyPem,
      notBefore: Date.parse(x509.validFrom),
      notAfter: issued.notAfter.getTime(),
      names,
    };
  }

  /** The account key in `dir`, made on first use. */
  async #accountKey(dir: string): Promise<CryptoKeyPair> {
    const file = join(dir, "account-key.pem");
    try {
      return await importPrivateKeyPem(await Deno.readTextFile(file));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    const pair = await generateAccountKey();
    await writeAtomically(file, await exportPrivateKeyPem(pair.privateKey), 0o600);
    return pair;
  }
}

/** When to renew: at two thirds of the certificate's lifetime. */
export function renewalTime(cert: { notBefore: number; notAfter: number }): number {
  return cert.notBefore + Math.floor((cert.notAfter - cert.notBefore) * 2 / 3);
}

async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const temp = `${path}.tmp`;
  await Deno.writeTextFile(temp, text, { mode });
  await Deno.rename(temp, path);
}
