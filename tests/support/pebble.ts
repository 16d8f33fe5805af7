/**
 * A local ACME CA for tests: Debian's pebble with pebble-challtestsrv as its
 * DNS (every name is 127.0.0.1), on loopback, as ../shared/recipes/ACME.md
 * shows, plus a certificate lifetime of our choosing for renewal tests.
 * Needs `apt-get install pebble openssl`.
 */
import { join } from "node:path";

/** A running pebble. */
export interface Pebble extends AsyncDisposable {
  directory: string;
  /** The CA of pebble's own HTTPS API (trust it with --acme-ca). */
  apiCaFile: string;
  apiCaPem: string;
  /** Pebble's issuing root, new at each start. */
  rootPem: string;
  stop(): Promise<void>;
}

/** Options of {@link startPebble}. */
export interface PebbleOptions {
  /** Where pebble connects to check http-01: the server's HTTP listener port. */
  httpPort: number;
  /** Lifetime of issued certificates. @default pebble's (about five years) */
  validitySeconds?: number;
  /** More environment for pebble (PEBBLE_VA_ALWAYS_VALID, PEBBLE_WFE_NONCEREJECT, ...). */
  env?: Record<string, string>;
}

/** A port nobody listens on now. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stderr: "piped" }).output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/** Starts pebble and its DNS; resolves once its directory answers. */
export async function startPebble(options: PebbleOptions): Promise<Pebble> {
  const dir = await Deno.makeTempDir({ prefix: "postino-pebble-" });
  const [api, mgmt, dns, dnsMgmt, tlsPort] = [
    freePort(),
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ];
  await openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    "api-ca.key",
    "-out",
    "api-ca.pem",
    "-days",
    "2",
    "-subj",
    "/CN=test ACME API CA",
  ); // deno-fmt-ignore
  await openssl(dir, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "api.key", "-out", "api.csr", "-subj", "/CN=localhost"); // deno-fmt-ignore
  await Deno.writeTextFile(
    join(dir, "api.ext"),
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    "api.csr",
    "-CA",
    "api-ca.pem",
    "-CAkey",
    "api-ca.key",
    "-CAcreateserial",
    "-out",
    "api.pem",
    "-days",
    "2",
    "-extfile",
    "api.ext",
  ); // deno-fmt-ignore
  await Deno.writeTextFile(
    join(dir, "pebble.json"),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${api}`,
        managementListenAddress: `127.0.0.1:${mgmt}`,
        certificate: join(dir, "api.pem"),
        privateKey: join(dir, "api.key"),
        httpPort: options.httpPort,
        tlsPort,
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }),
  );
  const quiet = { stdout: "null", stderr: "null" } as const;
  const dnsServer = new Deno.Command("pebble-challtestsrv", {
    args: [
      "-dns01",
      `127.0.0.1:${dns}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      `127.0.0.1:${dnsMgmt}`,
      "-defaultIPv4",
      "127.0.0.1",
      "-defaultIPv6",
      "",
    ], // deno-fmt-ignore
    ...quiet,
  }).spawn();
  const pebble = new Deno.Command("pebble", {
    args: ["-config", join(dir, "pebble.json"), "-dnsserver", `127.0.0.1:${dns}`, "-strict=false"],
    env: { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0", ...options.env },
    ...quiet,
  }).spawn();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const child of [pebble, dnsServer]) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Gone already.
      }
      await child.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const apiCaPem = await Deno.readTextFile(join(dir, "api-ca.pem"));
    const client = Deno.createHttpClient({ caCerts: [apiCaPem] });
    try {
      const directory = `https://127.0.0.1:${api}/dir`;
      const deadline = Date.now() + 15_000;
      for (;;) {
        const ok = await fetch(directory, { client }).then(async (r) => {
          await r.body?.cancel();
          return r.ok;
        }).catch(() => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error("pebble did not start");
        await new Promise((r) => setTimeout(r, 100));
      }
      const root = await fetch(`https://127.0.0.1:${mgmt}/roots/0`, { client });
      const rootPem = await root.text();
      return {
        directory,
        apiCaFile: join(dir, "api-ca.pem"),
        apiCaPem,
        rootPem,
        stop,
        [Symbol.asyncDispose]: stop,
      };
    } finally {
      client.close();
    }
  } catch (err) {
    await stop();
    throw err;
  }
}
