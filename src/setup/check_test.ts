import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { startDnsStub, type Zone } from "../../tests/support/dns_stub.ts";
import { loadConfig } from "../config.ts";
import { Resolver } from "../dns/resolver.ts";
import { generateDkimKey } from "../security/dkim.ts";
import { addDomain } from "../store/accounts.ts";
import { openStore, type Store, storePath } from "../store/db.ts";
import { addDkimKey } from "../store/dkim_keys.ts";
import { checkDomain, type CheckResult, formatReport } from "./check.ts";
import { dnsblName, tagList } from "./check_dns.ts";
import { domainRecords } from "./domain_records.ts";

const HOST = "mail.example.test";
const IP = "192.0.2.25";

/** The zone `domainRecords` asks for, as the DNS stub serves it, plus a PTR. */
async function goodZone(store: Store): Promise<Zone> {
  const config = loadConfig({ flags: { hostname: HOST }, env: {} });
  const zone: Zone = {};
  for (const r of await domainRecords(store, config, "example.test", [IP])) {
    const e = zone[r.name] ??= {};
    const [a, b, c, d] = r.value.split(" ");
    if (r.type === "A") (e.A ??= []).push(r.value);
    if (r.type === "TXT") (e.TXT ??= []).push(r.value);
    if (r.type === "MX") (e.MX ??= []).push({ preference: Number(a), exchange: b });
    if (r.type === "CNAME") e.CNAME = r.value;
    if (r.type === "SRV") {
      (e.SRV ??= []).push({ priority: Number(a), weight: Number(b), port: Number(c), target: d });
    }
  }
  zone["25.2.0.192.in-addr.arpa"] = { PTR: [HOST] };
  return zone;
}

/** A certificate for HOST from openssl, valid for `days` (negative: already expired is not possible; use 1). */
async function certificate(name: string, days: number): Promise<X509Certificate> {
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      "/dev/null",
      "-days",
      String(days),
      "-subj",
      `/CN=${name}`,
      "-addext",
      `subjectAltName=DNS:${name}`,
    ], // deno-fmt-ignore
    stdout: "piped",
    stderr: "null",
  }).output();
  return new X509Certificate(new TextDecoder().decode(out.stdout));
}

const POLICY = `version: STSv1\r\nmode: testing\r\nmx: ${HOST}\r\nmax_age: 604800\r\n`;

/** Runs the checks against `zone` with a stubbed certificate and policy. */
async function run(
  store: Store,
  zone: Zone,
  extra: { policy?: string; cert?: X509Certificate | string; dnsbl?: string[] } = {},
): Promise<CheckResult[]> {
  await using dns = await startDnsStub(zone);
  const [host, port] = dns.address.split(":");
  const config = {
    ...loadConfig({ flags: { hostname: HOST }, env: {} }),
    check: { dnsbl: extra.dnsbl ?? ["bl.example.test"] },
  };
  const cert = extra.cert ?? Object.assign(await certificate(HOST, 90), {});
  return await checkDomain({
    store,
    config,
    domain: "example.test",
    resolver: new Resolver({ servers: [{ host, port: Number(port) }] }),
    ips: [IP],
    port25: false,
    fetchPolicy: () => Promise.resolve(extra.policy ?? POLICY),
    certificate: () => Promise.resolve(cert),
  });
}

function statusOf(results: CheckResult[], check: string): string[] {
  return results.filter((r) => r.check === check).map((r) => r.status);
}

