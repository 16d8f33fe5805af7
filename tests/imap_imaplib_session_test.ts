/**
 * IMAP sessions with Python's imaplib: the greeting and capabilities before
 * and after login, LOGIN, AUTHENTICATE PLAIN (imaplib's continuation form and
 * a raw SASL-IR initial response), STARTTLS, IMAPS, ID, NAMESPACE, bad
 * commands answered BAD without ending the session, a wrong password, LOGOUT.
 */
import assert from "node:assert/strict";
import {
  assertOk,
  b64,
  call,
  imaplib,
  imapLogin,
  type ImapResult,
  raw,
  startImapServer,
  untagged,
  USERS,
} from "./support/imap_fixture.ts";

/** Capabilities Postino offers after login (RFC 9051, the extensions of issue 7, QUOTA of 15). */
const AUTHENTICATED_CAPS = [
  "IMAP4rev2",
  "IMAP4rev1",
  "IDLE",
  "MOVE",
  "UIDPLUS",
  "SPECIAL-USE",
  "LITERAL+",
  "ENABLE",
  "NAMESPACE",
  "ID",
  "SASL-IR",
  "UNSELECT",
  "CHILDREN",
  "LIST-EXTENDED",
  "LIST-STATUS",
  "ESEARCH",
  "STATUS=SIZE",
  "CONDSTORE",
  "QRESYNC",
  "QUOTA",
  "QUOTA=RES-STORAGE",
  "QUOTA=RES-MESSAGE",
];

/** The capability atoms of a CAPABILITY response or response code in `text`. */
function capsIn(text: string): string[] {
  const m = /CAPABILITY ([^\]\r\n]*)/.exec(text);
  assert.ok(m, `no capability list in ${JSON.stringify(text)}`);
  return m[1].trim().split(/\s+/);
}

function assertHas(caps: string[], wanted: string[], what: string): void {
  const upper = new Set(caps.map((c) => c.toUpperCase()));
  for (const w of wanted) assert.ok(upper.has(w.toUpperCase()), `${what} lacks ${w}: ${caps}`);
}

function plainResponse(user: string, password: string, authzid = ""): string {
  return b64(`${authzid}\0${user}\0${password}`);
}

