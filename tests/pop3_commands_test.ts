/**
 * POP3 end to end with Python's poplib: every command of RFC 1939 and CAPA,
 * the DELE/RSET/QUIT/drop semantics, the maildrop lock and the error paths,
 * against the real `postino serve` with mail delivered over SMTP.
 */
import assert from "node:assert/strict";
import {
  assertAllOk,
  assertDelivered,
  dataOf,
  deliver,
  login,
  poplib,
  simple,
  startPop3Server,
  type StepResult,
  USERS,
} from "./support/pop3_fixture.ts";

const decoder = new TextDecoder();

/** Message number to size, from LIST lines ("n size"). */
function sizes(lines: string[] | undefined): Map<number, number> {
  assert.ok(lines);
  return new Map(lines.map((l) => {
    const m = /^(\d+) (\d+)$/.exec(l);
    assert.ok(m, `bad listing line ${JSON.stringify(l)}`);
    return [Number(m[1]), Number(m[2])];
  }));
}

/** Message number to unique id, from UIDL lines. */
function uids(lines: string[] | undefined): Map<number, string> {
  assert.ok(lines);
  return new Map(lines.map((l) => {
    const m = /^(\d+) ([\x21-\x7e]{1,70})$/.exec(l);
    assert.ok(m, `bad UIDL line ${JSON.stringify(l)}`);
    return [Number(m[1]), m[2]];
  }));
}

function assertErr(r: StepResult, pattern: RegExp = /^-ERR/): void {
  assert.equal(r.ok, false, `${r.op} should have failed: ${JSON.stringify(r)}`);
  assert.equal(r.type, "error_proto", `${r.op}: ${r.type} ${r.error}`);
  assert.match(r.error ?? "", pattern);
}

Deno.test("poplib runs every POP3 command against a maildrop filled over SMTP", async () => {
  await using pop = await startPop3Server();
  const messages = [simple(1), simple(2), simple(3)];
  await deliver(pop.smtp, messages);
  const r = await poplib([
    { op: "connect", port: pop.pop3, tls: "plain" }, // 0
    { op: "capa" }, // 1
    { op: "user", arg: USERS.alice.address }, // 2
    { op: "pass", arg: USERS.alice.password }, // 3
    { op: "capa" }, // 4
    { op: "stat" }, // 5
    { op: "list" }, // 6
    { op: "list", arg: 2 }, // 7
    { op: "retr", arg: 1 }, // 8
    { op: "retr", arg: 3 }, // 9
    { op: "top", arg: 1, lines: 0 }, // 10
    { op: "top", arg: 1, lines: 1 }, // 11
    { op: "top", arg: 1, lines: 2 }, // 12
    { op: "top", arg: 1, lines: 1000 }, // 13
    { op: "uidl" }, // 14
    { op: "uidl", arg: 2 }, // 15
    { op: "noop" }, // 16
    { op: "dele", arg: 1 }, // 17
    { op: "stat" }, // 18
    { op: "list" }, // 19
    { op: "uidl" }, // 20
    { op: "rset" }, // 21
    { op: "stat" }, // 22
    { op: "dele", arg: 2 }, // 23
    { op: "quit" }, // 24
  ]);
  assertAllOk(r);
  assert.match(r[0].resp!, /^\+OK/);

  // CAPA before login: everything, USER and SASL PLAIN on loopback, STLS before TLS.
  const before = r[1].capa!;
  for (const cap of ["TOP", "UIDL", "USER", "STLS", "RESP-CODES", "PIPELINING"]) {
    assert.deepEqual(before[cap], [], `CAPA lacks ${cap}: ${JSON.stringify(before)}`);
  }
  assert.deepEqual(before.SASL, ["PLAIN"]);
  assert.deepEqual(before.EXPIRE, ["NEVER"]);
  assert.ok(before.IMPLEMENTATION, "CAPA lacks IMPLEMENTATION");
  // After login: no USER, SASL or STLS any more (RFC 2449 §5).
  const after = r[4].capa!;
  for (const cap of ["TOP", "UIDL", "RESP-CODES", "PIPELINING"]) assert.ok(cap in after, cap);
  for (const cap of ["USER", "SASL", "STLS"]) assert.ok(!(cap in after), `${cap} after login`);

  // STAT, LIST and LIST n agree; sizes are what RETR sends.
  const listed = sizes(r[6].lines);
  assert.deepEqual([...listed.keys()], [1, 2, 3]);
  const sum = [...listed.values()].reduce((a, b) => a + b, 0);
  assert.deepEqual([r[5].count, r[5].size], [3, sum]);
  assert.match(r[6].resp!, /^\+OK/);
  assert.match(r[7].resp!, new RegExp(`^\\+OK 2 ${listed.get(2)}(?: |$)`));
  const first = dataOf(r[8]);
  assertDelivered(first, messages[0], "RETR 1");
  assertDelivered(dataOf(r[9]), messages[2], "RETR 3");
  assert.equal(first.length, listed.get(1));
  assert.equal(r[8].octets, listed.get(1));

  // TOP: the headers and the blank line, then that many body lines.
  const text = decoder.decode(first);
  const headerEnd = text.indexOf("\r\n\r\n") + 4;
  assert.equal(decoder.decode(dataOf(r[10])), text.slice(0, headerEnd));
  assert.equal(decoder.decode(dataOf(r[11])), text.slice(0, headerEnd) + "line 1 of 1\r\n");
  assert.equal(
    decoder.decode(dataOf(r[12])),
    text.slice(0, headerEnd) + "line 1 of 1\r\nline 2\r\n",
  );
  assert.equal(decoder.decode(dataOf(r[13])), text, "TOP beyond the body gives the whole message");

  // UIDL: <uidvalidity>.<uid>, unique, increasing uid; UIDL n agrees.
  const ids = uids(r[14].lines);
  assert.equal(new Set(ids.values()).size, 3);
  const [validity] = ids.get(1)!.split(".");
  for (const id of ids.values()) {
    assert.match(id, /^\d+\.\d+$/);
    assert.equal(id.split(".")[0], validity, "one uidvalidity for the maildrop");
  }
  assert.equal(r[15].resp, `+OK 2 ${ids.get(2)}`);
  assert.match(r[16].resp!, /^\+OK/);

  // DELE hides the message from STAT, LIST and UIDL; RSET brings it back.
  assert.match(r[17].resp!, /^\+OK/);
  assert.deepEqual([r[18].count, r[18].size], [2, sum - listed.get(1)!]);
  assert.deepEqual([...sizes(r[19].lines).keys()], [2, 3]);
  assert.deepEqual([...uids(r[20].lines).entries()], [[2, ids.get(2)], [3, ids.get(3)]]);
  assert.match(r[21].resp!, /^\+OK/);
  assert.deepEqual([r[22].count, r[22].size], [3, sum]);
  assert.match(r[24].resp!, /^\+OK/);

  // QUIT removed message 2 only; the others keep their unique ids, renumbered.
  const next = await poplib([
    ...login(pop.pop3),
    { op: "stat" },
    { op: "uidl" },
    { op: "retr", arg: 1 },
    { op: "retr", arg: 2 },
    { op: "retr", arg: 3 },
    { op: "quit" },
  ]);
  assertAllOk(next.slice(0, 7));
  assert.equal(next[3].count, 2);
  assert.deepEqual([...uids(next[4].lines).values()], [ids.get(1), ids.get(3)]);
  assertDelivered(dataOf(next[5]), messages[0], "message 1 after QUIT");
  assertDelivered(dataOf(next[6]), messages[2], "message 3 after QUIT");
  assertErr(next[7], /^-ERR/);
  assert.ok(next[8].ok);
});

