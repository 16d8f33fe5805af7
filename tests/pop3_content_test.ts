/**
 * What POP3 sends, octet for octet: messages with lines starting with ".",
 * 8-bit bytes, headers only, an empty body and an entirely empty DATA,
 * delivered over SMTP and read back with poplib and with a raw socket that
 * sees the dot-stuffed wire. LIST sizes must equal what RETR sends before
 * stuffing (RFC 1939 §7, §11).
 */
import assert from "node:assert/strict";
import {
  accepted,
  assertAllOk,
  assertDelivered,
  AWKWARD,
  bytes,
  concat,
  dataOf,
  deliver,
  login,
  type Outgoing,
  poplib,
  RawPop3,
  simple,
  smtpStep,
  splitTrace,
  startPop3Server,
  unstuff,
  USERS,
} from "./support/pop3_fixture.ts";

const decoder = new TextDecoder();

const MESSAGES: [string, Outgoing][] = AWKWARD;

/** The wire's lines that start with "." all start with ".." (RFC 1939 §3). */
function assertStuffed(wire: Uint8Array, what: string): void {
  const lines = decoder.decode(wire).split("\r\n");
  for (const line of lines) {
    if (line.startsWith(".")) assert.ok(line.startsWith(".."), `${what}: unstuffed ${line}`);
  }
}

