/**
 * `spam.dnsbl`: the MX listener asks the configured blocklists (RFC 5782)
 * about each client, here a loopback DNS stub listing 127.0.0.1 on
 * bl.test; a listed client's RCPT gets 554 5.7.1 naming the list (swaks),
 * and a client on no list is served. With `spam.dnsbl_action = "junk"` the
 * listed client's mail is taken and filed into Junk, saying why.
 */
import assert from "node:assert/strict";
import { startDnsStub } from "./support/dns_stub.ts";
import { run } from "./support/inbound_fixture.ts";
import { startPostino, withStore } from "./support/server.ts";

async function sendWithSwaks(port: number) {
  return await run("swaks", [
    "--server",
    `127.0.0.1:${port}`,
    "--helo",
    "client.test",
    "--from",
    "someone@remote.example",
    "--to",
    "alice@localhost",
    "--body",
    "hello",
  ]);
}

Deno.test("spam.dnsbl: a listed client is refused at RCPT naming the list; others are served", async () => {
  await using dns = await startDnsStub({
    // 127.0.0.1 reversed, on bl.test, with the usual "listed" answer (RFC 5782 §2.1).
    "1.0.0.127.bl.test": { A: ["127.0.0.2"] },
    // On refused.test the list will not answer (Spamhaus's 127.255.255.x): not a listing.
    "1.0.0.127.refused.test": { A: ["127.255.255.254"] },
  }, { negativeTtl: 60 });
  for (
    const [zones, listed] of [["bl.test,clean.test", true], [
      "clean.test,refused.test",
      false,
    ]] as const
  ) {
    await using server = await startPostino({
      args: ["--dev", "--hostname", "mx.test", "--smtp", "127.0.0.1:0", "--dns", dns.address],
      env: { POSTINO_SPAM_DNSBL: zones },
    });
    const added = await server.cli(["user", "add", "alice@localhost", "--password-stdin"], "pw\n");
    assert.equal(added.code, 0, added.stderr);
    const r = await sendWithSwaks(server.addresses.smtp.port);
    if (listed) {
      assert.notEqual(r.code, 0, "swaks reports the refusal");
      assert.match(
        r.stdout,
        /<\*\* 554 5\.7\.1 Service unavailable; client \[127\.0\.0\.1\] blocked using bl\.test\n/,
        r.stdout,
      );
      assert.ok(server.logs().some((l) => l.includes("listed on") && l.includes("bl.test")));
    } else {
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /<- {2}250 2\.0\.0 OK: queued as/);
    }
  }
  const asked = dns.queries.map((q) => `${q.name} ${q.type}`);
  for (
    const name of ["1.0.0.127.bl.test A", "1.0.0.127.clean.test A", "1.0.0.127.refused.test A"]
  ) {
    assert.ok(asked.includes(name), `asked ${name}: ${asked.join(", ")}`);
  }
});

Deno.test("spam.dnsbl_action junk: a listed client's mail is taken and filed into Junk", async () => {
  await using dns = await startDnsStub({ "1.0.0.127.bl.test": { A: ["127.0.0.2"] } });
  await using server = await startPostino({
    args: ["--dev", "--hostname", "mx.test", "--smtp", "127.0.0.1:0", "--dns", dns.address],
    env: { POSTINO_SPAM_DNSBL: "bl.test", POSTINO_SPAM_DNSBL_ACTION: "junk" },
  });
  const added = await server.cli(["user", "add", "alice@localhost", "--password-stdin"], "pw\n");
  assert.equal(added.code, 0, added.stderr);
  const r = await sendWithSwaks(server.addresses.smtp.port);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /<- {2}250 2\.0\.0 OK: queued as/);
  const stored = withStore(server, (store) =>
    store.all<{ name: string; body: Uint8Array }>(
      `SELECT b.name, m.body FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
       JOIN messages m ON m.id = e.message_id`,
    ));
  assert.equal(stored.length, 1);
  assert.equal(stored[0].name, "Junk");
  assert.match(
    new TextDecoder().decode(stored[0].body),
    /^X-Postino-Spam: yes; score=1\.000; reason="client listed on bl\.test"\r$/m,
  );
});
