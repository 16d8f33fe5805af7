/**
 * The junk filter learns from what the user does in an IMAP client (Python's
 * imaplib): MOVE into Junk trains spam, MOVE out of it ham (to Trash: no
 * lesson, that is deleting), COPY into Junk trains spam too, the keywords
 * $Junk and $NotJunk set by STORE train as they say, and filing from INBOX
 * or answering trains ham. Read back from the store beside the server.
 */
import assert from "node:assert/strict";
import {
  assertOk,
  bytesArg,
  call,
  imaplib,
  imapLogin,
  type ImapServer,
  message,
  startImapServer,
} from "./support/imap_fixture.ts";
import { withStore } from "./support/server.ts";

/** Subject -> trained side ("spam", "ham") for alice, from the store. */
function trained(imap: ImapServer): Record<string, string> {
  const rows = withStore(imap.server, (store) =>
    store.all<{ body: Uint8Array; spam: number }>(
      `SELECT m.body, t.spam FROM junk_trained t JOIN messages m ON m.id = t.message_id
       JOIN users u ON u.id = t.user_id WHERE u.address = 'alice@localhost'`,
    ));
  const out: Record<string, string> = {};
  for (const r of rows) {
    const subject = /^Subject: (.*)$/m.exec(new TextDecoder().decode(r.body))![1].trim();
    out[subject] = r.spam ? "spam" : "ham";
  }
  return out;
}

/** How often `feature` was counted for alice: [spam, ham]. */
function featureCounts(imap: ImapServer, feature: string): [number, number] {
  const row = withStore(imap.server, (store) =>
    store.get<{ spam: number; ham: number }>(
      `SELECT f.spam, f.ham FROM junk_features f JOIN users u ON u.id = f.user_id
       WHERE u.address = 'alice@localhost' AND f.feature = ?`,
      feature,
    ));
  return row ? [row.spam, row.ham] : [0, 0];
}

Deno.test("imaplib: moving into and out of Junk, and $Junk/$NotJunk, train alice's filter", async () => {
  await using imap = await startImapServer();
  const mail = (n: number, body: string) => bytesArg(message({ subject: `m${n}`, body }));
  const steps = [
    ...imapLogin(imap.imap),
    call("append", "INBOX", null, null, mail(1, "cheap pills winner\n")), // 2
    call("append", "INBOX", null, null, mail(2, "lottery winner claim\n")), // 3
    call("append", "INBOX", null, null, mail(3, "meeting notes attached\n")), // 4
    call("append", "INBOX", null, null, mail(4, "quarterly report\n")), // 5
    call("select", "INBOX"), // 6
    call("uid", "MOVE", "1", "Junk"), // 7: m1 -> spam
    call("uid", "COPY", "2", "Junk"), // 8: m2 -> spam
    call("uid", "STORE", "3", "+FLAGS", "($NotJunk)"), // 9: m3 -> ham
    call("uid", "STORE", "4", "+FLAGS", "($Junk)"), // 10: m4 -> spam
  ];
  const first = await imaplib(steps);
  first.forEach((r, i) => assertOk(r, `step ${i}`));
  assert.deepEqual(trained(imap), { m1: "spam", m2: "spam", m3: "ham", m4: "spam" });
  assert.deepEqual(featureCounts(imap, "winner"), [2, 0]);
  assert.deepEqual(featureCounts(imap, "subject:m1"), [1, 0]);

  const second = await imaplib([
    ...imapLogin(imap.imap),
    call("select", "Junk"), // 2: m1 (uid 1), m2 (uid 2)
    call("uid", "MOVE", "1", "INBOX"), // 3: m1 out of Junk -> ham, its spam taken back
    call("uid", "MOVE", "2", "Trash"), // 4: m2 deleted: still spam
    call("select", "INBOX"), // 5
    call("uid", "STORE", "4", "+FLAGS", "($NotJunk)"), // 6: m4 -> ham
    call("uid", "STORE", "3", "-FLAGS", "($NotJunk)"), // 7: removing teaches nothing
  ]);
  second.forEach((r, i) => assertOk(r, `step ${i}`));
  assert.deepEqual(trained(imap), { m1: "ham", m2: "spam", m3: "ham", m4: "ham" });
  assert.deepEqual(featureCounts(imap, "winner"), [1, 1], "m1 changed sides; m2 stayed");
  assert.deepEqual(featureCounts(imap, "subject:m1"), [0, 1]);
});

Deno.test("imaplib: filing from INBOX and answering train ham; reading, deleting and Sent do not", async () => {
  await using imap = await startImapServer();
  const mail = (n: number) => bytesArg(message({ subject: `f${n}`, body: `note ${n}\n` }));
  const steps = [
    ...imapLogin(imap.imap),
    ...[1, 2, 3, 4, 5, 6].map((n) => call("append", "INBOX", null, null, mail(n))), // 2-7
    call("select", "INBOX"), // 8
    call("uid", "MOVE", "1", "Archive"), // 9: f1 filed -> ham
    call("create", "Projects"), // 10
    call("uid", "COPY", "2", "Projects"), // 11: f2 filed -> ham
    call("uid", "STORE", "3", "+FLAGS", "(\\Answered)"), // 12: f3 answered -> ham
    call("uid", "STORE", "4", "+FLAGS", "(\\Seen)"), // 13: f4 read: nothing
    call("uid", "MOVE", "5", "Trash"), // 14: f5 deleted: nothing
    call("uid", "COPY", "6", "Sent"), // 15: f6 to Sent: nothing
    call("select", "Archive"), // 16
    call("uid", "MOVE", "1", "Junk"), // 17: f1 changes sides -> spam
  ];
  const replies = await imaplib(steps);
  replies.forEach((r, i) => assertOk(r, `step ${i}`));
  assert.deepEqual(trained(imap), { f1: "spam", f2: "ham", f3: "ham" });
  assert.deepEqual(featureCounts(imap, "subject:f1"), [1, 0]);
});
