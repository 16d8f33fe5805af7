/**
 * `postino check` as a user runs it: a domain made with `domain add` and
 * `dkim keygen`, the records `dns records` prints loaded into a DNS stub, and
 * a real `postino serve` whose HTTPS listener serves a certificate from a
 * test CA (trusted by the check through DENO_CERT). Every check is then OK
 * but MTA-STS, which fetches the policy from mta-sts.example.test port 443,
 * where nothing of ours listens in a test (WARN; it can never FAIL). Breaking
 * the MX or listing our address is a FAIL (exit 1); --json gives the same
 * report; the API answers the same checks.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDnsStub, type Zone, zoneFromRecords } from "./support/dns_stub.ts";
import { EC_KEY, openssl } from "./support/openssl.ts";
import { runCli, startPostino } from "./support/server.ts";

const HOST = "mail.example.test";

/** The zone `postino dns records --json` asks for, plus a PTR for 127.0.0.1. */
function zoneOf(records: { name: string; type: string; value: string }[]): Zone {
  return zoneFromRecords(records, { "1.0.0.127.in-addr.arpa": { PTR: [HOST] } });
}

/** A CA and a certificate it signs for HOST, as files in `dir`. */
// deno-fmt-ignore
async function certificates(dir: string) {
  const [ca, caKey, cert, key, csr, ext] = ["ca.pem", "ca.key", "cert.pem", "key.pem", "csr", "ext"]
    .map((f) => join(dir, f));
  await openssl(undefined, "req", "-x509", ...EC_KEY, "-keyout", caKey, "-out", ca, "-days", "30", "-subj", "/CN=Check test CA");
  await openssl(undefined, "req", ...EC_KEY, "-keyout", key, "-out", csr, "-subj", `/CN=${HOST}`);
  await Deno.writeTextFile(ext, `subjectAltName=DNS:${HOST}\n`);
  await openssl(undefined, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "30", "-extfile", ext);
  return { ca, cert, key };
}

/** The report's lines as [status, check]. */
function lines(stdout: string): [string, string][] {
  return stdout.trim().split("\n").map((l) => {
    const m = /^(OK|WARN|FAIL) +(\S+) +\S/.exec(l);
    assert.ok(m, `a report line: ${l}`);
    return [m[1], m[2]];
  });
}

Deno.test("postino check: OK for the published records, FAIL for a broken one", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "postino-check-cli-" });
  try {
    const data = join(dir, "data");
    const env = { POSTINO_HOSTNAME: HOST, POSTINO_CHECK_DNSBL: "bl.example.test" };
    for (const args of [["domain", "add", "example.test"], ["dkim", "keygen", "example.test"]]) {
      const r = await runCli(args, { dataDir: data, env });
      assert.equal(r.code, 0, r.stderr);
    }
    const user = await runCli(["user", "add", "postmaster@example.test", "--password-stdin"], {
      dataDir: data,
      env,
      stdin: "check-test-password\n",
    });
    assert.equal(user.code, 0, user.stderr);
    const printed = await runCli(
      ["dns", "records", "example.test", "--json", "--ip", "127.0.0.1"],
      {
        dataDir: data,
        env,
      },
    );
    assert.equal(printed.code, 0, printed.stderr);
    const zone = zoneOf(JSON.parse(printed.stdout));
    const tlsFiles = await certificates(dir);

    await using dns = await startDnsStub(zone);
    await using server = await startPostino({
      dataDir: data,
      env,
      args: [
        ...["--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--dns", dns.address],
        ...["--tls-cert", tlsFiles.cert, "--tls-key", tlsFiles.key],
      ],
    });
    const https = server.addresses.https.port;
    // The check looks at the configured https listener, and trusts the test CA.
    const checkEnv = { ...env, POSTINO_HTTPS: `127.0.0.1:${https}`, DENO_CERT: tlsFiles.ca };
    const check = (...more: string[]) =>
      runCli(
        [
          "check",
          "example.test",
          "--ip",
          "127.0.0.1",
          "--dns",
          dns.address,
          "--no-port25",
          ...more,
        ],
        { dataDir: data, env: checkEnv },
      );

    // deno-fmt-ignore
    await t.step("the printed records pass: exit 0, every line OK but MTA-STS", async () => {
      const r = await check();
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const report = lines(r.stdout);
      const checks = [...new Set(report.map(([, c]) => c))];
      assert.deepEqual(checks, [
        ...["mx", "host", "ptr", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt", "srv"],
        ...["autoconfig", "dnsbl", "tls"],
      ]);
      for (const [status, name] of report) {
        if (name === "mta-sts") assert.notEqual(status, "FAIL", r.stdout);
        else assert.equal(status, "OK", r.stdout);
      }
      assert.match(r.stdout, /^WARN +mta-sts +.*mta-sts\.example\.test\/\.well-known/m);
      assert.match(r.stdout, new RegExp(`^OK +tls +https 127\\.0\\.0\\.1:${https}: the certificate names ${HOST}`, "m"));
      assert.equal(r.stderr, "");
    });

    // deno-fmt-ignore
    await t.step("a broken MX and a listed address are FAILs: exit 1", async () => {
      dns.set("example.test", { ...zone["example.test"], MX: [{ preference: 10, exchange: "mx.elsewhere.test" }] });
      dns.set("1.0.0.127.bl.example.test", { A: ["127.0.0.4"] });
      try {
        const r = await check();
        assert.equal(r.code, 1, r.stdout + r.stderr);
        assert.match(r.stdout, /^FAIL +mx +example\.test MX points to mx\.elsewhere\.test, not mail\.example\.test; publish: example\.test\. MX 10 mail\.example\.test\.$/m);
        assert.match(r.stdout, /^FAIL +dnsbl +127\.0\.0\.1 is listed on bl\.example\.test \(127\.0\.0\.4\)/m);
        const json = await check("--json");
        assert.equal(json.code, 1);
        const report = JSON.parse(json.stdout) as { check: string; status: string; detail: string }[];
        assert.ok(report.every((x) => ["ok", "warn", "fail"].includes(x.status) && x.detail));
        assert.deepEqual(report.map((x) => [x.status.toUpperCase(), x.check]), lines(r.stdout));
      } finally {
        dns.set("example.test", zone["example.test"]);
        dns.set("1.0.0.127.bl.example.test", undefined);
      }
    });

    await t.step("the API gives the same checks", async () => {
      const r = await fetch(
        `http://127.0.0.1:${server.addresses.http.port}/api/v1/domains/example.test/check`,
        {
          headers: {
            Authorization: `Basic ${btoa("postmaster@example.test:check-test-password")}`,
          },
        },
      );
      assert.equal(r.status, 200);
      const report = await r.json() as { check: string; status: string }[];
      assert.ok(report.some((x) => x.check === "mx" && x.status === "ok"));
      assert.ok(!report.some((x) => x.status === "fail"), JSON.stringify(report));
    });

    await t.step("usage errors exit 2, an unknown domain 1", async () => {
      for (
        const args of [["--dns", "nonsense"], ["--ip", "nonsense"], ["--bogus"], ["other.test"]]
      ) {
        const r = await runCli(["check", "example.test", ...args], { dataDir: data });
        assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      }
      const unknown = await runCli(["check", "other.test", "--dns", dns.address], {
        dataDir: data,
      });
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /other\.test is not a local domain/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
