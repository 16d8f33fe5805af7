/** `postino serve`: run the mail server until SIGINT or SIGTERM. */
import { configFlagOptions, loadConfig } from "../config.ts";
import { log, setupLogging } from "../log.ts";
import { certificates } from "./certificates.ts";
import { startServer } from "../server.ts";
import { withStoredIdentity } from "../setup/identity.ts";
import { ensureDomain } from "../store/accounts.ts";
import { openStore, storePath } from "../store/db.ts";
import { VERSION } from "../version.ts";
import { parseFlags } from "./usage.ts";

const HELP = `Usage: postino serve [options]

Runs the mail server until SIGINT or SIGTERM. With no listener option it starts
the standard listeners (or the development ones with --dev); with any listener
option it starts exactly those given. ADDR:PORT may be :PORT (all interfaces),
port 0 picks a free port, and off disables a listener.

Options:
  --config FILE            TOML config file (also $POSTINO_CONFIG)
  --data DIR               data directory (default $POSTINO_DATA, else ./data)
  --hostname FQDN          our host name (default: the system's)
  --domain D               a local domain, recorded in the store (repeatable)
  --smtp ADDR:PORT         MX listener (25; dev 2525)
  --submission ADDR:PORT   submission with STARTTLS (587; dev 2587)
  --submissions ADDR:PORT  submission over implicit TLS (465; dev 2465)
  --pop3 ADDR:PORT         POP3 with STLS (110; dev 2110)
  --pop3s ADDR:PORT        POP3 over implicit TLS (995; dev 2995)
  --imap ADDR:PORT         IMAP with STARTTLS (143; dev 2143)
  --imaps ADDR:PORT        IMAP over implicit TLS (993; dev 2993)
  --http ADDR:PORT         web admin, account page, JSON API, autoconfig, metrics (80;
                           dev 8025); from elsewhere than loopback, only autoconfig,
                           health and ACME when HTTPS runs (the rest redirects there)
  --https ADDR:PORT        the same over TLS (443; dev off)
  --tls-cert FILE          certificate chain (PEM, leaf first), checked at start and
                           reloaded when the file changes or on SIGHUP
  --tls-key FILE           its private key (PEM, not encrypted)
  --acme DIRECTORY         get and renew certificates automatically: letsencrypt,
                           letsencrypt-staging or an ACME directory URL (needs --http
                           on port 80 for the http-01 challenges)
  --acme-email ADDRESS     the ACME account's contact address
  --acme-ca FILE           extra CA certificates to trust for the ACME server's HTTPS
  --relay HOST:PORT        send all outbound mail through this smarthost
  --relay-user USER        AUTH to the relay as USER (only ever over TLS)
  --relay-password-file F  the relay password, read from file F
  --relay-tls MODE         opportunistic|starttls|implicit|none (default starttls with
                           --relay-user, else opportunistic)
  --dns IP:PORT            DNS server for MX/SPF/DKIM/DMARC lookups (default: the
                           servers in /etc/resolv.conf)
  --mx-port PORT           port used to reach MX hosts (tests)
  --max-message-size SIZE  largest message accepted, e.g. 25M (default 25M)
  --postmaster ADDRESS     where postmaster@ mail goes when no such user exists
  --dev                    development mode: domain localhost, loopback dev ports,
                           a self-signed certificate in the data directory
  --log-level LEVEL        debug|info|warning|error (default info)
  --log-format FORMAT      text|json (default text)
  -h, --help               show this help
`;

/** How long sessions may take to finish after SIGINT/SIGTERM. */
const SHUTDOWN_GRACE_MS = 10_000;

/** Runs `postino serve`; resolves with the exit status once the server has stopped. */
export async function serveCommand(args: string[]): Promise<number> {
  const options = { ...configFlagOptions(), help: { type: "boolean", short: "h" } } as const;
  const { values } = parseFlags(args, options, "serve", { min: 0, max: 0 });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const loaded = loadConfig({ flags: values });
  await setupLogging(loaded.log);
  const logger = log("serve");
  keepRunningOnStrayErrors();
  Deno.mkdirSync(loaded.dataDir, { recursive: true });
  const store = openStore(storePath(loaded.dataDir));
  if (store.upgradeBackup) {
    logger.warn(
      "Upgraded the store from schema {from} to {to}; the store as it was is kept in {backup}",
      {
        from: store.upgradeBackup.fromVersion,
        to: store.upgradeBackup.toVersion,
        backup: store.upgradeBackup.file,
      },
    );
  }
  try {
    // The host name `postino setup` recorded stands in when none is configured.
    const config = withStoredIdentity(loaded, store);
    for (const domain of config.domains) {
      if (ensureDomain(store, domain)) logger.info("Added local domain {domain}", { domain });
    }
    const certs = await certificates(config, store);
    const stopRequested = waitForStopSignal();
    const server = await startServer({
      config,
      store,
      tls: certs.tls,
      acmeChallenges: certs.challenges,
    });
    certs.start();
    logger.info("postino {version} ready as {hostname}, data in {data}", {
      version: VERSION,
      hostname: config.hostname,
      data: config.dataDir,
    });
    const signal = await stopRequested;
    logger.info("Received {signal}; stopping", { signal });
    await certs.stop();
    await server.close(SHUTDOWN_GRACE_MS);
  } finally {
    store.close();
  }
  logger.info("Stopped");
  return 0;
}

/**
 * An error thrown on some later tick by a library (Deno's node:tls has done
 * so for a connection whose handshake failed) would otherwise end the
 * process and every session with it. Such errors are logged and the server
 * goes on: every acknowledged message is already on disk, and the state that
 * matters lives in SQLite transactions.
 */
function keepRunningOnStrayErrors(): void {
  const logger = log("serve");
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    logger.error("Uncaught error, still running: {error}", {
      error: event.error?.stack ?? event.message,
    });
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.error("Unhandled rejection, still running: {error}", {
      error: event.reason?.stack ?? String(event.reason),
    });
  });
}

/** Resolves with the name of the first SIGINT or SIGTERM. */
function waitForStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    const signals = ["SIGINT", "SIGTERM"] as const;
    const handlers = signals.map((signal) => {
      const handler = () => {
        signals.forEach((s, i) => Deno.removeSignalListener(s, handlers[i]));
        resolve(signal);
      };
      Deno.addSignalListener(signal, handler);
      return handler;
    });
  });
}
