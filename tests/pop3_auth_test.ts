/**
 * POP3 logins end to end with Python's poplib: USER/PASS, SASL PLAIN (RFC
 * 5034) with and without an initial response, and the `[AUTH]` response code
 * for bad credentials (RFC 3206). Every failed login from 127.0.0.1 is
 * delayed by the shared throttle (0.5 s, 1 s, 2 s...), so this file keeps
 * its failed logins few.
 */
import assert from "node:assert/strict";
import {
  assertAllOk,
  assertDelivered,
  dataOf,
  deliver,
  poplib,
  simple,
  startPop3Server,
  type StepResult,
  USERS,
} from "./support/pop3_fixture.ts";

const alice = { user: USERS.alice.address, password: USERS.alice.password };
const bob = { user: USERS.bob.address, password: USERS.bob.password };

function assertErr(r: StepResult, pattern: RegExp): void {
  assert.equal(r.ok, false, `${r.op} should have failed: ${JSON.stringify(r)}`);
  assert.equal(r.type, "error_proto", `${r.op}: ${r.type} ${r.error}`);
  assert.match(r.error ?? "", pattern);
}

Deno.test("poplib logs in with USER/PASS and AUTH PLAIN, with and without initial response", async (t) => {
  await using pop = await startPop3Server();
  const aliceMail = simple(1);
  const bobMail = simple(2);
  await deliver(pop.smtp, [aliceMail]);
  await deliver(pop.smtp, [bobMail], USERS.bob.address);
  const connect = { op: "connect", port: pop.pop3, tls: "plain" };

  await t.step("AUTH PLAIN with an initial response", async () => {
    const r = await poplib([
      connect,
      { op: "auth", ...alice, initial: true },
      { op: "retr", arg: 1 },
      { op: "quit" },
    ]);
    assertAllOk(r);
    assert.match(r[1].resps![0], /^\+OK/);
    assertDelivered(dataOf(r[2]), aliceMail);
  });

  await t.step("AUTH PLAIN answered after the server's continuation", async () => {
    const r = await poplib([
      connect,
      { op: "auth", ...bob, initial: false },
      { op: "retr", arg: 1 },
      { op: "quit" },
    ]);
    assertAllOk(r);
    assert.match(r[1].resps![0], /^\+ ?$/, "an empty continuation (RFC 5034 §4)");
    assert.match(r[1].resps![1], /^\+OK/);
    assertDelivered(dataOf(r[2]), bobMail);
  });

  await t.step("AUTH PLAIN with the user's own authorization identity", async () => {
    const r = await poplib([
      connect,
      { op: "auth", ...alice, authzid: alice.user, initial: true },
      { op: "stat" },
      { op: "quit" },
    ]);
    assertAllOk(r);
    assert.equal(r[2].count, 1);
  });

  await t.step("USER/PASS with a password holding spaces", async () => {
    const r = await poplib([
      connect,
      { op: "user", arg: bob.user },
      { op: "pass", arg: bob.password },
      { op: "stat" },
      { op: "quit" },
    ]);
    assertAllOk(r);
    assert.equal(r[3].count, 1);
  });

  await t.step("refused AUTH exchanges leave the session in AUTHORIZATION", async () => {
    const r = await poplib([
      connect,
      { op: "auth", ...alice, authzid: bob.user, initial: true }, // 1: acting as someone else
      { op: "auth", ...alice, initial: false, cancel: true }, // 2: "*" cancels
      { op: "short", arg: "AUTH PLAIN !!!!" }, // 3: not base64
      { op: "short", arg: "AUTH PLAIN =" }, // 4: empty response
      { op: "short", arg: "AUTH PLAIN AGFsaWNl" }, // 5: "\0alice": one NUL only
      { op: "short", arg: "AUTH CRAM-MD5" }, // 6: not offered
      { op: "short", arg: "STAT" }, // 7: still not logged in
      { op: "auth", ...alice, initial: true }, // 8
      { op: "stat" }, // 9
      { op: "quit" },
    ]);
    assert.ok(r[0].ok);
    assertErr(r[1], /^-ERR \[AUTH\]/);
    assert.equal(r[2].ok, false);
    assert.match(r[2].error ?? "", /^-ERR/, "the cancelled exchange ends in -ERR");
    for (const i of [3, 4, 5, 6, 7]) assertErr(r[i], /^-ERR/);
    assertAllOk(r.slice(8));
    assert.equal(r[9].count, 1);
  });

  await t.step("bad credentials get -ERR [AUTH], the same for an unknown user", async () => {
    const r = await poplib([
      connect,
      { op: "user", arg: alice.user }, // 1
      { op: "pass", arg: "wrong" }, // 2
      { op: "auth", user: alice.user, password: "wrong too", initial: true }, // 3
      { op: "user", arg: "nobody@localhost" }, // 4: USER never tells
      { op: "pass", arg: "wrong" }, // 5
      { op: "user", arg: alice.user }, // 6
      { op: "pass", arg: alice.password }, // 7: the session goes on and can log in
      { op: "stat" },
      { op: "quit" },
    ], 60_000);
    assert.ok(r[1].ok && r[4].ok, "USER accepts any name");
    assertErr(r[2], /^-ERR \[AUTH\] /);
    assertErr(r[3], /^-ERR \[AUTH\] /);
    assertErr(r[5], /^-ERR \[AUTH\] /);
    assert.equal(r[5].error, r[2].error, "an unknown user looks like a wrong password");
    assertAllOk(r.slice(6));
    assert.equal(r[8].count, 1);
  });
});