Deno.test("poplib: DELE then QUIT removes, DELE then a drop or RSET removes nothing", async () => {
  await using pop = await startPop3Server();
  const messages = [simple(1), simple(2), simple(3)];
  await deliver(pop.smtp, messages);
  const r = await poplib([
    ...login(pop.pop3), // 0-2
    { op: "uidl" }, // 3
    { op: "dele", arg: 1 }, // 4
    { op: "dele", arg: 3 }, // 5
    { op: "drop" }, // 6: no QUIT
    ...login(pop.pop3), // 7-9: the lock was released by the drop
    { op: "stat" }, // 10
    { op: "dele", arg: 1 }, // 11
    { op: "rset" }, // 12
    { op: "quit" }, // 13
    ...login(pop.pop3), // 14-16
    { op: "stat" }, // 17
    { op: "dele", arg: 1 }, // 18
    { op: "dele", arg: 3 }, // 19
    { op: "quit" }, // 20
    ...login(pop.pop3), // 21-23
    { op: "stat" }, // 24
    { op: "uidl" }, // 25
    { op: "retr", arg: 1 }, // 26
    { op: "quit" }, // 27
  ]);
  assertAllOk(r);
  assert.equal(r[10].count, 3, "a drop after DELE removes nothing");
  assert.equal(r[17].count, 3, "RSET then QUIT removes nothing");
  assert.match(r[20].resp!, /^\+OK/);
  assert.equal(r[24].count, 1, "QUIT after DELE removes");
  const ids = uids(r[3].lines);
  assert.deepEqual([...uids(r[25].lines).entries()], [[1, ids.get(2)]]);
  assertDelivered(dataOf(r[26]), messages[1], "the message left");
});