Deno.test("imaplib: greeting, capabilities, LOGIN, ID, NAMESPACE, bad commands, LOGOUT", async (t) => {
  await using imap = await startImapServer();
  const r = await imaplib([
    { op: "connect", port: imap.imap, tls: "plain" }, // 0
    call("capability"), // 1
    raw("FROBNICATE now"), // 2
    raw("SELECT INBOX"), // 3: not authenticated yet
    raw("NOOP"), // 4
    { op: "login", user: USERS.alice.address, password: USERS.alice.password }, // 5
    call("capability"), // 6
    raw('ID ("name" "imaplib-test" "version" "1")'), // 7
    call("namespace"), // 8
    raw("FETCH 1 (FLAGS)"), // 9: nothing selected
    raw("LOGIN alice@localhost again"), // 10: already authenticated
    raw("LIST"), // 11: missing arguments
    raw("STATUS INBOX (MESSAGES BOGUS)"), // 12
    call("noop"), // 13
    { op: "logout" }, // 14
  ]);

  await t.step("the greeting is OK with capabilities: both revisions, STARTTLS, AUTH=PLAIN", () => {
    assertOk(r[0]);
    assert.match(r[0].wire, /^\* OK \[CAPABILITY [^\]]*\] /);
    const caps = capsIn(r[0].wire);
    assertHas(caps, ["IMAP4rev2", "IMAP4rev1", "STARTTLS", "AUTH=PLAIN", "SASL-IR"], "greeting");
    // Loopback may log in without TLS (issue 7): no LOGINDISABLED here.
    assert.ok(!caps.includes("LOGINDISABLED"), `${caps}`);
  });

  await t.step("CAPABILITY before login offers STARTTLS and AUTH=PLAIN", () => {
    assertOk(r[1]);
    const lines = untagged(r[1].wire);
    assert.equal(lines.length, 1, r[1].wire);
    assertHas(capsIn(lines[0]), ["IMAP4rev2", "IMAP4rev1", "STARTTLS", "AUTH=PLAIN"], "pre-auth");
  });

  await t.step("an unknown command gets BAD, a command in the wrong state too", () => {
    assert.equal(r[2].typ, "BAD", r[2].wire);
    assert.equal(r[3].typ, "BAD", r[3].wire);
    assertOk(r[4], "NOOP after BAD");
  });

  await t.step("LOGIN answers OK with the new capabilities", () => {
    assertOk(r[5]);
    assert.match(r[5].wire, /^\S+ OK \[CAPABILITY [^\]]+\]/m);
    assertHas(capsIn(r[5].wire), AUTHENTICATED_CAPS, "LOGIN's OK");
  });

  await t.step(
    "CAPABILITY after login: every extension of issue 7, APPENDLIMIT with a size",
    () => {
      assertOk(r[6]);
      const caps = capsIn(untagged(r[6].wire)[0]);
      assertHas(caps, AUTHENTICATED_CAPS, "post-auth CAPABILITY");
      assert.ok(caps.some((c) => /^APPENDLIMIT=\d+$/.test(c)), `APPENDLIMIT: ${caps}`);
      assert.ok(!caps.includes("STARTTLS"), "no STARTTLS after login");
      assert.ok(!caps.some((c) => c.startsWith("AUTH=")), "no AUTH= after login");
    },
  );

  await t.step("ID names the server", () => {
    assertOk(r[7]);
    assert.match(untagged(r[7].wire).join("\n"), /^\* ID \("name" "Postino" "version" "[^"]+"/);
  });

  await t.step("NAMESPACE: one personal namespace with separator /", () => {
    assertOk(r[8]);
    assert.deepEqual(r[8].data, ['(("" "/")) NIL NIL']);
  });

  await t.step("FETCH without a mailbox, LOGIN twice, LIST without arguments: BAD", () => {
    for (const i of [9, 10, 11, 12]) assert.equal(r[i].typ, "BAD", `step ${i}: ${r[i].wire}`);
  });

  await t.step("the session went on: NOOP, then LOGOUT with BYE", () => {
    assertOk(r[13]);
    assertOk(r[14]);
    assert.equal(r[14].typ, "BYE");
  });
});

Deno.test("imaplib: a wrong password gets NO [AUTHENTICATIONFAILED], then the right one works", async () => {
  await using imap = await startImapServer();
  const r = await imaplib([
    { op: "connect", port: imap.imap, tls: "plain" },
    { op: "login", user: USERS.alice.address, password: "not-the-password" },
    raw("NOOP"),
    { op: "login", user: USERS.alice.address, password: USERS.alice.password },
    call("select", "INBOX"),
    { op: "logout" },
  ]);
  assert.ok(!r[1].ok, "a wrong password must not log in");
  assert.match(r[1].wire, /^\S+ NO \[AUTHENTICATIONFAILED\] /m);
  assertOk(r[2], "the session goes on after a failed LOGIN");
  assertOk(r[3], "LOGIN with the right password");
  assertOk(r[4]);
  assertOk(r[5]);
});

