import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import {
  startDnsStub,
  type StubBehaviour,
  type Zone,
  zoneFromRecords,
} from "../../tests/support/dns_stub.ts";
import { loadConfig } from "../config.ts";
import { Resolver } from "../dns/resolver.ts";
import { createSelfSigned } from "../net/dev_cert.ts";
import { generateDkimKey } from "../security/dkim.ts";
import { addDomain } from "../store/accounts.ts";
import { openStore, type Store, storePath } from "../store/db.ts";
import { addDkimKey } from "../store/dkim_keys.ts";
import { checkDomain, type CheckResult, formatReport } from "./check.ts";
import { dkimRecordProblem, parseTagList } from "./check_auth.ts";
import { dnsblName, dnsblVerdict } from "../dns/dnsbl.ts";
import type { PeerCertificate } from "./check_tls.ts";
import { domainRecords } from "./domain_records.ts";

const HOST = "mail.example.test";
const IP = "192.0.2.25";
const PTR = "25.2.0.192.in-addr.arpa";
const LISTED = "25.2.0.192.bl.example.test";
const POLICY = `version: STSv1\r\nmode: testing\r\nmx: ${HOST}\r\nmax_age: 604800\r\n`;
const config = {
  ...loadConfig({ flags: { hostname: HOST }, env: {} }),
  check: { dnsbl: ["bl.example.test"] },
};

/** The zone `domainRecords` asks for, as the DNS stub serves it, plus a PTR. */
async function goodZone(store: Store): Promise<Zone> {
  const records = await domainRecords(store, config, "example.test", [IP]);
  return zoneFromRecords(records, { [PTR]: { PTR: [HOST] } });
}

interface Extra {
  policy?: string | Error;
  peer?: PeerCertificate | string;
  behaviours?: Record<string, StubBehaviour>;
  port25?: string | undefined | false;
}

let good: PeerCertificate;

/** Runs the checks against `zone` with a stubbed certificate, policy and port 25 probe. */
async function run(store: Store, zone: Zone, extra: Extra = {}): Promise<CheckResult[]> {
  await using dns = await startDnsStub(zone, { behaviours: extra.behaviours });
  const policy = extra.policy ?? POLICY;
  return await checkDomain({
    store,
    config,
    domain: "example.test",
    resolver: new Resolver({ servers: [dns], timeoutMs: 300, attempts: 1 }),
    ips: [IP],
    port25: extra.port25 !== false && "port25" in extra,
    fetchPolicy: () =>
      typeof policy === "string" ? Promise.resolve(policy) : Promise.reject(policy),
    certificate: () => Promise.resolve(extra.peer ?? good),
    probePort25: () => Promise.resolve(extra.port25 || undefined),
  });
}

const lineOf = (results: CheckResult[], check: string, status: string) =>
  results.find((r) => r.check === check && r.status === status);