Deno.test("POP3 sends every message byte for byte, with LIST sizes of what RETR sends", async (t) => {
  await using pop = await startPop3Server();
  await deliver(pop.smtp, MESSAGES.map(([, m]) => m));
  const n = MESSAGES.length;

  const retrieved: Uint8Array[] = [];
  await t.step("poplib RETR and TOP", async () => {
    const r = await poplib([
      ...login(pop.pop3), // 0-2
      { op: "list" }, // 3
      ...MESSAGES.map((_, i) => ({ op: "retr", arg: i + 1 })), // 4..
      ...MESSAGES.map((_, i) => ({ op: "top", arg: i + 1, lines: 0 })),
      ...MESSAGES.map((_, i) => ({ op: "top", arg: i + 1, lines: 1 })),
      { op: "quit" },
    ]);
    assertAllOk(r);
    const listed = r[3].lines!.map((l) => Number(l.split(" ")[1]));
    assert.equal(listed.length, n);
    MESSAGES.forEach(([what, message], i) => {
      const got = dataOf(r[4 + i]);
      retrieved.push(got);
      assertDelivered(got, message, what);
      assert.equal(got.length, listed[i], `${what}: LIST size is the size RETR sends`);
      assert.equal(r[4 + i].octets, listed[i], `${what}: poplib's octet count`);
    });
    const top0 = MESSAGES.map((_, i) => decoder.decode(dataOf(r[4 + n + i])));
    const top1 = MESSAGES.map((_, i) => decoder.decode(dataOf(r[4 + 2 * n + i])));
    const whole = retrieved.map((m) => decoder.decode(m));
    // Dotted: the headers and the blank line; then one body line (".leading dot").
    const head = whole[0].slice(0, whole[0].indexOf("\r\n\r\n") + 4);
    assert.equal(top0[0], head);
    assert.equal(top1[0], `${head}.leading dot\r\n`);
    // 8-bit: the first body line is UTF-8.
    const head8 = whole[1].slice(0, whole[1].indexOf("\r\n\r\n") + 4);
    assert.equal(top0[1], head8);
    assert.equal(top1[1], `${head8}Grüße aus Köln, 日本語, emoji 📬\r\n`);
    // No blank line or no body: TOP gives the whole message whatever the count.
    for (const i of [2, 3, 4]) {
      assert.equal(top0[i], whole[i], `TOP ${i + 1} 0 of ${MESSAGES[i][0]}`);
      assert.equal(top1[i], whole[i], `TOP ${i + 1} 1 of ${MESSAGES[i][0]}`);
    }
    // The empty DATA: only the trace headers Postino added.
    assert.equal(splitTrace(retrieved[4]).rest.length, 0);
  });

  await t.step("a raw client sees dot-stuffed lines and sizes before stuffing", async () => {
    const { client, greeting } = await RawPop3.connect(pop.pop3);
    using _ = client;
    assert.match(greeting, /^\+OK/);
    await client.send(`USER ${USERS.alice.address}\r\n`);
    assert.match(await client.line(), /^\+OK/);
    await client.send(`PASS ${USERS.alice.password}\r\n`);
    assert.match(await client.line(), /^\+OK/);
    await client.send("LIST\r\n");
    assert.match(await client.line(), /^\+OK/);
    const sizes = decoder.decode(await client.multiline()).trimEnd().split("\r\n")
      .map((l) => Number(l.split(" ")[1]));
    for (let i = 0; i < n; i++) {
      await client.send(`RETR ${i + 1}\r\n`);
      assert.match(await client.line(), /^\+OK/);
      const wire = await client.multiline();
      const what = MESSAGES[i][0];
      assertStuffed(wire, what);
      const content = unstuff(wire);
      assert.equal(content.length, sizes[i], `${what}: LIST size is the unstuffed length`);
      assert.deepEqual(content, retrieved[i], `${what}: raw and poplib agree`);
      const { rest } = splitTrace(content);
      assert.deepEqual(rest, accepted(MESSAGES[i][1]), what);
    }
    // The dotted message really went out stuffed.
    await client.send("RETR 1\r\n");
    await client.line();
    const wire = decoder.decode(await client.multiline());
    assert.ok(
      wire.endsWith(
        "\r\n\r\n..leading dot\r\n...two dots\r\n..\r\nmiddle\r\n....\r\n.. space\r\nend.\r\n..\r\n",
      ),
      JSON.stringify(wire.slice(-120)),
    );
    await client.send("QUIT\r\n");
    assert.match(await client.line(), /^\+OK/);
    assert.equal(await client.rest(), "");
  });

  await t.step("a pipelined session gets its replies in order (RFC 2449 PIPELINING)", async () => {
    const { client } = await RawPop3.connect(pop.pop3);
    using _ = client;
    await client.send(concat(
      bytes(`CAPA\r\nUSER ${USERS.alice.address}\r\nPASS ${USERS.alice.password}\r\n`),
      bytes("STAT\r\nLIST 1\r\nUIDL\r\nRETR 2\r\nTOP 1 0\r\nDELE 5\r\nNOOP\r\nRSET\r\nQUIT\r\n"),
    ));
    assert.match(await client.line(), /^\+OK/);
    assert.match(decoder.decode(await client.multiline()), /^PIPELINING\r$/m);
    assert.match(await client.line(), /^\+OK/); // USER
    assert.match(await client.line(), /^\+OK/); // PASS
    assert.match(await client.line(), new RegExp(`^\\+OK ${n} \\d+$`)); // STAT
    assert.match(await client.line(), /^\+OK 1 \d+/); // LIST 1
    assert.match(await client.line(), /^\+OK/); // UIDL
    assert.equal(decoder.decode(await client.multiline()).trimEnd().split("\r\n").length, n);
    assert.match(await client.line(), /^\+OK/); // RETR 2
    assert.deepEqual(unstuff(await client.multiline()), retrieved[1]);
    assert.match(await client.line(), /^\+OK/); // TOP 1 0
    await client.multiline();
    for (const what of ["DELE", "NOOP", "RSET", "QUIT"]) {
      assert.match(await client.line(), /^\+OK/, what);
    }
    assert.equal(await client.rest(), "");
  });

  await t.step("nothing was removed by reading", async () => {
    const r = await poplib([...login(pop.pop3), { op: "stat" }, { op: "quit" }]);
    assertAllOk(r);
    assert.equal(r[3].count, n);
  });

  await t.step("a message that arrives during a session is not seen until the next", async () => {
    const r = await poplib([
      ...login(pop.pop3), // 0-2
      { op: "stat" }, // 3
      smtpStep(pop.smtp, simple(9)), // 4
      { op: "stat" }, // 5
      { op: "list", arg: n + 1 }, // 6
      { op: "dele", arg: 1 }, // 7
      { op: "quit" }, // 8
      ...login(pop.pop3), // 9-11
      { op: "stat" }, // 12
      { op: "retr", arg: n }, // 13
      { op: "quit" },
    ]);
    assertAllOk([...r.slice(0, 6), ...r.slice(7)]);
    assert.equal(r[3].count, n);
    assert.equal(r[5].count, n, "message numbers and sizes are fixed at login");
    assert.match(r[6].error ?? "", /^-ERR/);
    assert.equal(r[12].count, n, "one removed, one arrived");
    assertDelivered(dataOf(r[13]), simple(9), "the late message");
  });
});
