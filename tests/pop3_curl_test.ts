/**
 * POP3 end to end with curl: `pop3://` with STLS required (`--ssl-reqd -k`),
 * plain POP3 on loopback, and `pop3s://`, listing and fetching messages
 * delivered over SMTP, byte for byte.
 */
import assert from "node:assert/strict";
import {
  assertAllOk,
  assertDelivered,
  deliver,
  DOTTED,
  EIGHT_BIT,
  login,
  poplib,
  run,
  simple,
  startPop3Server,
  USERS,
} from "./support/pop3_fixture.ts";

const decoder = new TextDecoder();

/** Runs curl, bounded, with a per-transfer limit too. */
function curl(args: string[]) {
  return run("curl", ["-sS", "--max-time", "20", ...args], { timeoutMs: 30_000 });
}

Deno.test("curl lists and fetches over pop3:// with STLS, plain loopback and pop3s://", async (t) => {
  await using pop = await startPop3Server();
  const messages = [DOTTED, EIGHT_BIT, simple(3)];
  await deliver(pop.smtp, messages);
  const alice = ["--user", `${USERS.alice.address}:${USERS.alice.password}`];
  const base = `pop3://127.0.0.1:${pop.pop3}`;
  const tls = ["--ssl-reqd", "-k"];

  const listing = await poplib([...login(pop.pop3), { op: "list" }, { op: "uidl" }, {
    op: "quit",
  }]);
  assertAllOk(listing);
  const list = listing[3].lines!.map((l) => `${l}\r\n`).join("");
  const uidl = listing[4].lines!.map((l) => `${l}\r\n`).join("");

  await t.step("--ssl-reqd: LIST", async () => {
    const r = await curl([...tls, ...alice, `${base}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decoder.decode(r.stdout), list);
  });

  await t.step("--ssl-reqd: RETR of every message, byte for byte", async () => {
    for (const [i, message] of messages.entries()) {
      const r = await curl([...tls, ...alice, `${base}/${i + 1}`]);
      assert.equal(r.code, 0, r.stderr);
      assertDelivered(r.stdout, message, `message ${i + 1}`);
    }
  });

  await t.step("--ssl-reqd with --sasl-ir, and bob's password with spaces", async () => {
    await deliver(pop.smtp, [simple(7)], USERS.bob.address);
    const r = await curl([
      ...tls,
      "--sasl-ir",
      "--user",
      `${USERS.bob.address}:${USERS.bob.password}`,
      `${base}/1`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assertDelivered(r.stdout, simple(7));
  });

  await t.step(
    "credentials in the URL, as in the issue's done-when command (the @ encoded)",
    async () => {
      const password = encodeURIComponent(USERS.alice.password);
      const r = await curl([
        ...tls,
        `pop3://alice%40localhost:${password}@127.0.0.1:${pop.pop3}/3`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      assertDelivered(r.stdout, messages[2], "message 3");
    },
  );

  await t.step("custom commands: UIDL and TOP", async () => {
    const u = await curl([...tls, ...alice, "-X", "UIDL", `${base}/`]);
    assert.equal(u.code, 0, u.stderr);
    assert.equal(decoder.decode(u.stdout), uidl);
    const top = await curl([...tls, ...alice, "-X", "TOP 3 1", `${base}/`]);
    assert.equal(top.code, 0, top.stderr);
    assert.match(decoder.decode(top.stdout), /\r\nSubject: message 3\r\n\r\nline 1 of 3\r\n$/);
  });

  await t.step("plain pop3:// on loopback (credentials allowed without TLS)", async () => {
    const r = await curl([...alice, `${base}/2`]);
    assert.equal(r.code, 0, r.stderr);
    assertDelivered(r.stdout, messages[1], "message 2");
  });

  await t.step("pop3s:// (implicit TLS): LIST and RETR", async () => {
    const l = await curl(["-k", ...alice, `pop3s://127.0.0.1:${pop.pop3s}/`]);
    assert.equal(l.code, 0, l.stderr);
    assert.equal(decoder.decode(l.stdout), list);
    const r = await curl(["-k", ...alice, `pop3s://127.0.0.1:${pop.pop3s}/1`]);
    assert.equal(r.code, 0, r.stderr);
    assertDelivered(r.stdout, messages[0], "message 1 over pop3s");
  });

  await t.step("a bare user name (alice, as in the README) logs in as the one alice", async () => {
    const url = `pop3://alice:${encodeURIComponent(USERS.alice.password)}@127.0.0.1:${pop.pop3}/1`;
    const r = await curl([...tls, url]);
    assert.equal(r.code, 0, r.stderr);
    assertDelivered(r.stdout, messages[0], "message 1 for a bare user name");
  });

  await t.step("a wrong password: curl reports a refused login (67)", async () => {
    const r = await curl([...tls, "--user", `${USERS.alice.address}:wrong`, `${base}/`]);
    assert.equal(r.code, 67, r.stderr);
  });

  await t.step("curl removed nothing", async () => {
    const r = await poplib([...login(pop.pop3), { op: "stat" }, { op: "quit" }]);
    assertAllOk(r);
    assert.equal(r[3].count, 3);
  });
});
