/**
 * A local ACME CA for tests: Debian's pebble, with pebble-challtestsrv as its
 * DNS (every name is 127.0.0.1, no AAAA), on loopback. These are the steps of
 * the team recipe `start-pebble.sh` (../shared/recipes/ACME.md), done here so
 * that the tests need nothing outside the repository (CI runs on a fresh
 * clone), every port is one the system gave us, and what the script cannot
 * set (the certificate lifetime) can be. Needs `apt-get install pebble openssl`.
 *
 *     await using pebble = await startPebble({ httpPort });
 *     new AcmeClient({ directoryUrl: pebble.directory, caCerts: [pebble.caCertPem], ... });
 *
 * pebble validates http-01 by connecting to 127.0.0.1:httpPort with the
 * name being validated as Host. Bind that port before starting pebble when
 * you can (`Deno.serve({ port: 0 })`, then its port): a port from
 * {@link freePort} may be taken by anyone until it is bound.
 */
import { join } from "node:path";

/** A running pebble. */
export interface Pebble extends AsyncDisposable {
  /** The ACME directory URL. */
  directory: string;
  /** The CA of pebble's own HTTPS API: trust it for `directory` (`caCerts`, --acme-ca). */
  caCertPem: string;
  /** The same, as a file. */
  caCertFile: string;
  /** @deprecated Use {@link Pebble.caCertPem}. */
  apiCaPem: string;
  /** @deprecated Use {@link Pebble.caCertFile}. */
  apiCaFile: string;
  /** Pebble's issuing root, new at each start: issued chains verify against it. */
  rootPem: string;
  /** Freezes pebble (SIGSTOP): a CA that accepts connections and never answers. */
  pause(): void;
  /** Stops pebble and its DNS and removes their files; safe to call twice. */
  stop(): Promise<void>;
}

/** Options of {@link startPebble}. */
export interface PebbleOptions {
  /** Where pebble connects to check http-01: the port of the HTTP listener under test. */
  httpPort: number;
  /** Environment for pebble: PEBBLE_VA_ALWAYS_VALID=1, PEBBLE_WFE_NONCEREJECT=50, ... */
  env?: Record<string, string>;
  /** Lifetime of issued certificates. @default pebble's (about five years) */
  validitySeconds?: number;
}

/** A loopback TCP port nobody listens on now. */
export function freePort(): number {
  return freePorts(1)[0];
}

/** `count` different loopback TCP ports nobody listens on now, none of `except`. */
export function freePorts(count: number, except: number[] = []): number[] {
  const listeners: Deno.Listener[] = [];
  const ports: number[] = [];
  while (ports.length < count) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    listeners.push(listener);
    const { port } = listener.addr as Deno.NetAddr;
    if (!except.includes(port)) ports.push(port);
  }
  listeners.forEach((l) => l.close());
  return ports;
}

/** Whether pebble, pebble-challtestsrv and openssl are installed (to skip tests otherwise). */
export function hasPebble(): boolean {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  return ["pebble", "pebble-challtestsrv", "openssl"].every((tool) =>
    dirs.some((dir) => {
      try {
        return Deno.statSync(join(dir, tool)).isFile;
      } catch {
        return false;
      }
    })
  );
}

/** A process whose output is kept (the last 8 KB) for error messages. */
interface Running {
  child: Deno.ChildProcess;
  output: () => string;
  drained: Promise<unknown>;
}

function spawn(command: string, args: string[], env: Record<string, string> = {}): Running {
  const child = new Deno.Command(command, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .spawn();
  let text = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text = (text + chunk).slice(-8192);
    }
  };
  return {
    child,
    output: () => text,
    drained: Promise.all([drain(child.stdout), drain(child.stderr)]),
  };
}

async function stopProcess({ child, drained }: Running, paused: boolean): Promise<void> {
  try {
    if (paused) child.kill("SIGCONT");
    child.kill("SIGTERM");
  } catch {
    // Gone already.
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Gone meanwhile.
    }
  }, 5_000);
  await child.status;
  clearTimeout(timer);
  await drained;
}

