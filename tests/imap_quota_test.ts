/**
 * IMAP QUOTA (RFC 9208, issue 15) through real clients: Python's imaplib
 * and `npm:imapflow`. The capability, GETQUOTAROOT numbers that move with
 * APPEND, COPY, SMTP deliveries and EXPUNGE (not with MOVE), NO [OVERQUOTA]
 * for an APPEND or COPY that would pass the storage or message limit (and
 * nothing stored), STATUS DELETED-STORAGE, GETQUOTA of an unknown root,
 * SETQUOTA refused, a user without a quota (no root, set with `postino user
 * quota ADDRESS none`), and a user's own quota set in the store taking effect
 * at once.
 *
 * STORAGE is in units of 1024 octets, usage rounded up, the limit down.
 */
import assert from "node:assert/strict";
import { ImapFlow } from "imapflow";
import {
  assertOk,
  b64,
  bytesArg,
  call,
  imaplib,
  imapLogin,
  type ImapResult,
  message,
  raw,
  startImapServer,
  untagged,
  USERS,
} from "./support/imap_fixture.ts";
import { withStore } from "./support/server.ts";
import { setUserQuota } from "../src/store/quota.ts";

const encoder = new TextEncoder();

/** A message of exactly `size` octets (CRLF lines of x's under a small header). */
function sized(size: number, subject: string): Uint8Array {
  const head = message({ subject, body: "" });
  const line = "x".repeat(76) + "\r\n";
  let body = line.repeat(Math.ceil((size - head.length) / line.length) + 1)
    .slice(0, size - head.length);
  if (body.endsWith("\r")) body = body.slice(0, -1) + "x";
  const out = new Uint8Array(size);
  out.set(head);
  out.set(encoder.encode(body), head.length);
  assert.equal(head.length + encoder.encode(body).length, size);
  return out;
}

/** The QUOTAROOT and QUOTA lines a step got. */
function quotaLines(r: ImapResult): string[] {
  return untagged(r.wire).filter((l) => /^\* QUOTA(ROOT)? /.test(l));
}

/** Asserts a tagged NO with response code `code`. */
function assertNo(r: ImapResult, code: string, what = r.op): void {
  assert.ok(r.ok, `${what}: ${r.type} ${r.error}\nwire:\n${r.wire}`);
  assert.equal(r.typ, "NO", `${what}\nwire:\n${r.wire}`);
  assert.match(r.wire, new RegExp(`^\\S+ NO \\[${code}\\] `, "m"), what);
}

/** STATUS items of a raw STATUS step. */
function status(r: ImapResult): Record<string, number> {
  assertOk(r);
  const m = /^\* STATUS \S+ \(([^)]*)\)$/m.exec(r.wire);
  assert.ok(m, `no STATUS in ${r.wire}`);
  const words = m[1].split(" ");
  const out: Record<string, number> = {};
  for (let i = 0; i < words.length; i += 2) out[words[i]] = Number(words[i + 1]);
  return out;
}

