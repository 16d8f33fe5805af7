/**
 * `postino check` as a user runs it after `postino setup`: the records setup
 * printed, loaded into a DNS stub, pass every FAIL-level check (exit 0);
 * breaking the MX or listing our address on a blocklist is a FAIL (exit 1);
 * --json gives the same report; and the API answers the same checks.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startDnsStub, type Zone } from "./support/dns_stub.ts";
import { runCli, startPostino } from "./support/server.ts";

/** The zone `postino dns records --json` asks for, plus a PTR for 127.0.0.1. */
function zoneOf(records: { name: string; type: string; value: string }[]): Zone {
  const zone: Zone = { "1.0.0.127.in-addr.arpa": { PTR: ["mail.example.test"] } };
  for (const r of records) {
    const e = zone[r.name] ??= {};
    const [a, b, c, d] = r.value.split(" ");
    if (r.type === "A") (e.A ??= []).push(r.value);
    if (r.type === "AAAA") (e.AAAA ??= []).push(r.value);
    if (r.type === "TXT") (e.TXT ??= []).push(r.value);
    if (r.type === "MX") (e.MX ??= []).push({ preference: Number(a), exchange: b });
    if (r.type === "CNAME") e.CNAME = r.value;
    if (r.type === "SRV") {
      (e.SRV ??= []).push({ priority: Number(a), weight: Number(b), port: Number(c), target: d });
    }
  }
  return zone;
}

/** The report's lines as [status, check]. */
function lines(stdout: string): [string, string][] {
  return stdout.trim().split("\n").map((l) => {
    const m = /^(OK|WARN|FAIL) +(\S+) +\S/.exec(l);
    assert.ok(m, `a report line: ${l}`);
    return [m[1], m[2]];
  });
}

Deno.test("postino check after postino setup: OK records, then a broken one", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "postino-check-cli-" });
  try {
    const data = join(dir, "data");
    const setup = await runCli(
      ["setup", "example.test", "--hostname", "mail.example.test", "--ip", "127.0.0.1"],
      { dataDir: data },
    );
    assert.equal(setup.code, 0, setup.stderr);
    const printed = await runCli(["dns", "records", "example.test", "--json"], { dataDir: data });
    const zone = zoneOf(JSON.parse(printed.stdout));
    const env = { POSTINO_CHECK_DNSBL: "bl.example.test" };

    await t.step("the records setup printed pass: exit 0 and no FAIL line", async () => {
      await using dns = await startDnsStub(zone);
      const r = await runCli(
        ["check", "example.test", "--dns", dns.address, "--no-port25"],
        { dataDir: data, env },
      );
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const report = lines(r.stdout);
      for (
        const check of [
          "mx",
          "host",
          "ptr",
          "spf",
          "dkim",
          "dmarc",
          "tls-rpt",
          "srv",
          "autoconfig",
          "dnsbl",
        ]
      ) {
        assert.ok(
          report.some(([s, c]) => c === check && s === "OK"),
          `OK ${check} in\n${r.stdout}`,
        );
      }
      assert.ok(!report.some(([s]) => s === "FAIL"), r.stdout);
      // Nothing serves HTTPS or TLS here, so those two say so as warnings.
      assert.ok(report.some(([s, c]) => c === "tls" && s === "WARN"), r.stdout);
      assert.ok(!report.some(([, c]) => c === "port25"), "--no-port25 skips it");
    });

    await t.step("a broken MX and a listed address are FAILs: exit 1", async () => {
      const broken = structuredClone(zone);
      broken["example.test"].MX = [{ preference: 10, exchange: "mx.elsewhere.test" }];
      broken["1.0.0.127.bl.example.test"] = { A: ["127.0.0.4"] };
      await using dns = await startDnsStub(broken);
      const r = await runCli(
        ["check", "example.test", "--dns", dns.address, "--no-port25"],
        { dataDir: data, env },
      );
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^FAIL +mx +example\.test MX points to mx\.elsewhere\.test/m);
      assert.match(r.stdout, /^FAIL +dnsbl +127\.0\.0\.1 is listed on bl\.example\.test/m);
      const json = await runCli(
        ["check", "example.test", "--dns", dns.address, "--no-port25", "--json"],
        { dataDir: data, env },
      );
      assert.equal(json.code, 1);
      const report = JSON.parse(json.stdout) as { check: string; status: string; detail: string }[];
      assert.deepEqual(
        report.map((x) => [x.status.toUpperCase(), x.check]),
        lines(r.stdout),
        "the same checks",
      );
    });

    await t.step("the API gives the same report", async () => {
      await using dns = await startDnsStub(zone);
      await using server = await startPostino({
        dataDir: data,
        env,
        args: ["--http", "127.0.0.1:0", "--dns", dns.address],
      });
      const password = /^Password: (\S+)/m.exec(setup.stdout)![1];
      const r = await fetch(
        `http://127.0.0.1:${server.addresses.http.port}/api/v1/domains/example.test/check`,
        { headers: { Authorization: `Basic ${btoa(`postmaster@example.test:${password}`)}` } },
      );
      assert.equal(r.status, 200);
      const report = await r.json() as { check: string; status: string }[];
      assert.ok(report.some((x) => x.check === "mx" && x.status === "ok"));
      assert.ok(!report.some((x) => x.status === "fail"), JSON.stringify(report));
    });

    await t.step("usage and unknown domains", async () => {
      const usage = await runCli(["check", "example.test", "--dns", "nonsense"], { dataDir: data });
      assert.equal(usage.code, 2);
      const unknown = await runCli(["check", "other.test", "--dns", "127.0.0.1:1"], {
        dataDir: data,
      });
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /other\.test is not a local domain/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