Deno.test("poplib: a second session for the same user gets [IN-USE] until the first ends", async () => {
  await using pop = await startPop3Server();
  await deliver(pop.smtp, [simple(1), simple(2)]);
  await deliver(pop.smtp, [simple(3)], USERS.bob.address);
  const r = await poplib([
    ...login(pop.pop3, "alice", "a"), // 0-2
    { s: "a", op: "dele", arg: 1 }, // 3
    { s: "b", op: "connect", port: pop.pop3, tls: "plain" }, // 4
    { s: "b", op: "user", arg: USERS.alice.address }, // 5
    { s: "b", op: "pass", arg: USERS.alice.password }, // 6: IN-USE
    {
      s: "b",
      op: "auth",
      user: USERS.alice.address,
      password: USERS.alice.password,
      initial: true,
    }, // 7: IN-USE
    ...login(pop.pop3, "bob", "c"), // 8-10: another user is not locked out
    { s: "c", op: "stat" }, // 11
    { s: "a", op: "stat" }, // 12: the first session is undisturbed
    { s: "a", op: "quit" }, // 13
    { s: "b", op: "user", arg: USERS.alice.address }, // 14
    { s: "b", op: "pass", arg: USERS.alice.password }, // 15: now it works
    { s: "b", op: "stat" }, // 16
    ...login(pop.pop3, "alice", "d"), // 17-19: d is locked out by b
    { s: "b", op: "drop" }, // 20: b goes away without QUIT
    { s: "d", op: "user", arg: USERS.alice.address }, // 21
    { s: "d", op: "pass", arg: USERS.alice.password }, // 22: works after the drop
    { s: "d", op: "stat" }, // 23
    { s: "d", op: "quit" }, // 24
    { s: "c", op: "quit" }, // 25
  ]);
  for (const i of [6, 7, 19]) assertErr(r[i], /^-ERR \[IN-USE\]/);
  assertAllOk([...r.slice(0, 6), ...r.slice(8, 19), ...r.slice(20)]);
  assert.equal(r[11].count, 1);
  assert.equal(r[12].count, 1, "session a sees its DELE");
  assert.equal(r[16].count, 1, "a's QUIT removed message 1");
  assert.equal(r[23].count, 1);
});

Deno.test("poplib: unknown commands and bad arguments get -ERR and the session goes on", async () => {
  await using pop = await startPop3Server();
  const messages = [simple(1), simple(2)];
  await deliver(pop.smtp, messages);
  const bad = [
    "LIST 0",
    "LIST x",
    "LIST -1",
    "LIST 1 2",
    "LIST 99",
    "RETR 99",
    "RETR 0",
    "RETR",
    "RETR 1 1",
    "TOP 1",
    "TOP 1 x",
    "TOP 1 -1",
    "TOP 99 0",
    "TOP",
    "UIDL 0",
    "UIDL 99",
    "DELE 99",
    "DELE",
    "DELE 1", // already deleted (below)
    "RETR 1", // deleted
    "TOP 1 0", // deleted
    "LIST 1", // deleted
    "UIDL 1", // deleted
    "NOOP x",
    "STAT x",
    "XYZZY",
    "STLS", // not in TRANSACTION
    "USER alice@localhost",
    "PASS x",
    "AUTH PLAIN",
  ];
  // Before login (few enough -ERR replies to stay within the session's error budget).
  const pre = await poplib([
    { op: "connect", port: pop.pop3, tls: "plain" },
    { op: "short", arg: "STAT" }, // not before login
    { op: "short", arg: "RETR 1" },
    { op: "short", arg: "PASS x" }, // no USER first
    { op: "short", arg: "HELLO" },
    { op: "short", arg: "APOP alice@localhost c4c9334bac560ecc979e58001b3e22fb" },
    { op: "user", arg: USERS.alice.address },
    { op: "pass", arg: USERS.alice.password },
    { op: "stat" },
    { op: "quit" },
  ]);
  for (const i of [1, 2, 3, 4, 5]) assertErr(pre[i]);
  assertAllOk([pre[0], ...pre.slice(6)]);
  assert.equal(pre[8].count, 2);

  // After login, in chunks of 10 bad commands per session.
  for (let c = 0; c < bad.length; c += 10) {
    const chunk = bad.slice(c, c + 10);
    const r = await poplib([
      ...login(pop.pop3),
      { op: "dele", arg: 1 },
      ...chunk.map((arg) => ({ op: "short", arg })),
      { op: "stat" },
      { op: "list", arg: 2 },
      { op: "long", arg: "list" }, // lower-case keywords work
      { op: "retr", arg: 2 },
      { op: "rset" },
      { op: "quit" },
    ]);
    assertAllOk(r.slice(0, 4));
    chunk.forEach((arg, i) => {
      const x = r[4 + i];
      assert.equal(x.ok, false, `${arg} should get -ERR: ${JSON.stringify(x)}`);
      assert.equal(x.type, "error_proto", `${arg}: ${x.type} ${x.error}`);
      assert.match(x.error ?? "", /^-ERR /, `${arg}: ${x.error}`);
    });
    const tail = r.slice(4 + chunk.length);
    assertAllOk(tail);
    assert.equal(tail[0].count, 1);
    assert.match(tail[1].resp!, /^\+OK 2 \d+/);
    assert.deepEqual(tail[2].lines?.map((l) => l.split(" ")[0]), ["2"]);
    assertDelivered(dataOf(tail[3]), messages[1]);
  }

  // RSET before QUIT: nothing was removed.
  const again = await poplib([...login(pop.pop3), { op: "stat" }, { op: "quit" }]);
  assertAllOk(again);
  assert.equal(again[3].count, 2);
});
