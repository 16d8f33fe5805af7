/**
 * `postino serve --acme` against a local ACME CA (pebble): the server starts
 * on a self-signed certificate, obtains one over http-01 on its HTTP
 * listener, and serves it on STARTTLS, IMAPS and HTTPS without a restart;
 * renews a short-lived certificate while an IMAP IDLE session stays open;
 * and keeps serving, retrying later, when the CA is gone.
 */
import assert from "node:assert/strict";
import type { X509Certificate } from "node:crypto";
import { startDnsStub } from "./support/dns_stub.ts";
import { servedCertificate } from "./support/openssl.ts";
import { freePort, startPebble } from "./support/pebble.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

/** The certificate a listener serves for our host name, as `openssl s_client` sees it. */
function served(port: number, starttls?: string): Promise<X509Certificate> {
  return servedCertificate(port, "mail.example.test", starttls);
}

/** The issuers seen on SMTP STARTTLS, IMAPS and HTTPS (deduplicated). */
async function issuers(server: RunningPostino): Promise<string[]> {
  const certs = await Promise.all([
    served(server.addresses.smtp.port, "smtp"),
    served(server.addresses.imaps.port),
    served(server.addresses.https.port),
  ]);
  return [...new Set(certs.map((c) => c.issuer))];
}

const ZONE = {
  "mail.example.test": { A: ["127.0.0.1"] },
  "mta-sts.example.test": { A: ["127.0.0.1"] },
  "autoconfig.example.test": { A: ["127.0.0.1"] },
};

function serveArgs(httpPort: number, directory: string, caFile: string, dns: string): string[] {
  return [
    "--hostname",
    "mail.example.test",
    "--domain",
    "example.test",
    "--acme",
    directory,
    "--acme-ca",
    caFile,
    "--acme-email",
    "postmaster@example.test",
    "--http",
    `127.0.0.1:${httpPort}`,
    "--https",
    "127.0.0.1:0",
    "--smtp",
    "127.0.0.1:0",
    "--imaps",
    "127.0.0.1:0",
    "--dns",
    dns,
    "--log-format",
    "json",
  ];
}

Deno.test("serve --acme gets, serves and renews a certificate without a restart", async (t) => {
  const httpPort = freePort();
  // Short-lived certificates, so renewal (at two thirds) comes within the test.
  await using pebble = await startPebble({ httpPort, validitySeconds: 24 });
  await using dns = await startDnsStub(ZONE);
  await using server = await startPostino({
    args: serveArgs(httpPort, pebble.directory, pebble.apiCaFile, dns.address),
  });

  let first: X509Certificate;
  await t.step("every TLS listener serves the pebble certificate once it arrives", async () => {
    await server.waitForLog(/Obtained a certificate/, 20_000);
    const seen = await issuers(server);
    assert.equal(seen.length, 1, `one certificate on every listener: ${seen.join(" | ")}`);
    assert.match(seen[0], /^CN=Pebble Intermediate CA/);
    first = await served(server.addresses.imaps.port);
    assert.equal(
      first.subjectAltName,
      "DNS:mail.example.test, DNS:mta-sts.example.test, DNS:autoconfig.example.test",
    );
  });

  await t.step("renewal replaces it while an IMAP IDLE session stays open", async () => {
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: server.addresses.imaps.port });
    const conn = await Deno.startTls(tcp, {
      hostname: "mail.example.test",
      caCerts: [pebble.rootPem], // the server sends the intermediate with its certificate
    });
    const reader = conn.readable.getReader();
    const write = (line: string) => conn.write(new TextEncoder().encode(`${line}\r\n`));
    let buffer = "";
    const until = async (pattern: RegExp) => {
      while (!pattern.test(buffer)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`closed; got ${buffer}`);
        buffer += new TextDecoder().decode(value);
      }
    };
    try {
      await until(/^\* OK/m);
      // IDLE needs a session: the stored first user is made through the CLI.
      const added = await server.cli(
        ["user", "add", "idler@example.test", "--password-stdin"],
        "pw-i\n",
      );
      assert.equal(added.code, 0, added.stderr);
      await write('a1 LOGIN idler@example.test "pw-i"');
      await until(/^a1 OK/m);
      await write("a2 SELECT INBOX");
      await until(/^a2 OK/m);
      await write("a3 IDLE");
      await until(/^\+ /m);
      const obtained = () =>
        server.entries().filter((x) => /Obtained a certificate/.test(x.message)).length;
      await server.waitForLog(() => obtained() >= 2, 30_000);
      const renewed = await served(server.addresses.imaps.port);
      assert.notEqual(renewed.serialNumber, first.serialNumber, "a new certificate");
      assert.equal(renewed.issuer, first.issuer);
      // The session opened on the old certificate is still there.
      await write("DONE");
      await until(/^a3 OK/m);
      await write("a4 LOGOUT");
      await until(/^a4 OK/m);
    } finally {
      reader.releaseLock();
      conn.close();
    }
  });
});

Deno.test("serve --acme keeps serving and retries when the CA is gone", async () => {
  const httpPort = freePort();
  const pebble = await startPebble({ httpPort });
  const directory = pebble.directory;
  const caFile = await Deno.makeTempFile({ suffix: ".pem" });
  await Deno.writeTextFile(caFile, pebble.apiCaPem);
  await pebble.stop();
  try {
    await using dns = await startDnsStub(ZONE);
    await using server = await startPostino({
      args: serveArgs(httpPort, directory, caFile, dns.address),
    });
    const failed = await server.waitForLog(/Could not obtain a certificate/, 20_000);
    assert.equal(failed.level, "ERROR");
    assert.equal(failed.properties.wait, 60, "the next try in a minute");
    assert.ok(
      server.entries().some((e) => /self-signed certificate until the ACME/.test(e.message)),
    );
    // Still serving, on the self-signed certificate.
    const cert = await served(server.addresses.smtp.port, "smtp");
    assert.match(cert.subject, /Postino development certificate|mail\.example\.test/);
    assert.ok(server.running);
  } finally {
    await Deno.remove(caFile);
  }
});