Deno.test("imaplib: AUTHENTICATE PLAIN, with a continuation and as SASL-IR", async (t) => {
  await using imap = await startImapServer({ users: ["alice", "bob"] });
  const alice = USERS.alice;
  const bob = USERS.bob;

  await t.step("imaplib's authenticate(): AUTHENTICATE PLAIN, '+', the response", async () => {
    const r = await imaplib([
      { op: "connect", port: imap.imap, tls: "plain" },
      { op: "authenticate", user: alice.address, password: alice.password },
      call("select", "INBOX"),
      { op: "logout" },
    ]);
    assertOk(r[1]);
    assert.match(r[1].wire, /^\+ ?\r\n/, "a continuation asks for the response");
    assertOk(r[2], "SELECT after AUTHENTICATE");
    assertOk(r[3]);
  });

  await t.step("SASL-IR: the initial response on the command line, no continuation", async () => {
    const r = await imaplib([
      { op: "connect", port: imap.imap, tls: "plain" },
      raw(`AUTHENTICATE PLAIN ${plainResponse(bob.address, bob.password)}`),
      raw("SELECT INBOX"),
      { op: "logout" },
    ]);
    assertOk(r[1]);
    assert.doesNotMatch(r[1].wire, /^\+/m, "no continuation with an initial response");
    assert.match(r[1].wire, /^\S+ OK /m);
    assertOk(r[2], "SELECT after SASL-IR");
  });

  await t.step("an authorization identity other than the user is refused", async () => {
    const r = await imaplib([
      { op: "connect", port: imap.imap, tls: "plain" },
      raw(`AUTHENTICATE PLAIN ${plainResponse(alice.address, alice.password, bob.address)}`),
      raw("SELECT INBOX"),
      { op: "logout" },
    ]);
    assert.equal(r[1].typ, "NO", r[1].wire);
    assert.equal(r[2].typ, "BAD", "still not authenticated");
  });

  await t.step("a cancelled exchange ('*') gets BAD, an unknown mechanism NO", async () => {
    const r = await imaplib([
      { op: "connect", port: imap.imap, tls: "plain" },
      raw("AUTHENTICATE PLAIN", { answers: ["*"] }),
      raw("AUTHENTICATE CRAM-MD5"),
      raw("NOOP"),
      { op: "logout" },
    ]);
    assert.equal(r[1].typ, "BAD", r[1].wire);
    assert.equal(r[2].typ, "NO", r[2].wire);
    assertOk(r[3]);
  });
});

Deno.test("imaplib: STARTTLS on the plain listener, and IMAPS", async (t) => {
  await using imap = await startImapServer();
  const alice = USERS.alice;

  await t.step("starttls() upgrades; then no STARTTLS on offer, LOGIN works", async () => {
    const r = await imaplib([
      { op: "connect", port: imap.imap, tls: "plain" },
      { op: "starttls" },
      raw("STARTTLS"),
      call("capability"),
      { op: "login", user: alice.address, password: alice.password },
      call("list"),
      { op: "logout" },
    ]);
    assertOk(r[0]);
    assertOk(r[1]);
    assert.ok(!r[1].capabilities!.includes("STARTTLS"), `${r[1].capabilities}`);
    assert.ok(r[1].capabilities!.includes("AUTH=PLAIN"), `${r[1].capabilities}`);
    assert.equal(r[2].typ, "BAD", `STARTTLS inside TLS: ${r[2].wire}`);
    assertOk(r[3]);
    assertOk(r[4]);
    assertOk(r[5]);
    assert.match(r[5].wire, /^\* LIST \([^)]*\) "\/" INBOX\r\n/m);
    assertOk(r[6]);
  });

  await t.step("STARTTLS after login is refused", async () => {
    const r = await imaplib([...imapLogin(imap.imap), raw("STARTTLS"), call("noop")]);
    assertOk(r[1]);
    assert.equal(r[2].typ, "BAD", r[2].wire);
    assertOk(r[3]);
  });

  await t.step("IMAP4_SSL on the IMAPS listener: no STARTTLS offered, LOGIN, SELECT", async () => {
    const r: ImapResult[] = await imaplib([
      { op: "connect", port: imap.imaps, tls: "ssl" },
      { op: "login", user: alice.address, password: alice.password },
      call("select", "INBOX"),
      call("status", "Sent", "(MESSAGES)"),
      { op: "logout" },
    ]);
    assertOk(r[0]);
    const caps = capsIn(r[0].wire);
    assert.ok(!caps.includes("STARTTLS"), `${caps}`);
    assertHas(caps, ["IMAP4rev2", "AUTH=PLAIN"], "IMAPS greeting");
    assertOk(r[1]);
    assertOk(r[2]);
    assert.deepEqual(r[2].data, ["0"]);
    assertOk(r[3]);
    assert.deepEqual(r[3].data, ["Sent (MESSAGES 0)"]);
    assertOk(r[4]);
  });
});
