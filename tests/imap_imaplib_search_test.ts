/**
 * SEARCH, COPY, MOVE, EXPUNGE, CLOSE and UNSELECT with Python's imaplib, on
 * the corpus of imap_corpus.ts (message n has uid n + 1): search keys of
 * every kind with OR/NOT nesting, UID SEARCH, COPYUID, MOVE to Archive,
 * UID EXPUNGE next to EXPUNGE, CLOSE expunging silently and UNSELECT not.
 */
import assert from "node:assert/strict";
import { seedInbox } from "./support/imap_corpus.ts";
import {
  assertOk,
  bytesArg,
  call,
  imaplib,
  imapLogin,
  message,
  raw,
  startImapServer,
  untagged,
} from "./support/imap_fixture.ts";

/** Each criteria string and the message numbers it must find (with the flags set below). */
const SEARCHES: [string, string][] = [
  ["ALL", "1 2 3 4"],
  ["UNSEEN", "2 3"],
  ["SEEN", "1 4"],
  ["FLAGGED", "3"],
  ["KEYWORD $Work", "3"],
  ["UNKEYWORD $Work", "1 2 4"],
  ["FROM bob", "2"],
  ['FROM "Alice Example"', "1"],
  ["FROM alice", "1 3"],
  ["SUBJECT report", "1"],
  ["SUBJECT LUNCH", "2"],
  ["TO alice@localhost", "1 2 4"],
  ["BODY pizza", "2"],
  ["BODY noon", "2 3"],
  ["TEXT Quarterly", "1"],
  ["TEXT numbers", "1"],
  ["TEXT example.org", "3"],
  ["SINCE 1-Jan-2021", "2 3 4"],
  ["BEFORE 1-Jan-2021", "1"],
  ["ON 15-Jun-2021", "2"],
  ["SINCE 1-Mar-2026", "3"],
  ['SENTON "2-Mar-2026"', "1 2 4"],
  ["SENTBEFORE 1-Jan-2026", ""],
  ["LARGER 5000", "4"],
  ["SMALLER 1000", "1 2 3"],
  ["UID 3:4", "2 3"],
  ["UID 4:*", "3 4"],
  ["2,4", "2 4"],
  ["2:*", "2 3 4"],
  ["OR FROM bob SUBJECT report", "1 2"],
  ["NOT (OR FROM bob LARGER 5000)", "1 3"],
  ["OR (FROM alice UNSEEN) (SUBJECT big NOT FLAGGED)", "3 4"],
  ["NOT NOT FROM bob", "2"],
  ["(OR (OR SUBJECT lunch SUBJECT big) (NOT (OR SEEN FLAGGED))) SMALLER 1000", "2"],
  ["HEADER Message-ID <alt.1@example.org>", "3"],
  ["HEADER X-Mailer Postino", "2"],
  ['HEADER X-Mailer ""', "2"],
  ["CHARSET UTF-8 SUBJECT report", "1"],
  ["UNDELETED UNDRAFT UNANSWERED", "1 2 3 4"],
];

