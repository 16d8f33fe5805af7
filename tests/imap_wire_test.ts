/**
 * The IMAP wire as it is, over bare TCP: synchronising and LITERAL+
 * literals, a literal over APPENDLIMIT refused before it is sent, an
 * over-long line, pipelining, deeply nested search keys, the HTTP hang-up,
 * the error budget, and an APPEND to the selected mailbox announced at once.
 */
import assert from "node:assert/strict";
import { message, RawImap, startImapServer, USERS } from "./support/imap_fixture.ts";

Deno.test("the IMAP wire: literals, limits, pipelining, nesting, hang-ups", async (t) => {
  await using imap = await startImapServer();
  const { address, password } = USERS.alice;
  const size = (s: string) => new TextEncoder().encode(s).length;

  await t.step("LOGIN with synchronising literals: a '+' for each", async () => {
    await using c = await RawImap.connect(imap.imap);
    await c.send(`a1 LOGIN {${size(address)}}\r\n`);
    assert.match(await c.line(), /^\+ /);
    await c.send(`${address} {${size(password)}}\r\n`);
    assert.match(await c.line(), /^\+ /);
    await c.send(`${password}\r\n`);
    assert.match(await c.line(), /^a1 OK /);
  });

  await t.step("LOGIN with LITERAL+ literals: no continuation", async () => {
    await using c = await RawImap.connect(imap.imap);
    await c.send(
      `a1 LOGIN {${size(address)}+}\r\n${address} {${size(password)}+}\r\n${password}\r\n`,
    );
    assert.match(await c.line(), /^a1 OK /);
  });

  await using c = await RawImap.login(imap.imap);

  await t.step("a literal over APPENDLIMIT: NO [TOOBIG] at once, no '+'", async () => {
    const caps = await c.command("CAPABILITY");
    const limit = Number(/APPENDLIMIT=(\d+)/.exec(caps.untagged[0])![1]);
    await c.send(`a2 APPEND INBOX {${limit + 1}}\r\n`);
    assert.match(await c.line(), /^a2 NO \[TOOBIG\] /);
    assert.equal((await c.command("NOOP")).status, "OK");
  });

  await t.step("a line over the limit: BAD, and the session goes on", async () => {
    await c.send(`a3 NOOP ${"x".repeat(100_000)}\r\n`);
    assert.match(await c.line(), /^(a3|\*) BAD /);
    assert.equal((await c.command("NOOP")).status, "OK");
  });

  await t.step("pipelined commands are answered in order", async () => {
    await c.send("p1 NOOP\r\np2 SELECT INBOX\r\np3 CAPABILITY\r\np4 UNSELECT\r\n");
    const order: string[] = [];
    while (order.length < 4) {
      const line = await c.line();
      if (/^p\d /.test(line)) order.push(line.slice(0, 5));
    }
    assert.deepEqual(order, ["p1 OK", "p2 OK", "p3 OK", "p4 OK"]);
  });

  await t.step("an APPEND to the selected mailbox is announced with EXISTS", async () => {
    assert.equal((await c.command("SELECT INBOX")).status, "OK");
    const r = await c.append("INBOX", message({ subject: "appended", body: "here\n" }));
    assert.equal(r.status, "OK", r.text);
    assert.ok(r.untagged.includes("* 1 EXISTS"), `${r.untagged}`);
  });

  await t.step("a search string as a literal; nesting up to the limit, and past it", async () => {
    const r = await c.command("SEARCH SUBJECT {8+}\r\nappended");
    assert.deepEqual(r.untagged, ["* SEARCH 1"]);
    const deep = `${"(".repeat(60)}SUBJECT appended${")".repeat(60)}`;
    assert.deepEqual((await c.command(`SEARCH ${deep}`)).untagged, ["* SEARCH 1"]);
    const nots = `${"NOT ".repeat(50)}ALL`;
    assert.deepEqual((await c.command(`SEARCH ${nots}`)).untagged, ["* SEARCH 1"]);
    const tooDeep = `${"(".repeat(500)}ALL${")".repeat(500)}`;
    assert.equal((await c.command(`SEARCH ${tooDeep}`)).status, "BAD");
    assert.equal((await c.command("NOOP")).status, "OK");
  });

  await t.step("IDLE ends with DONE in any case", async () => {
    await c.idle();
    assert.equal((await c.done("done")).status, "OK");
    assert.equal((await c.command("NOOP")).status, "OK");
  });

  await t.step("an HTTP request before login: hang up without a word", async () => {
    await using h = await RawImap.connect(imap.imap);
    await h.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    await assert.rejects(() => h.line(5_000), /Connection closed/);
  });

  await t.step("too many bad commands: BYE and the connection ends", async () => {
    await using b = await RawImap.connect(imap.imap);
    let bye = "";
    for (let i = 0; i < 40 && !bye; i++) {
      await b.send(`x${i} FROB\r\n`);
      for (;;) {
        const line = await b.line();
        if (line.startsWith("* BYE")) bye = line;
        if (line.startsWith(`x${i} `) || bye) break;
      }
    }
    assert.match(bye, /^\* BYE /);
    await assert.rejects(async () => {
      for (;;) await b.line(5_000);
    }, /Connection closed/);
  });
});

