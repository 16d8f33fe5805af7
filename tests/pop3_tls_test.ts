/**
 * POP3 over TLS end to end: STLS (RFC 2595) with Python's poplib and with a
 * raw client that checks the certificate and the discarding of commands
 * pipelined after STLS, and implicit TLS on the POP3S listener (RFC 8314).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  assertAllOk,
  assertDelivered,
  dataOf,
  deliver,
  login,
  poplib,
  RawPop3,
  simple,
  startPop3Server,
  USERS,
} from "./support/pop3_fixture.ts";

Deno.test("POP3 over STLS and POP3S with poplib and a raw client", async (t) => {
  await using pop = await startPop3Server();
  const messages = [simple(1), simple(2)];
  await deliver(pop.smtp, messages);
  const caCert = await Deno.readTextFile(join(pop.server.dataDir, "dev-cert.pem"));

  await t.step("poplib stls(): STLS offered before TLS only, then a normal session", async () => {
    const r = await poplib([
      { op: "connect", port: pop.pop3, tls: "plain" }, // 0
      { op: "capa" }, // 1
      { op: "stls" }, // 2
      { op: "capa" }, // 3
      { op: "short", arg: "STLS" }, // 4: not twice
      { op: "user", arg: USERS.alice.address }, // 5
      { op: "pass", arg: USERS.alice.password }, // 6
      { op: "retr", arg: 2 }, // 7
      { op: "quit" }, // 8
    ]);
    assertAllOk([...r.slice(0, 4), ...r.slice(5)]);
    assert.ok("STLS" in r[1].capa!, "STLS before TLS");
    assert.match(r[2].resp!, /^\+OK/);
    assert.ok(!("STLS" in r[3].capa!), "no STLS once TLS is active");
    assert.ok("USER" in r[3].capa!, "USER over TLS");
    assert.deepEqual(r[3].capa!.SASL, ["PLAIN"]);
    assert.equal(r[4].ok, false);
    assert.match(r[4].error ?? "", /^-ERR/);
    assertDelivered(dataOf(r[7]), messages[1]);
  });

  await t.step("poplib POP3_SSL on the POP3S listener with AUTH PLAIN", async () => {
    const r = await poplib([
      { op: "connect", port: pop.pop3s, tls: "ssl" },
      { op: "capa" },
      { op: "short", arg: "STLS" },
      { op: "auth", user: USERS.alice.address, password: USERS.alice.password, initial: false },
      { op: "list" },
      { op: "retr", arg: 1 },
      { op: "quit" },
    ]);
    assertAllOk([...r.slice(0, 2), ...r.slice(3)]);
    assert.match(r[0].resp!, /^\+OK/);
    assert.ok(!("STLS" in r[1].capa!), "no STLS on implicit TLS");
    assert.ok("USER" in r[1].capa!);
    assert.deepEqual(r[1].capa!.SASL, ["PLAIN"]);
    assert.match(r[2].error ?? "", /^-ERR/);
    assert.equal(r[4].lines?.length, 2);
    assertDelivered(dataOf(r[5]), messages[0]);
  });

  await t.step("a command pipelined after STLS is discarded, not run under TLS", async () => {
    const { client, greeting } = await RawPop3.connect(pop.pop3);
    using _ = client;
    assert.match(greeting, /^\+OK/);
    await client.send(`STLS\r\nUSER ${USERS.alice.address}\r\n`);
    assert.match(await client.line(), /^\+OK/);
    await client.startTls(caCert); // verifies the development certificate for "localhost"
    // Had the injected USER been kept, PASS would now be accepted.
    await client.send(`PASS ${USERS.alice.password}\r\n`);
    assert.match(await client.line(), /^-ERR/, "PASS without a USER under TLS");
    await client.send("CAPA\r\nQUIT\r\n");
    assert.match(await client.line(), /^\+OK/);
    const capa = new TextDecoder().decode(await client.multiline());
    assert.doesNotMatch(capa, /^STLS\r$/m);
    assert.match(await client.line(), /^\+OK/);
    assert.equal(await client.rest(), "", "nothing after the QUIT reply");
  });

  await t.step(
    "garbage instead of a TLS handshake after STLS: dropped, server unharmed",
    async () => {
      const { client } = await RawPop3.connect(pop.pop3);
      using _ = client;
      await client.send("STLS\r\n");
      assert.match(await client.line(), /^\+OK/);
      await client.send("this is not a TLS ClientHello\r\n\r\n");
      const rest = await client.rest().catch(() => "");
      assert.doesNotMatch(rest, /^\+OK/m, "no POP3 reply over the failed handshake");
      const r = await poplib([...login(pop.pop3), { op: "stat" }, { op: "quit" }]);
      assertAllOk(r);
      assert.equal(r[3].count, 2);
      assert.ok(pop.server.running);
      const errors = pop.server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
      assert.deepEqual(errors.map((e) => e.message), [], "no error-level logs");
    },
  );
});