Deno.test("imaplib: QUOTA with the configured default (10K, 5 messages)", async (t) => {
  await using imap = await startImapServer({
    env: { POSTINO_QUOTA: "10K", POSTINO_QUOTA_MESSAGES: "5" },
  });
  const [m1, m2, m3] = [sized(2000, "m1"), sized(4000, "m2"), sized(5000, "m3")];
  const r = await imaplib([
    { op: "connect", port: imap.imap, tls: "plain" }, // 0
    { op: "login", user: USERS.alice.address, password: USERS.alice.password }, // 1
    call("capability"), // 2
    call("getquotaroot", "INBOX"), // 3
    call("append", "INBOX", null, null, bytesArg(m1)), // 4
    call("append", "INBOX", null, null, bytesArg(m2)), // 5
    call("getquotaroot", "INBOX"), // 6
    call("append", "INBOX", null, null, bytesArg(m3)), // 7: 6000 + 5000 > 10240
    raw("STATUS INBOX (MESSAGES SIZE)"), // 8
    call("select", "INBOX"), // 9
    call("copy", "1:2", "Archive"), // 10: 6000 + 6000 > 10240
    raw("STATUS Archive (MESSAGES)"), // 11
    call("copy", "1", "Archive"), // 12: 8000
    raw("MOVE 2 Trash"), // 13: 8000 still (a copy would make 12000)
    call("getquotaroot", "Trash"), // 14
    call("select", "Trash"), // 15
    call("store", "1", "+FLAGS", "\\Deleted"), // 16
    raw("STATUS Trash (DELETED DELETED-STORAGE)"), // 17
    call("expunge"), // 18
    call("getquota", '""'), // 19
    call("append", "INBOX", null, null, bytesArg(m3)), // 20: now 9000
    call("getquotaroot", "INBOX"), // 21
    call("append", "INBOX", null, null, bytesArg(sized(300, "tiny 1"))), // 22
    call("append", "INBOX", null, null, bytesArg(sized(300, "tiny 2"))), // 23: the 5th message
    call("append", "INBOX", null, null, bytesArg(sized(300, "tiny 3"))), // 24: a 6th (9900 octets)
    call("getquota", '"nosuch"'), // 25
    call("getquotaroot", "NoSuchBox"), // 26
    call("setquota", '""', "(STORAGE 100000)"), // 27
    call("getquota", '""'), // 28
    raw('GETQUOTAROOT "&AOQ-"'), // 29: mUTF-7 name of a mailbox that does not exist
    { op: "logout" },
  ]);

  await t.step("CAPABILITY after login lists QUOTA, RES-STORAGE, RES-MESSAGE, no QUOTASET", () => {
    assertOk(r[2]);
    const caps = r[2].data![0].split(" ");
    for (const c of ["QUOTA", "QUOTA=RES-STORAGE", "QUOTA=RES-MESSAGE"]) {
      assert.ok(caps.includes(c), `${c} in ${caps}`);
    }
    assert.ok(!caps.includes("QUOTASET"), `${caps}`);
    assert.ok(!r[0].capabilities!.includes("QUOTA"), `before login: ${r[0].capabilities}`);
  });

  await t.step('GETQUOTAROOT: the root "" with STORAGE (KiB) and MESSAGE', () => {
    assertOk(r[3]);
    assert.deepEqual(quotaLines(r[3]), [
      '* QUOTAROOT INBOX ""',
      '* QUOTA "" (STORAGE 0 10 MESSAGE 0 5)',
    ]);
    // imaplib's reading of it.
    assert.deepEqual(r[3].data, [['INBOX ""'], ['"" (STORAGE 0 10 MESSAGE 0 5)']]);
  });

  await t.step("usage moves with APPEND, rounded up to KiB (6000 octets: 6)", () => {
    assertOk(r[4]);
    assertOk(r[5]);
    assert.deepEqual(quotaLines(assertOk(r[6])), [
      '* QUOTAROOT INBOX ""',
      '* QUOTA "" (STORAGE 6 10 MESSAGE 2 5)',
    ]);
  });

  await t.step("APPEND over the storage quota: NO [OVERQUOTA], nothing stored", () => {
    assertNo(r[7], "OVERQUOTA", "APPEND of 5000 octets at 6000 of 10240");
    assert.deepEqual(status(r[8]), { MESSAGES: 2, SIZE: 6000 });
  });

  await t.step("COPY over the quota: NO [OVERQUOTA], nothing copied; a COPY that fits: OK", () => {
    assertOk(r[9]);
    assertNo(r[10], "OVERQUOTA", "COPY 1:2 (6000 octets) at 6000 of 10240");
    assert.deepEqual(status(r[11]), { MESSAGES: 0 });
    assertOk(r[12], "COPY 1 (2000 octets)");
    assert.match(r[12].wire, /OK \[COPYUID /);
  });

  await t.step("MOVE within the account changes no usage, so it passes near the limit", () => {
    assertOk(r[13], "MOVE 2 Trash");
    assert.deepEqual(quotaLines(assertOk(r[14])), [
      '* QUOTAROOT Trash ""',
      '* QUOTA "" (STORAGE 8 10 MESSAGE 3 5)',
    ]);
  });

  await t.step("STATUS DELETED-STORAGE, then EXPUNGE lowers the usage", () => {
    assertOk(r[15]);
    assertOk(r[16]);
    // 4000 octets flagged \Deleted: 4 KiB, rounded up.
    assert.deepEqual(status(r[17]), { DELETED: 1, "DELETED-STORAGE": 4 });
    assertOk(r[18]);
    assert.deepEqual(quotaLines(assertOk(r[19])), ['* QUOTA "" (STORAGE 4 10 MESSAGE 2 5)']);
  });

  await t.step("the APPEND refused before now fits", () => {
    assertOk(r[20]);
    assert.match(r[20].wire, /OK \[APPENDUID /);
    assert.deepEqual(quotaLines(assertOk(r[21])), [
      '* QUOTAROOT INBOX ""',
      '* QUOTA "" (STORAGE 9 10 MESSAGE 3 5)',
    ]);
  });

  await t.step("the message limit: the 5th message is taken, a 6th gets NO [OVERQUOTA]", () => {
    assertOk(r[22]);
    assertOk(r[23]);
    assertNo(r[24], "OVERQUOTA", "a 6th message, with room for its octets");
    assert.deepEqual(quotaLines(assertOk(r[28])), ['* QUOTA "" (STORAGE 10 10 MESSAGE 5 5)']);
  });

  await t.step("GETQUOTA of an unknown root and GETQUOTAROOT of an unknown mailbox: NO", () => {
    assertNo(r[25], "NONEXISTENT", 'GETQUOTA "nosuch"');
    assert.deepEqual(quotaLines(r[25]), []);
    assertNo(r[26], "NONEXISTENT", "GETQUOTAROOT NoSuchBox");
    assert.deepEqual(quotaLines(r[26]), []);
    assert.equal(r[29].typ, "NO", r[29].wire);
    assert.match(r[29].wire, /NO \[NONEXISTENT\] No such mailbox: ä/);
  });

  await t.step("SETQUOTA is refused with NO [NOPERM] and changes nothing", () => {
    assertNo(r[27], "NOPERM", "SETQUOTA");
    assert.match(quotaLines(r[28])[0], /STORAGE 10 10 /);
  });

  assertOk(r[30]);
});

Deno.test("imaplib: a user without a quota, a user's own quota, SMTP deliveries", async (t) => {
  await using imap = await startImapServer({
    users: ["alice", "bob"],
    env: { POSTINO_QUOTA: "1M" },
  });
  const none = await imap.server.cli(["user", "quota", USERS.bob.address, "none"]);
  assert.equal(none.code, 0, none.stderr);
  const delivered = message({ subject: "over SMTP", body: "counted like any other\n" });
  const big = sized(1536 * 1024, "bigger than the default quota");
  const r = await imaplib([
    ...imapLogin(imap.imap, "alice", "a"), // 0, 1
    { s: "a", ...call("getquotaroot", "INBOX") }, // 2
    { op: "smtp", port: imap.smtp, recipients: [USERS.alice.address], message_b64: b64(delivered) }, // 3
    { s: "a", ...call("getquotaroot", "INBOX") }, // 4
    { s: "a", ...raw("STATUS INBOX (SIZE)") }, // 5
    ...imapLogin(imap.imap, "bob", "b"), // 6, 7
    { s: "b", ...call("getquotaroot", "INBOX") }, // 8
    { s: "b", ...call("getquota", '""') }, // 9
    { s: "b", ...call("append", "INBOX", null, null, bytesArg(big)) }, // 10
    { s: "b", ...raw("GETQUOTAROOT Sent") }, // 11
  ]);

  await t.step("a delivery over SMTP moves the usage like an APPEND", () => {
    assert.deepEqual(quotaLines(assertOk(r[2])), [
      '* QUOTAROOT INBOX ""',
      '* QUOTA "" (STORAGE 0 1024)',
    ]);
    assertOk(r[3]);
    const size = status(r[5]).SIZE;
    assert.ok(size > delivered.length, `stored ${size} octets, trace fields included`);
    assert.deepEqual(quotaLines(assertOk(r[4])), [
      '* QUOTAROOT INBOX ""',
      `* QUOTA "" (STORAGE ${Math.ceil(size / 1024)} 1024)`,
    ]);
  });

  await t.step('a user with no quota: QUOTAROOT lists no root, no QUOTA, GETQUOTA "" NO', () => {
    assert.deepEqual(quotaLines(assertOk(r[8])), ["* QUOTAROOT INBOX"]);
    assert.deepEqual(r[8].data, [["INBOX"], [null]]);
    assertNo(r[9], "NONEXISTENT", 'GETQUOTA "" without a quota');
    assertOk(r[10], "APPEND of 1.5 MiB past the default of 1M");
    assert.deepEqual(quotaLines(assertOk(r[11])), ["* QUOTAROOT Sent"]);
  });

  await t.step("a user's own quota, set in the store, applies at the next command", async () => {
    withStore(imap.server, (store) => {
      assert.ok(setUserQuota(store, USERS.alice.address, 2048 + 1023)); // 2 KiB and a bit
      assert.ok(setUserQuota(store, USERS.bob.address, "default"));
    });
    const again = await imaplib([
      ...imapLogin(imap.imap, "alice"),
      call("getquotaroot", "INBOX"), // 2
      call("append", "INBOX", null, null, bytesArg(sized(3000, "past 3071 octets"))), // 3
      ...imapLogin(imap.imap, "bob", "b"),
      { s: "b", ...call("getquota", '""') }, // 6
      { s: "b", ...call("append", "INBOX", null, null, bytesArg(sized(300, "small"))) }, // 7
    ]);
    const used = Math.ceil(status(r[5]).SIZE / 1024);
    // The limit, 3071 octets, rounded down to 2 KiB.
    assert.deepEqual(quotaLines(assertOk(again[2])), [
      '* QUOTAROOT INBOX ""',
      `* QUOTA "" (STORAGE ${used} 2)`,
    ]);
    assertNo(again[3], "OVERQUOTA", "APPEND past alice's own quota");
    // Bob back on the default, 1M, with 1.5 MiB stored: over it, so even 300 octets are refused.
    assert.deepEqual(quotaLines(assertOk(again[6])), ['* QUOTA "" (STORAGE 1536 1024)']);
    assertNo(again[7], "OVERQUOTA", "APPEND when already over the quota");
  });
});

Deno.test("imapflow: getQuota() reads STORAGE and MESSAGE", async () => {
  await using imap = await startImapServer({
    env: { POSTINO_QUOTA: "64K", POSTINO_QUOTA_MESSAGES: "100" },
  });
  const client = new ImapFlow({
    host: "127.0.0.1",
    port: imap.imap,
    secure: false,
    doSTARTTLS: false,
    auth: { user: USERS.alice.address, pass: USERS.alice.password },
    logger: false,
  });
  await client.connect();
  try {
    await client.append("INBOX", sized(3000, "for imapflow"));
    const quota = await client.getQuota("INBOX");
    assert.ok(quota, "getQuota() gave nothing");
    assert.equal(quota.path, "INBOX");
    // imapflow gives STORAGE in octets: the KiB we sent, times 1024.
    assert.equal(quota.storage?.usage, 3 * 1024);
    assert.equal(quota.storage?.limit, 64 * 1024);
    // imapflow keeps no empty root name: quotaRoot stays unset for the root "".
    assert.equal(quota.message?.usage, 1);
    assert.equal(quota.message?.limit, 100);
  } finally {
    await client.logout();
  }
});