// A message holding a NUL octet (SMTP and APPEND both accept one): RFC 9051 §9 allows literal8
// only in BINARY answers; BODY[] takes an nstring, whose literal cannot carry NUL (CHAR8).
// Like Dovecot, the NUL goes out as 0x80 there.
Deno.test({
  name: "a NUL in a message: ordinary literals for BODY[], literal8 only for BINARY[]",
  fn: async () => {
    await using imap = await startImapServer();
    await using c = await RawImap.login(imap.imap);
    const nul = new TextEncoder().encode(
      "From: a@remote.example\r\nSubject: nul\r\n\r\nab\x00cd\r\n",
    );
    assert.equal((await c.append("INBOX", nul)).status, "OK");
    assert.equal((await c.command("SELECT INBOX")).status, "OK");
    const binary = await c.command("FETCH 1 (BINARY.PEEK[1])");
    assert.deepEqual(binary.untagged, ["* 1 FETCH (BINARY[1] ~{7}\r\nab\x00cd\r\n)"]);
    const body = await c.command("FETCH 1 (BODY.PEEK[TEXT])");
    assert.equal(body.status, "OK");
    const line = body.untagged[0];
    assert.ok(line.startsWith("* 1 FETCH (BODY[TEXT] {7}\r\nab"), JSON.stringify(line));
    assert.ok(!line.includes("\0"), `a NUL in an ordinary literal: ${JSON.stringify(line)}`);
    assert.equal(line.length, "* 1 FETCH (BODY[TEXT] {7}\r\n".length + 7 + 1, JSON.stringify(line));
  },
});

Deno.test("BINARY (RFC 3516): advertised, literal8 APPEND, decoding, NO [UNKNOWN-CTE]", async () => {
  await using imap = await startImapServer();
  await using c = await RawImap.login(imap.imap);
  const caps = await c.command("CAPABILITY");
  assert.match(caps.untagged[0], /^\* CAPABILITY .* BINARY( |$)/);
  const encoder = new TextEncoder();
  const parts = [
    "From: a@remote.example\r\nSubject: parts\r\nMIME-Version: 1.0\r\n",
    'Content-Type: multipart/mixed; boundary="b"\r\n\r\n',
    "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    "AAECAw==\r\n",
    "--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\n",
    "begin 644 x\r\n#86)C\r\n`\r\nend\r\n",
    "--b--\r\n",
  ];
  const bytes = encoder.encode(parts.join(""));
  // APPEND with a literal8 (RFC 3516 §4.4), non-synchronising.
  const head = encoder.encode(`r0 APPEND INBOX ~{${bytes.length}+}\r\n`);
  await c.send(new Uint8Array([...head, ...bytes, 13, 10]));
  const appended = await c.until("r0");
  assert.equal(appended.status, "OK", appended.text);
  assert.equal((await c.command("SELECT INBOX")).status, "OK");
  const decoded = await c.command("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])");
  assert.equal(decoded.status, "OK", decoded.text);
  assert.ok(
    decoded.untagged[0].includes("BINARY[1] ~{4}\r\n\x00\x01\x02\x03"),
    JSON.stringify(decoded.untagged),
  );
  assert.match(decoded.untagged[0], /BINARY\.SIZE\[1\] 4/);
  const unknown = await c.command("FETCH 1 (BINARY.PEEK[2])");
  assert.equal(unknown.status, "NO", unknown.text);
  assert.match(unknown.text, /^\[UNKNOWN-CTE\] /);
  const plain = await c.command("FETCH 1 (BODY.PEEK[2])");
  assert.equal(plain.status, "OK", "BODY[] of the same part is served as stored");
  assert.ok(plain.untagged[0].includes("begin 644 x"), JSON.stringify(plain.untagged));
});

Deno.test("BINARY[] of a whole base64 message: the header as it is, the body decoded", async () => {
  await using imap = await startImapServer();
  await using c = await RawImap.login(imap.imap);
  const header = "From: a@remote.example\r\nSubject: b64\r\nMIME-Version: 1.0\r\n" +
    "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n";
  const message = new TextEncoder().encode(`${header}aGVsbG8gd29ybGQNCg==\r\n`);
  assert.equal((await c.append("INBOX", message)).status, "OK");
  assert.equal((await c.command("SELECT INBOX")).status, "OK");
  const whole = await c.command("FETCH 1 (BINARY.PEEK[])");
  assert.equal(whole.status, "OK", whole.text);
  const want = `${header}hello world\r\n`;
  assert.deepEqual(whole.untagged, [`* 1 FETCH (BINARY[] {${want.length}}\r\n${want})`]);
  const part = await c.command("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[])");
  assert.deepEqual(part.untagged, [
    `* 1 FETCH (BINARY[1] {13}\r\nhello world\r\n BINARY.SIZE[] ${want.length})`,
  ]);
});

Deno.test("a mailbox name with a line break cannot forge a reply line", async () => {
  await using imap = await startImapServer();
  await using c = await RawImap.login(imap.imap);
  assert.equal((await c.command("ENABLE IMAP4rev2")).status, "OK");
  const name = "Nope\r\n* OK [ALERT] forged";
  await c.send(`s1 SELECT {${new TextEncoder().encode(name).length}+}\r\n${name}\r\n`);
  const reply = await c.line();
  assert.match(reply, /^s1 NO .*Nope {1,2}\* OK \[ALERT\] forged/);
  const next = await c.command("NOOP");
  assert.equal(next.status, "OK");
  assert.ok(!next.untagged.some((l) => l.includes("forged")), JSON.stringify(next.untagged));
});