Deno.test("imaplib: SEARCH and UID SEARCH", async (t) => {
  await using imap = await startImapServer();
  await seedInbox(imap.imap);
  const r = await imaplib([
    ...imapLogin(imap.imap),
    call("select", "INBOX"), // 2
    // Known flags: 1 \Seen, 2 none, 3 \Flagged $Work, 4 \Seen.
    call("store", "4", "FLAGS", "(\\Seen)"), // 3
    ...SEARCHES.map(([criteria]) => call("search", null, criteria)), // 4...
    call("uid", "SEARCH", "FROM bob"), // -7
    call("uid", "SEARCH", "ALL"), // -6
    call("uid", "SEARCH", "UID 3:4"), // -5
    raw("SEARCH FROM"), // -4
    raw("SEARCH BEFORE 31-Feb-2021"), // -3
    raw("SEARCH CHARSET KOI8-R ALL"), // -2
    { op: "logout" },
  ]);
  for (let i = 0; i <= 3; i++) assertOk(r[i], `step ${i}`);
  const n = r.length;

  await t.step("every kind of key, and OR/NOT nesting", () => {
    const wrong: string[] = [];
    for (const [i, [criteria, want]] of SEARCHES.entries()) {
      const got = r[4 + i];
      if (!got.ok || got.typ !== "OK" || got.data![0] !== want) {
        wrong.push(
          `SEARCH ${criteria}: want "${want}", got ${got.typ} ${got.error ?? ""} ` +
            `${JSON.stringify(got.data)}`,
        );
      }
    }
    assert.deepEqual(wrong, []);
  });

  await t.step("UID SEARCH answers with uids", () => {
    assert.deepEqual(assertOk(r[n - 7]).data, ["3"]);
    assert.deepEqual(assertOk(r[n - 6]).data, ["2 3 4 5"]);
    assert.deepEqual(assertOk(r[n - 5]).data, ["3 4"]);
    assert.match(r[n - 7].wire, /^\* SEARCH 3\r$/m, "IMAP4rev1: a SEARCH response");
  });

  await t.step("malformed keys get BAD; an unknown charset NO [BADCHARSET]", () => {
    assert.equal(r[n - 4].typ, "BAD", r[n - 4].wire);
    assert.equal(r[n - 3].typ, "BAD", r[n - 3].wire);
    assert.equal(r[n - 2].typ, "NO", r[n - 2].wire);
    assert.match(r[n - 2].wire, /NO \[BADCHARSET/);
    assertOk(r[n - 1]);
  });
});

Deno.test("imaplib: COPY, MOVE to Archive, EXPUNGE, UID EXPUNGE, CLOSE and UNSELECT", async (t) => {
  await using imap = await startImapServer();
  await seedInbox(imap.imap);

  await t.step("COPY answers COPYUID and keeps the source", async () => {
    const r = await imaplib([
      ...imapLogin(imap.imap),
      call("status", "Trash", "(UIDVALIDITY)"), // 2
      call("select", "INBOX"), // 3
      call("copy", "2", "Trash"), // 4
      call("copy", "1:2", "Junk"), // 5
      call("copy", "1", "Nope"), // 6
      call("noop"), // 7
      call("status", "Trash", "(MESSAGES)"), // 8
      call("status", "Junk", "(MESSAGES)"), // 9
      { op: "logout" },
    ]);
    for (const i of [0, 1, 2, 3, 4, 5, 7, 8, 9, 10]) assertOk(r[i], `step ${i}`);
    const uidvalidity = /UIDVALIDITY (\d+)/.exec(r[2].data![0])![1];
    assert.match(r[4].wire, new RegExp(`OK \\[COPYUID ${uidvalidity} 3 1\\] `));
    assert.match(r[5].wire, /OK \[COPYUID \d+ 2:3 1:2\] /);
    assert.equal(r[6].typ, "NO", r[6].wire);
    assert.match(r[6].wire, /NO \[TRYCREATE\] /);
    assert.doesNotMatch(r[7].wire, /EXPUNGE/);
    assert.deepEqual(r[8].data, ["Trash (MESSAGES 1)"]);
    assert.deepEqual(r[9].data, ["Junk (MESSAGES 2)"]);
  });

  await t.step(
    "UID MOVE to Archive: COPYUID, EXPUNGE; Archive gains it, with its flags",
    async () => {
      const r = await imaplib([
        ...imapLogin(imap.imap),
        call("select", "INBOX"), // 2
        call("uid", "MOVE", "4", "Archive"), // 3: message 3, the MIME fixture
        call("status", "Archive", "(MESSAGES)"), // 4
        call("search", null, "ALL"), // 5
        call("uid", "SEARCH", "ALL"), // 6
        call("select", "Archive"), // 7
        call("fetch", "1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), // 8
        raw("MOVE 1 INBOX"), // 9: back, with a plain MOVE
        call("select", "INBOX"), // 10
        call("uid", "SEARCH", "SUBJECT Alternative"), // 11
        { op: "logout" },
      ]);
      r.forEach((x, i) => assertOk(x, `step ${i}`));
      const lines = untagged(r[3].wire);
      assert.match(lines[0] ?? "", /^\* OK \[COPYUID \d+ 4 1\]/, r[3].wire);
      assert.ok(lines.includes("* 3 EXPUNGE"), r[3].wire);
      assert.deepEqual(r[4].data, ["Archive (MESSAGES 1)"]);
      assert.deepEqual(r[5].data, ["1 2 3"]);
      assert.deepEqual(r[6].data, ["2 3 5"]);
      // IMAP4rev1: this session is the first to see the message in Archive, so it is \Recent.
      assert.match(r[8].wire, /FLAGS \(\\Flagged \$Work( \\Recent)?\)/);
      assert.match(r[8].wire, /Subject: Alternative\r\n/);
      assert.match(r[9].wire, /^\* OK \[COPYUID \d+ 1 6\]/m, "INBOX gives it a new uid, 6");
      assert.ok(untagged(r[9].wire).includes("* 1 EXPUNGE"), r[9].wire);
      assert.deepEqual(r[10].data, ["4"]);
      assert.deepEqual(r[11].data, ["6"]);
    },
  );

  await t.step(
    "UID EXPUNGE removes only the uids named; EXPUNGE the rest of \\Deleted",
    async () => {
      // INBOX now: 1 uid 2, 2 uid 3, 3 uid 5, 4 uid 6.
      const r = await imaplib([
        ...imapLogin(imap.imap),
        call("select", "INBOX"), // 2
        call("store", "1:2", "+FLAGS.SILENT", "(\\Deleted)"), // 3
        raw("UID EXPUNGE 3"), // 4
        call("uid", "SEARCH", "ALL"), // 5
        call("expunge"), // 6
        call("uid", "SEARCH", "ALL"), // 7
        raw("UID EXPUNGE 5:6"), // 8: none is \Deleted
        call("uid", "SEARCH", "ALL"), // 9
        { op: "logout" },
      ]);
      r.forEach((x, i) => assertOk(x, `step ${i}`));
      assert.deepEqual(untagged(r[4].wire), ["* 2 EXPUNGE"]);
      assert.deepEqual(r[5].data, ["2 5 6"]);
      assert.deepEqual(r[6].data, ["1"]);
      assert.deepEqual(r[7].data, ["5 6"]);
      assert.deepEqual(untagged(r[8].wire), []);
      assert.deepEqual(r[9].data, ["5 6"]);
    },
  );

  await t.step("CLOSE expunges silently; UNSELECT does not expunge", async () => {
    const r = await imaplib([
      ...imapLogin(imap.imap),
      call("select", "INBOX"), // 2
      call("store", "1", "+FLAGS", "(\\Deleted)"), // 3
      call("close"), // 4
      call("status", "INBOX", "(MESSAGES)"), // 5
      raw("FETCH 1 (FLAGS)"), // 6: nothing selected now
      call("select", "INBOX"), // 7
      call("store", "1", "+FLAGS", "(\\Deleted)"), // 8
      call("unselect"), // 9
      call("status", "INBOX", "(MESSAGES)"), // 10
      call("select", "INBOX"), // 11
      call("fetch", "1", "(FLAGS)"), // 12
      raw("FETCH 1 (FLAGS"), // 13
      raw("FETCH 7 (FLAGS)"), // 14
      raw("COPY 1"), // 15
      call("noop"), // 16
      { op: "logout" },
    ]);
    for (const i of [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 16, 17]) assertOk(r[i], `step ${i}`);
    assert.doesNotMatch(r[4].wire, /EXPUNGE/, "CLOSE sends no EXPUNGE");
    assert.deepEqual(r[5].data, ["INBOX (MESSAGES 1)"]);
    assert.equal(r[6].typ, "BAD", r[6].wire);
    assert.deepEqual(r[10].data, ["INBOX (MESSAGES 1)"]);
    assert.deepEqual(r[12].data, ["1 (FLAGS (\\Flagged \\Deleted $Work))"]);
    for (const i of [13, 14, 15]) assert.equal(r[i].typ, "BAD", `step ${i}: ${r[i].wire}`);
  });
});

// RFC 9051 §6.4.4 compares the Date header's date "disregarding time and timezone", that is
// the date as written (as Dovecot does), not the UTC day.
Deno.test({
  name: "imaplib: SENTON/SENTSINCE/SENTBEFORE use the date as written in the Date header",
  fn: async () => {
    await using imap = await startImapServer();
    const evening = message({
      subject: "evening",
      body: "x\n",
      date: "Thu, 05 Mar 2026 22:30:00 -0500",
    });
    const morning = message({
      subject: "morning",
      body: "y\n",
      date: "Fri, 06 Mar 2026 01:00:00 +0200",
    });
    const r = await imaplib([
      ...imapLogin(imap.imap),
      call("append", "INBOX", null, null, bytesArg(evening)), // 2
      call("append", "INBOX", null, null, bytesArg(morning)), // 3
      call("select", "INBOX"), // 4
      call("search", null, "SENTON 5-Mar-2026"), // 5
      call("search", null, "SENTON 6-Mar-2026"), // 6
      call("search", null, "SENTSINCE 6-Mar-2026"), // 7
      call("search", null, "SENTBEFORE 6-Mar-2026"), // 8
      { op: "logout" },
    ]);
    r.forEach((x, i) => assertOk(x, `step ${i}`));
    assert.deepEqual(
      [r[5].data, r[6].data, r[7].data, r[8].data],
      [["1"], ["2"], ["2"], ["1"]],
    );
  },
});
