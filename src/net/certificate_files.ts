/**
 * Picks up a renewed certificate from `--tls-cert`/`--tls-key` without a
 * restart: the files' directories are watched (certbot replaces the
 * symbolic links in `live/`, so the files themselves are not what changes)
 * and SIGHUP asks for a reload too. A pair that fails the checks of
 * certificate_check.ts is logged and the old certificate stays.
 */
import { dirname, resolve } from "node:path";
import { log } from "../log.ts";
import { readCertificateFiles, type ServedCertificate } from "./tls.ts";

const logger = log("tls");

/** How long to wait after the last change: a renewal writes several files. */
const SETTLE_MS = 500;

/** A running watch; `close()` ends it. */
export interface CertificateWatch {
  /** Reads the files now; resolves with whether a new certificate is served. */
  reload(): Promise<boolean>;
  close(): void;
}

/** Watches `certFile` and `keyFile` and serves what they hold when it changes. */
export function watchCertificateFiles(
  served: ServedCertificate,
  certFile: string,
  keyFile: string,
  options: { signal?: boolean } = {},
): CertificateWatch {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const reload = async (): Promise<boolean> => {
    try {
      const pem = await readCertificateFiles(certFile, keyFile);
      if (pem.cert === served.cert && pem.key === served.key) return false;
      served.replace(pem);
      logger.info("Serving the new certificate from {file}", { file: certFile });
      return true;
    } catch (err) {
      logger.error("Keeping the old certificate: {error}", {
        error: (err as Error)?.message ?? String(err),
      });
      return false;
    }
  };
  const soon = () => {
    clearTimeout(timer);
    if (!closed) timer = setTimeout(reload, SETTLE_MS);
  };

  const paths = [...new Set([dirname(resolve(certFile)), dirname(resolve(keyFile))])];
  let watcher: Deno.FsWatcher | undefined;
  try {
    watcher = Deno.watchFs(paths, { recursive: false });
    (async () => {
      try {
        for await (const _event of watcher!) soon();
      } catch {
        // Closed.
      }
    })();
  } catch (err) {
    logger.warn("Cannot watch {paths} ({error}); send SIGHUP to reload the certificate", {
      paths: paths.join(", "),
      error: (err as Error)?.message ?? String(err),
    });
  }
  const onHangup = () => {
    logger.info("Received SIGHUP; reloading the certificate");
    soon();
  };
  if (options.signal !== false) Deno.addSignalListener("SIGHUP", onHangup);

  return {
    reload,
    close() {
      closed = true;
      clearTimeout(timer);
      watcher?.close();
      if (options.signal !== false) Deno.removeSignalListener("SIGHUP", onHangup);
    },
  };
}
