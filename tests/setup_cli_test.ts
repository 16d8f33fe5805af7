/**
 * `postino setup` on an empty data directory, as a new user runs it: the
 * printed records parse, the admin can log in with the printed password,
 * mail from the domain is signed with the key whose record was printed, a
 * second run refuses, and `postino dns records` prints the same records.
 */
import assert from "node:assert/strict";
import { isIP } from "node:net";
import { join } from "node:path";
import { dkimVerify } from "./support/inbound_fixture.ts";
import { header, message, startRemote, submit } from "./support/outbound_fixture.ts";
import { EC_KEY, openssl } from "./support/openssl.ts";
import { runCli, startPostino } from "./support/server.ts";

/** One zone-file line as setup prints it. */
interface ZoneLine {
  name: string;
  type: string;
  /** TXT: the joined character-strings; else the data as written. */
  value: string;
}

/** Parses the zone lines of setup's output; fails on any line that is not one. */
function parseZone(text: string): ZoneLine[] {
  const records: ZoneLine[] = [];
  for (const line of text.split("\n")) {
    if (!/^[a-z0-9_.-]+\. \d+ IN /.test(line)) continue;
    const m = /^([a-z0-9_.-]+)\. (\d+) IN (A|AAAA|MX|TXT|CNAME|SRV) (.+)$/.exec(line);
    assert.ok(m, `a zone line: ${line}`);
    const [, name, , type, data] = m;
    let value = data;
    if (type === "TXT") {
      const strings = [...data.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((s) => s[1]);
      assert.equal(strings.map((s) => `"${s}"`).join(" "), data, `only quoted strings: ${line}`);
      for (const s of strings) assert.ok(new TextEncoder().encode(s).length <= 255, line);
      value = strings.join("");
    }
    if (type === "A") assert.equal(isIP(value), 4, line);
    if (type === "AAAA") assert.equal(isIP(value), 6, line);
    if (type === "MX") assert.match(value, /^\d+ [a-z0-9.-]+\.$/, line);
    if (type === "CNAME") assert.match(value, /^[a-z0-9.-]+\.$/, line);
    if (type === "SRV") assert.match(value, /^\d+ \d+ \d+ [a-z0-9.-]+\.$/, line);
    records.push({ name, type, value });
  }
  return records;
}

Deno.test("postino setup prepares a domain whose printed records and password work", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "postino-setup-test-" });
  try {
    const data = join(dir, "data");
    const setup = await runCli(
      ["setup", "example.test", "--hostname", "mail.example.test", "--ip", "203.0.113.7"],
      { dataDir: data },
    );
    assert.equal(setup.code, 0, setup.stderr);
    const out = setup.stdout;
    const password = /^Password: (\S+)/m.exec(out)?.[1];
    const zone = parseZone(out);
    const rsaSelector = /^DKIM keys: (\S+) \(RSA/m.exec(out)?.[1];

    await t.step("the output names the admin, a password and every record", () => {
      assert.match(out, /^Admin: postmaster@example\.test$/m);
      assert.ok(password && password.length >= 16, "a generated password");
      const kinds = zone.map((r) => `${r.type} ${r.name}`);
      for (
        const want of [
          "A mail.example.test",
          "MX example.test",
          "TXT example.test",
          `TXT ${rsaSelector}._domainkey.example.test`,
          "TXT _dmarc.example.test",
          "TXT _mta-sts.example.test",
          "CNAME mta-sts.example.test",
          "TXT _smtp._tls.example.test",
          "CNAME autoconfig.example.test",
          "SRV _submissions._tcp.example.test",
          "SRV _imaps._tcp.example.test",
          "SRV _pop3s._tcp.example.test",
          "SRV _submission._tcp.example.test",
          "SRV _imap._tcp.example.test",
          "SRV _pop3._tcp.example.test",
        ]
      ) assert.ok(kinds.includes(want), `${want} in\n${kinds.join("\n")}`);
      assert.equal(zone.filter((r) => /_domainkey/.test(r.name)).length, 2, "Ed25519 and RSA");
      assert.equal(zone.find((r) => r.type === "MX")?.value, "10 mail.example.test.");
      assert.match(
        zone.find((r) => r.name === "example.test" && r.type === "TXT")!.value,
        /^v=spf1 ip4:203\.0\.113\.7 mx -all$/,
      );
      assert.match(
        zone.find((r) => r.name === "_dmarc.example.test")!.value,
        /^v=DMARC1; p=quarantine; rua=mailto:postmaster@example\.test$/,
      );
      assert.match(out, /CAA 0 issue "letsencrypt\.org"/);
      assert.match(out, /203\.0\.113\.7 -> mail\.example\.test/, "the PTR to ask for");
      assert.match(out, /ExecStart=\/usr\/local\/bin\/postino serve/, "a systemd unit");
      assert.match(out, /postino check example\.test/, "the next command");
    });

    await t.step("dns records prints the same records, also as JSON", async () => {
      const again = await runCli(["dns", "records", "example.test"], { dataDir: data });
      assert.equal(again.code, 0, again.stderr);
      assert.deepEqual(parseZone(again.stdout), zone);
      const json = await runCli(["dns", "records", "example.test", "--json"], { dataDir: data });
      const listed = JSON.parse(json.stdout) as { name: string; type: string; value: string }[];
      assert.deepEqual(
        listed.map((r) => [r.name, r.type, r.value]),
        zone.map((r) => [r.name, r.type, r.value]),
      );
    });

    await t.step("a second run refuses with one line and changes nothing", async () => {
      const second = await runCli(
        ["setup", "example.test", "--hostname", "mail.example.test"],
        { dataDir: data },
      );
      assert.equal(second.code, 1);
      assert.equal(second.stdout, "");
      assert.equal(
        second.stderr.trim(),
        "postino: Domain example.test is set up already; see its records with: postino dns records example.test",
      );
      const users = await runCli(["user", "list"], { dataDir: data });
      assert.equal(users.stdout.trim().split("\n").length, 1);
    });

    await t.step("the admin logs in and mail it sends verifies with the printed key", async () => {
      await using remote = await startRemote();
      // deno-fmt-ignore
      await openssl(dir, "req", "-x509", ...EC_KEY, "-keyout", "k.pem", "-out", "c.pem", "-days", "2", "-subj", "/CN=mail.example.test");
      await using server = await startPostino({
        dataDir: data,
        args: [
          "--submission",
          "127.0.0.1:0",
          "--tls-cert",
          join(dir, "c.pem"),
          "--tls-key",
          join(dir, "k.pem"),
          ...remote.args,
        ],
      });
      // The host name setup recorded is the one the server uses.
      await server.waitForLog((e) => e.properties.hostname === "mail.example.test");
      const login = { user: "postmaster@example.test", password: password! };
      await submit(server, {
        to: ["friend@remote.test"],
        message: message(login.user, "signed by setup's key"),
        login,
      });
      await remote.sink.waitFor(() => remote.sink.delivered.length > 0, 20_000, "the message");
      const received = new TextDecoder().decode(remote.sink.delivered[0].data);
      const signature = header(received, "DKIM-Signature") ?? "";
      assert.match(signature, /(^|;)\s*d=example\.test\s*;/);
      assert.match(signature, new RegExp(`(^|;)\\s*s=${rsaSelector}\\s*;`));
      const name = `${rsaSelector}._domainkey.example.test`;
      const printed = zone.find((r) => r.name === name)!.value;
      assert.equal(await dkimVerify(received, name, printed), "pass");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("postino setup takes --admin, --password-stdin and writes --config when asked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-setup-test-" });
  try {
    const config = join(dir, "postino.toml");
    const r = await runCli(
      [
        "setup",
        "Example.ORG",
        "--hostname",
        "MX.Example.org",
        "--admin",
        "Boss@Example.org",
        "--password-stdin",
        "--config",
        config,
        "--ip",
        "2001:db8::25",
      ],
      { dataDir: join(dir, "data"), stdin: "a chosen secret\n" },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Admin: boss@example\.org$/m);
    assert.doesNotMatch(r.stdout, /^Password:/m, "a given password is not printed");
    const written = await Deno.readTextFile(config);
    assert.match(written, /^hostname = "mx\.example\.org"$/m);
    assert.match(written, /^acme = "letsencrypt"\s*(#.*)?$/m);
    const users = await runCli(["user", "list", "--config", config]);
    assert.match(users.stdout, /^boss@example\.org\t.*\tadmin$/m, "the config names the data dir");
    const missing = await runCli(["setup", "example.net"], { dataDir: join(dir, "data") });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /Missing --hostname/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