/** `openssl` with the words of `command`, then `extra` as whole arguments, in `dir`. */
async function openssl(dir: string, command: string, ...extra: string[]): Promise<void> {
  const args = [...command.split(" "), ...extra];
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${command}: ${new TextDecoder().decode(out.stderr)}`);
}

/** The API's certificates, as start-pebble.sh makes them: a CA, and a localhost/127.0.0.1 leaf. */
async function makeApiCertificates(dir: string): Promise<void> {
  const ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
  await openssl(
    dir,
    `req -x509 ${ec} -keyout api-ca.key -out api-ca.pem -days 2 -subj`,
    "/CN=test ACME API CA",
  );
  await openssl(dir, `req ${ec} -keyout api.key -out api.csr -subj /CN=localhost`);
  await Deno.writeTextFile(
    join(dir, "api.ext"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(
    dir,
    "x509 -req -in api.csr -CA api-ca.pem -CAkey api-ca.key -CAcreateserial -out api.pem -days 2 -extfile api.ext",
  );
}

/** Starts pebble and its DNS; resolves once the directory answers. Tries new ports up to three times. */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const dir = await Deno.makeTempDir({ prefix: "postino-pebble-" });
  try {
    await makeApiCertificates(dir);
    const caCertFile = join(dir, "api-ca.pem");
    const caCertPem = await Deno.readTextFile(caCertFile);
    for (let attempt = 1;; attempt++) {
      try {
        return await launch(dir, caCertFile, caCertPem, options);
      } catch (err) {
        if (attempt === 3) throw err;
      }
    }
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}

async function launch(
  dir: string,
  caCertFile: string,
  caCertPem: string,
  options: PebbleOptions,
): Promise<Pebble> {
  // Not the http-01 port: the caller may bind it only after pebble runs.
  const [api, management, dns, dnsManagement, tlsPort] = freePorts(5, [options.httpPort]);
  await Deno.writeTextFile(
    join(dir, "pebble.json"),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${api}`,
        managementListenAddress: `127.0.0.1:${management}`,
        certificate: join(dir, "api.pem"),
        privateKey: join(dir, "api.key"),
        httpPort: options.httpPort,
        tlsPort, // tls-alpn-01, unused
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }),
  );
  const dnsServer = spawn("pebble-challtestsrv", [
    ...["-dns01", `127.0.0.1:${dns}`, "-http01", "", "-https01", "", "-tlsalpn01", ""],
    ...[
      "-management",
      `127.0.0.1:${dnsManagement}`,
      "-defaultIPv4",
      "127.0.0.1",
      "-defaultIPv6",
      "",
    ],
  ]);
  const pebble = spawn(
    "pebble",
    ["-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dns}`, "-strict=false"],
    { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", ...options.env },
  );
  let paused = false;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      await Promise.all([stopProcess(pebble, paused), stopProcess(dnsServer, false)]);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
  const client = Deno.createHttpClient({ caCerts: [caCertPem] });
  try {
    const directory = `https://127.0.0.1:${api}/dir`;
    let exited = false; // a port taken, say: the next attempt takes others
    for (const { child } of [pebble, dnsServer]) child.status.then(() => exited = true);
    const answers = (url: string, init: { client?: Deno.HttpClient } = {}) =>
      fetch(url, { ...init, signal: AbortSignal.timeout(2_000) })
        .then(async (r) => (await r.body?.cancel(), true), () => false);
    for (const deadline = Date.now() + 15_000;;) {
      const ready = await answers(directory, { client }) &&
        await answers(`http://127.0.0.1:${dnsManagement}/`);
      if (ready) break;
      if (exited || Date.now() > deadline) {
        throw new Error(`pebble did not start: ${pebble.output() || dnsServer.output()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const root = await fetch(`https://127.0.0.1:${management}/roots/0`, { client });
    const rootPem = await root.text();
    if (!root.ok) throw new Error(`pebble gave no root: ${root.status} ${rootPem}`);
    return {
      directory,
      caCertPem,
      caCertFile,
      apiCaPem: caCertPem,
      apiCaFile: caCertFile,
      rootPem,
      pause() {
        pebble.child.kill("SIGSTOP");
        paused = true;
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (err) {
    // The files stay for the next attempt; startPebble removes them at the end.
    await Promise.all([stopProcess(pebble, false), stopProcess(dnsServer, false)]);
    throw err;
  } finally {
    client.close();
  }
}
