/**
 * Certificate files replaced under a running `postino serve` (as certbot
 * does): new connections on every TLS listener get the new certificate, a
 * connection opened before keeps working, and a bad file keeps the old
 * certificate with an error in the log. Seen with `openssl s_client`.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { EC_KEY, openssl, servedCertificate } from "./support/openssl.ts";
import { startPostino } from "./support/server.ts";

/** Makes a self-signed end-entity certificate for localhost in `dir` as NAME.crt/NAME.key. */
async function makePair(dir: string, name: string): Promise<{ cert: string; key: string }> {
  // deno-fmt-ignore
  await openssl(dir, "req", "-x509", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "3", "-subj", `/CN=localhost/O=${name}`, "-addext", "subjectAltName=DNS:localhost", "-addext", "basicConstraints=critical,CA:FALSE");
  return {
    cert: await Deno.readTextFile(join(dir, `${name}.crt`)),
    key: await Deno.readTextFile(join(dir, `${name}.key`)),
  };
}

/** The SHA-256 fingerprint of the certificate a listener serves, as openssl s_client sees it. */
async function servedFingerprint(port: number, starttls?: string): Promise<string> {
  return (await servedCertificate(port, "localhost", starttls)).fingerprint256;
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/**
 * Polls `fn` until it gives `want`, for up to 10 s. A probe that finds no
 * certificate counts as "not yet": HTTPS rebinds its port for a new
 * certificate, and a probe may fall into those few milliseconds.
 */
async function eventually(fn: () => Promise<string>, want: string, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let got = "";
  while (Date.now() < deadline) {
    got = await fn().catch((err) => String(err));
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(got, want, what);
}

Deno.test("replaced certificate files reach every TLS listener without a restart", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "postino-tls-reload-" });
  try {
    const a = await makePair(dir, "a");
    const b = await makePair(dir, "b");
    const certFile = join(dir, "live.crt");
    const keyFile = join(dir, "live.key");
    await Deno.writeTextFile(certFile, a.cert);
    await Deno.writeTextFile(keyFile, a.key);
    await using server = await startPostino({
      args: [
        "--smtp",
        "127.0.0.1:0",
        "--imaps",
        "127.0.0.1:0",
        "--https",
        "127.0.0.1:0",
        "--tls-cert",
        certFile,
        "--tls-key",
        keyFile,
        "--log-format",
        "json",
      ],
    });
    const ports = {
      smtp: server.addresses.smtp.port,
      imaps: server.addresses.imaps.port,
      https: server.addresses.https.port,
    };
    const served = () =>
      Promise.all([
        servedFingerprint(ports.smtp, "smtp"),
        servedFingerprint(ports.imaps),
        servedFingerprint(ports.https),
      ]).then((all) => [...new Set(all)].join(" "));

    await t.step("at start every listener serves the first certificate", async () => {
      assert.equal(await served(), fingerprint(a.cert));
    });

    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: ports.imaps });
    const before = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [a.cert] });
    const reader = before.readable.getReader();
    const read = async () => new TextDecoder().decode((await reader.read()).value);
    assert.match(await read(), /^\* OK/);

    await t.step("new files are served to new connections", async () => {
      await Deno.writeTextFile(keyFile, b.key);
      await Deno.writeTextFile(certFile, b.cert);
      await eventually(served, fingerprint(b.cert), "every listener serves the new certificate");
      await server.waitForLog(/Serving the new certificate/);
    });

    await t.step("a connection opened before the change goes on", async () => {
      await before.write(new TextEncoder().encode("a1 NOOP\r\n"));
      assert.match(await read(), /^a1 OK/m);
      await before.write(new TextEncoder().encode("a2 LOGOUT\r\n"));
      reader.releaseLock();
      before.close();
    });

    await t.step("a bad file keeps the old certificate and logs why", async () => {
      await Deno.writeTextFile(certFile, "not a certificate\n");
      await server.waitForLog((e) =>
        e.level === "ERROR" &&
        /Keeping the old certificate/.test(e.message + JSON.stringify(e.properties))
      );
      assert.equal(await served(), fingerprint(b.cert));
      // A key that does not belong to the certificate is refused too.
      await Deno.writeTextFile(certFile, a.cert);
      await server.waitForLog((e) =>
        /does not belong to the key/.test(JSON.stringify(e.properties))
      );
      assert.equal(await served(), fingerprint(b.cert));
    });

    await t.step("SIGHUP reloads and the server keeps running", async () => {
      await Deno.writeTextFile(keyFile, a.key);
      Deno.kill(server.pid, "SIGHUP");
      await server.waitForLog(/Received SIGHUP/);
      await eventually(served, fingerprint(a.cert), "the pair is whole again");
      assert.ok(server.running);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