Deno.test("checkDomain() finds a correct setup OK, and each broken record", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "postino-check-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.test");
    addDkimKey(store, {
      domain: "example.test",
      selector: "s1",
      ...await generateDkimKey("ed25519"),
    });
    const good = await goodZone(store);

    await t.step("a correct zone is all OK", async () => {
      const results = await run(store, good);
      const notOk = results.filter((r) => r.status !== "ok");
      assert.deepEqual(notOk, [], formatReport(results));
      for (
        const check of [
          "mx",
          "host",
          "ptr",
          "spf",
          "dkim",
          "dmarc",
          "mta-sts",
          "tls-rpt",
          "srv",
          "autoconfig",
          "dnsbl",
          "tls",
        ]
      ) {
        assert.ok(results.some((r) => r.check === check), check);
      }
    });

    const broken: [string, (z: Zone) => void, string, string, RegExp][] = [
      [
        "no MX",
        (z) => delete z["example.test"].MX,
        "mx",
        "fail",
        /no record.*MX 10 mail\.example\.test\./,
      ],
      [
        "an MX elsewhere",
        (z) => z["example.test"].MX = [{ preference: 10, exchange: "mx.other.test" }],
        "mx",
        "fail",
        /points to mx\.other\.test/,
      ],
      [
        "the host elsewhere",
        (z) => z[HOST].A = ["198.51.100.9"],
        "host",
        "fail",
        /not to 192\.0\.2\.25/,
      ],
      ["no PTR", (z) => delete z["25.2.0.192.in-addr.arpa"], "ptr", "warn", /PTR of 192\.0\.2\.25/],
      [
        "a PTR naming another host",
        (z) => z["25.2.0.192.in-addr.arpa"].PTR = ["vps123.provider.test"],
        "ptr",
        "warn",
        /named vps123/,
      ],
      ["no SPF", (z) => z["example.test"].TXT = [], "spf", "fail", /gives none/],
      [
        "SPF softfail",
        (z) => z["example.test"].TXT = ["v=spf1 ip4:198.51.100.0/24 ~all"],
        "spf",
        "fail",
        /gives softfail/,
      ],
      [
        "SPF neutral",
        (z) => z["example.test"].TXT = ["v=spf1 ?all"],
        "spf",
        "fail",
        /gives neutral/,
      ],
      [
        "no DKIM record",
        (z) => delete z["s1._domainkey.example.test"],
        "dkim",
        "fail",
        /postino dkim|publish: s1\._domainkey/,
      ],
      [
        "another DKIM key",
        (z) => z["s1._domainkey.example.test"].TXT = ["v=DKIM1; k=ed25519; p=AAAA"],
        "dkim",
        "fail",
        /another key/,
      ],
      ["no DMARC", (z) => delete z["_dmarc.example.test"], "dmarc", "fail", /p=quarantine/],
      [
        "DMARC p=none",
        (z) => z["_dmarc.example.test"].TXT = ["v=DMARC1; p=none"],
        "dmarc",
        "warn",
        /p=none/,
      ],
      [
        "no MTA-STS record",
        (z) => delete z["_mta-sts.example.test"],
        "mta-sts",
        "warn",
        /_mta-sts/,
      ],
      ["no TLS-RPT", (z) => delete z["_smtp._tls.example.test"], "tls-rpt", "warn", /TLSRPTv1/],
      [
        "no submissions SRV",
        (z) => delete z["_submissions._tcp.example.test"],
        "srv",
        "warn",
        /_submissions/,
      ],
      [
        "no autoconfig",
        (z) => delete z["autoconfig.example.test"],
        "autoconfig",
        "warn",
        /CNAME mail\.example\.test\./,
      ],
      [
        "our address on the blocklist",
        (z) => z["25.2.0.192.bl.example.test"] = { A: ["127.0.0.2"] },
        "dnsbl",
        "fail",
        /listed on bl\.example\.test \(127\.0\.0\.2\)/,
      ],
      [
        "a blocklist refusing us",
        (z) => z["25.2.0.192.bl.example.test"] = { A: ["127.255.255.254"] },
        "dnsbl",
        "warn",
        /refused/,
      ],
    ]; // deno-fmt-ignore
    for (const [name, breakIt, check, status, detail] of broken) {
      await t.step(`${name}: ${status.toUpperCase()} ${check}`, async () => {
        const zone = structuredClone(good);
        breakIt(zone);
        const results = await run(store, zone);
        assert.ok(statusOf(results, check).includes(status), formatReport(results));
        const line = results.find((r) => r.check === check && r.status === status)!;
        assert.match(line.detail, detail);
        const others = results.filter((r) => r.check !== check && r.status !== "ok");
        // Breaking one record leaves the others alone (SPF and the host share the A record).
        assert.ok(others.every((r) => ["spf", "ptr", "autoconfig"].includes(r.check)), formatReport(results));
      });
    }

    await t.step("a policy naming another MX, an expiring or wrong certificate", async () => {
      const other = await run(store, good, { policy: POLICY.replace(HOST, "mx.other.test") });
      assert.deepEqual(statusOf(other, "mta-sts"), ["warn"]);
      const soon = await run(store, good, { cert: await certificate(HOST, 5) });
      assert.deepEqual(statusOf(soon, "tls"), ["warn"]);
      const wrong = await run(store, good, { cert: await certificate("www.example.test", 90) });
      assert.deepEqual(statusOf(wrong, "tls"), ["fail"]);
      const none = await run(store, good, { cert: "nothing answered TLS on 192.0.2.25" });
      assert.deepEqual(statusOf(none, "tls"), ["warn"]);
    });
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tagList() and dnsblName() read records and build names as the RFCs say", () => {
  assert.deepEqual([...tagList("v=DKIM1; K=rsa;p=AB CD ; t=y")], [["v", "DKIM1"], ["k", "rsa"], [
    "p",
    "AB CD",
  ], ["t", "y"]]);
  assert.equal(dnsblName("192.0.2.25", "zen.spamhaus.org"), "25.2.0.192.zen.spamhaus.org");
  assert.equal(
    dnsblName("2001:db8::1", "bl.test"),
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test",
  );
  assert.equal(dnsblName("not an ip", "bl.test"), undefined);
});