Deno.test("checkDomain() finds a correct setup OK, and each broken record", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "postino-check-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.test");
    // An RSA record is longer than 255 octets: the stub serves it as several character-strings.
    addDkimKey(store, { domain: "example.test", selector: "r1", ...await generateDkimKey("rsa") });
    addDkimKey(store, {
      domain: "example.test",
      selector: "s1",
      ...await generateDkimKey("ed25519"),
    });
    const pem = await createSelfSigned(HOST);
    good = { cert: new X509Certificate(pem.cert), endpoint: "https 192.0.2.25:443", trusted: true };
    const zone = await goodZone(store);
    assert.ok((zone["r1._domainkey.example.test"].TXT![0] as string).length > 255);

    await t.step("a correct zone is all OK, in the order of the report", async () => {
      const results = await run(store, zone);
      assert.deepEqual(results.filter((r) => r.status !== "ok"), [], formatReport(results));
      const order = [...new Set(results.map((r) => r.check))];
      const expected = ["mx", "host", "ptr", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt", "srv"];
      assert.deepEqual(order, [...expected, "autoconfig", "dnsbl", "tls"]);
      assert.equal(results.filter((r) => r.check === "dkim").length, 2);
      assert.equal(results.filter((r) => r.check === "srv").length, 6);
    });

    const txt = (name: string, ...values: (string | string[])[]) => (z: Zone) => {
      z[name] = { ...z[name], TXT: values };
    };
    const dkimS1 = "s1._domainkey.example.test";
    const s1 = zone[dkimS1].TXT![0] as string;
    // deno-fmt-ignore
    const broken: [string, (z: Zone) => void, string, "warn" | "fail", RegExp][] = [
      ["no MX", (z) => delete z["example.test"].MX, "mx", "fail", /^example\.test has no MX record; publish: example\.test\. MX 10 mail\.example\.test\.$/],
      ["an MX elsewhere", (z) => z["example.test"].MX = [{ preference: 10, exchange: "mx.other.test" }], "mx", "fail", /points to mx\.other\.test, not mail/],
      ["a null MX", (z) => z["example.test"].MX = [{ preference: 0, exchange: "." }], "mx", "fail", /null MX/],
      ["the host elsewhere", (z) => z[HOST].A = ["198.51.100.9"], "host", "fail", /not to 192\.0\.2\.25/],
      ["no PTR", (z) => delete z[PTR], "ptr", "warn", /PTR of 192\.0\.2\.25: no such name; ask your VPS provider/],
      ["a PTR naming another host", (z) => z[PTR].PTR = ["vps123.provider.test"], "ptr", "warn", /named vps123/],
      ["no SPF", txt("example.test"), "spf", "fail", /has no SPF record; publish: example\.test\. TXT "v=spf1 mx -all"/],
      ["SPF fail", txt("example.test", "v=spf1 -all"), "spf", "fail", /gives fail for 192\.0\.2\.25.*"mx" or "ip4:192\.0\.2\.25"/],
      ["SPF softfail", txt("example.test", "v=spf1 ip4:198.51.100.0/24 ~all"), "spf", "fail", /gives softfail/],
      ["SPF neutral", txt("example.test", "v=spf1 ?all"), "spf", "fail", /gives neutral/],
      ["SPF permerror", txt("example.test", "v=spf1 include:nospf.example.test -all"), "spf", "fail", /broken SPF record/],
      ["two SPF records", txt("example.test", "v=spf1 mx -all", "v=spf1 -all"), "spf", "fail", /broken SPF record/],
      ["no DKIM record", (z) => delete z[dkimS1], "dkim", "fail", /TXT of s1\._domainkey\.example\.test: no such name; publish: s1\._domainkey/],
      ["another DKIM key", txt(dkimS1, s1.replace(/p=.{4}/, "p=AAAA")), "dkim", "fail", /another key than ours/],
      ["a DKIM key of another type", txt(dkimS1, s1.replace("k=ed25519", "k=rsa")), "dkim", "fail", /k=rsa, our key is ed25519/],
      ["a DKIM key without k=", txt(dkimS1, s1.replace("k=ed25519; ", "")), "dkim", "fail", /k=rsa, our key is ed25519/],
      ["a revoked DKIM key", txt(dkimS1, "v=DKIM1; k=ed25519; p="), "dkim", "fail", /revoked/],
      ["a DKIM tag twice", txt(dkimS1, `${s1}; k=rsa`), "dkim", "fail", /appears twice/],
      ["two DKIM records", txt(dkimS1, s1, "v=DKIM1; k=ed25519; p=AAAA"), "dkim", "fail", /2 TXT records; keep only ours/],
      ["no DMARC", (z) => delete z["_dmarc.example.test"], "dmarc", "fail", /no such name; publish: _dmarc\.example\.test\. TXT "v=DMARC1; p=quarantine/],
      ["DMARC without p=", txt("_dmarc.example.test", "v=DMARC1; rua=mailto:a@example.test"), "dmarc", "fail", /no valid p=/],
      ["DMARC that does not parse", txt("_dmarc.example.test", "v=DMARC1; p=reject; p=none"), "dmarc", "fail", /cannot be parsed \(tag p= appears twice\)/],
      ["two DMARC records", txt("_dmarc.example.test", "v=DMARC1; p=reject", "v=DMARC1; p=none"), "dmarc", "fail", /2 DMARC records/],
      ["DMARC p=none", txt("_dmarc.example.test", "v=DMARC1; p=none"), "dmarc", "warn", /p=none: forged mail still gets through; move to p=quarantine$/],
      ["DMARC p=none, strict", txt("_dmarc.example.test", "v=DMARC1; p=none; adkim=s; aspf=s"), "dmarc", "warn", /p=none.*strict alignment \(adkim=s, aspf=s\)/],
      ["DMARC pct=50", txt("_dmarc.example.test", "v=DMARC1; p=reject; pct=50"), "dmarc", "warn", /pct=50/],
      ["no MTA-STS record", (z) => delete z["_mta-sts.example.test"], "mta-sts", "warn", /TXT of _mta-sts\.example\.test: no such name/],
      ["an MTA-STS record without id", txt("_mta-sts.example.test", "v=STSv1;"), "mta-sts", "warn", /no valid id=/],
      ["no TLS-RPT", (z) => delete z["_smtp._tls.example.test"], "tls-rpt", "warn", /publish: _smtp\._tls\.example\.test\. TXT "v=TLSRPTv1/],
      ["TLS-RPT without rua=", txt("_smtp._tls.example.test", "v=TLSRPTv1"), "tls-rpt", "warn", /no rua=/],
      ["no submissions SRV", (z) => delete z["_submissions._tcp.example.test"], "srv", "warn", /SRV 0 1 465 mail\.example\.test\.$/],
      ["an IMAP SRV elsewhere", (z) => z["_imap._tcp.example.test"].SRV![0].target = "imap.other.test", "srv", "warn", /_imap\._tcp\.example\.test points to imap\.other\.test/],
      ["no autoconfig", (z) => delete z["autoconfig.example.test"], "autoconfig", "warn", /CNAME mail\.example\.test\.$/],
      ["autoconfig elsewhere", (z) => z["autoconfig.example.test"] = { A: ["198.51.100.7"] }, "autoconfig", "warn", /not to this server/],
      ["our address on the blocklist", (z) => z[LISTED] = { A: ["127.0.0.2"] }, "dnsbl", "fail", /192\.0\.2\.25 is listed on bl\.example\.test \(127\.0\.0\.2\)/],
      ["a blocklist refusing us", (z) => z[LISTED] = { A: ["127.255.255.254"] }, "dnsbl", "warn", /could not check bl\.example\.test: it refused/],
      ["a resolver rewriting NXDOMAIN", (z) => z[LISTED] = { A: ["198.51.100.80"] }, "dnsbl", "warn", /not a blocklist code/],
    ];
    for (const [name, breakIt, check, status, detail] of broken) {
      await t.step(`${name}: ${status.toUpperCase()} ${check}`, async () => {
        const copy = structuredClone(zone);
        breakIt(copy);
        const results = await run(store, copy);
        const line = lineOf(results, check, status);
        assert.ok(line, formatReport(results));
        assert.match(line.detail, detail);
        // Breaking one record leaves the others alone (SPF and reverse DNS share the host's A).
        const others = results.filter((r) => r.status !== "ok" && r !== line);
        assert.ok(
          others.every((r) => ["spf", "ptr", "autoconfig", "srv"].includes(r.check)),
          formatReport(results),
        );
      });
    }

    // deno-fmt-ignore
    const fine: [string, (z: Zone) => void, string][] = [
      ["a DKIM record in two character-strings, p= folded", txt(dkimS1, [s1.slice(0, 20), s1.slice(20).replace(/(p=.{10})/, "$1 \t")]), "dkim"],
      ["a DKIM record without v=", txt(dkimS1, s1.replace("v=DKIM1; ", "")), "dkim"],
      ["DMARC with upper-case tags", txt("_dmarc.example.test", "V=DMARC1; P=reject;"), "dmarc"],
      ["an MX among others", (z) => z["example.test"].MX!.push({ preference: 20, exchange: "backup.other.test" }), "mx"],
      ["a null SRV for POP3", (z) => z["_pop3._tcp.example.test"].SRV = [{ priority: 0, weight: 0, port: 0, target: "." }], "srv"],
    ];
    for (const [name, change, check] of fine) {
      await t.step(`${name}: OK ${check}`, async () => {
        const copy = structuredClone(zone);
        change(copy);
        const results = await run(store, copy);
        assert.deepEqual(results.filter((r) => r.status !== "ok"), [], formatReport(results));
      });
    }

    await t.step("a failing lookup is a line that says so, not an exception", async () => {
      const results = await run(store, zone, {
        behaviours: {
          "example.test": "servfail",
          "_dmarc.example.test": "drop",
          [LISTED]: "refused",
        },
      });
      const detail = (check: string, status: string) => lineOf(results, check, status)?.detail;
      assert.match(detail("mx", "fail")!, /could not look up the MX of example\.test: .*SERVFAIL/);
      assert.match(detail("spf", "fail")!, /could not be evaluated/);
      assert.match(
        detail("dmarc", "fail")!,
        /could not look up DMARC record _dmarc\.example\.test: No reply .* within 300 ms/,
      );
      assert.match(detail("dnsbl", "warn")!, /could not check bl\.example\.test about/);
    });

    await t.step("the MTA-STS policy, the certificate and port 25", async () => {
      // deno-fmt-ignore
      const cases: [Extra, string, "ok" | "warn" | "fail", RegExp][] = [
        [{ policy: POLICY.replace(HOST, "mx.other.test") }, "mta-sts", "warn", /names mx mx\.other\.test, not mail/],
        [{ policy: POLICY.replace(HOST, "*.example.test") }, "mta-sts", "ok", /mode testing/],
        [{ policy: POLICY.replace(HOST, "*.test") }, "mta-sts", "warn", /not mail/],
        [{ policy: POLICY.replace("testing", "none") }, "mta-sts", "warn", /withdraws/],
        [{ policy: new Error("mta-sts.example.test does not resolve") }, "mta-sts", "warn", /cannot be fetched: mta-sts\.example\.test does not resolve/],
        [{ peer: "no TLS listener answered (https 192.0.2.25:443: ECONNREFUSED)" }, "tls", "warn", /no TLS listener answered/],
        [{ port25: undefined }, "port25", "ok", /work/],
        [{ port25: "cannot connect to gmail-smtp-in.l.google.com on port 25" }, "port25", "warn", /--relay/],
      ];
      for (const [extra, check, status, detail] of cases) {
        const results = await run(store, zone, extra);
        assert.match(lineOf(results, check, status)?.detail ?? formatReport(results), detail);
      }
      const other = new X509Certificate((await createSelfSigned("www.example.test")).cert);
      const wrong = await run(store, zone, { peer: { ...good, cert: other } });
      assert.match(lineOf(wrong, "tls", "fail")!.detail, /not mail\.example\.test/);
      const untrusted = await run(store, zone, {
        peer: { ...good, trusted: false, problem: "SELF_SIGNED" },
      });
      assert.match(lineOf(untrusted, "tls", "fail")!.detail, /not trusted \(SELF_SIGNED\)/);
      const skipped = await run(store, zone, { port25: false });
      assert.ok(!skipped.some((r) => r.check === "port25"), "without port25 the line is left out");
    });

    await t.step("a check that throws becomes a line of its severity", async () => {
      const closed = openStore(storePath(await Deno.makeTempDir({ dir, prefix: "closed-" })));
      closed.close();
      const results = await run(closed, zone);
      assert.match(lineOf(results, "dkim", "fail")!.detail, /^could not check: /);
      assert.ok(lineOf(results, "mx", "ok"));
    });
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseTagList() reads tag=value lists as RFC 6376 §3.2 says", () => {
  // deno-fmt-ignore
  const cases: [string, boolean, [string, string][] | RegExp][] = [
    ["v=DKIM1; k=rsa; p=AB CD ; t=y", false, [["v", "DKIM1"], ["k", "rsa"], ["p", "AB CD"], ["t", "y"]]],
    [" v = DKIM1 ;p=x;", false, [["v", "DKIM1"], ["p", "x"]]],
    ["K=rsa; k=ed25519", false, [["K", "rsa"], ["k", "ed25519"]]],
    ["K=rsa; k=ed25519", true, /appears twice/],
    ["p=a; p=b", false, /tag p= appears twice/],
    ["v=DKIM1; garbage", false, /has no "="/],
    ["1x=2", false, /bad tag name/],
    ["p=caf\u00e9", false, /not allowed/],
    ["", false, []],
  ];
  for (const [text, ignoreCase, expected] of cases) {
    const parsed = parseTagList(text, { ignoreCase });
    if (expected instanceof RegExp) assert.match(String(parsed), expected, text);
    else assert.deepEqual([...parsed as Map<string, string>], expected, text);
  }
});

Deno.test("dkimRecordProblem() compares a key record with our key", () => {
  const key = { algorithm: "ed25519", publicKey: "MCowBQYDK2VwAyEAabc=" };
  // deno-fmt-ignore
  const cases: [string, RegExp | undefined][] = [
    ["v=DKIM1; k=ed25519; p=MCowBQYDK2VwAyEAabc=", undefined],
    ["k=ed25519; p=MCowBQYDK2Vw AyEAabc=; s=email:*", undefined],
    ["k=ed25519; p=MCowBQYDK2VwAyEAabc; ", /another key/],
    ["p=MCowBQYDK2VwAyEAabc=", /k=rsa/],
    ["k=ed25519; v=DKIM1; p=MCowBQYDK2VwAyEAabc=", /v= must come first/],
    ["v=DKIM2; k=ed25519; p=MCowBQYDK2VwAyEAabc=", /be DKIM1/],
    ["k=ed25519; s=tlsrpt; p=MCowBQYDK2VwAyEAabc=", /not for email/],
    ["v=spf1 -all", /be DKIM1 \(found v=spf1 -all\)/],
    ["hello world", /not a DKIM key record \("hello world" has no "="\)/],
    ["k=ed25519; P=MCowBQYDK2VwAyEAabc=", /no p=/],
  ];
  for (const [text, problem] of cases) {
    const found = dkimRecordProblem(text, key);
    if (problem) assert.match(found ?? "(none)", problem, text);
    else assert.equal(found, undefined, text);
  }
});

Deno.test("dnsblName() and dnsblVerdict() ask and read blocklists as RFC 5782 says", () => {
  assert.equal(dnsblName("192.0.2.25", "zen.spamhaus.org"), "25.2.0.192.zen.spamhaus.org");
  assert.equal(
    dnsblName("2001:db8::1", "bl.test"),
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test",
  );
  assert.equal(dnsblName("not an ip", "bl.test"), undefined);
  const cases: [Parameters<typeof dnsblVerdict>[0], string][] = [
    [{ kind: "nxdomain" }, "clear"],
    [{ kind: "nodata" }, "clear"],
    [{ kind: "ok", records: ["127.0.0.2"] }, "listed"],
    [{ kind: "ok", records: ["127.0.0.4", "127.255.255.254"] }, "listed"],
    [{ kind: "ok", records: ["127.255.255.252"] }, "refused"],
    [{ kind: "ok", records: ["203.0.113.9"] }, "unknown"],
    [{ kind: "error", reason: "timeout", detail: "no reply" }, "unknown"],
  ];
  for (const [answer, verdict] of cases) {
    assert.equal(dnsblVerdict(answer).verdict, verdict, JSON.stringify(answer));
  }
});
