/**
 * APPEND, FETCH and STORE with Python's imaplib: APPEND with flags and an
 * internal date (APPENDUID; synchronising and LITERAL+ literals), FETCH of
 * FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE and body
 * sections (compared with Dovecot's answers for a MIME fixture), partial
 * fetches, \Seen set by BODY[] and not by BODY.PEEK, and STORE in its forms.
 */
import assert from "node:assert/strict";
import { CORPUS, dovecotAnswers, seedInbox } from "./support/imap_corpus.ts";
import {
  assertOk,
  call,
  imaplib,
  imapLogin,
  type ImapResult,
  raw,
  startImapServer,
  untagged,
} from "./support/imap_fixture.ts";

const decoder = new TextDecoder();
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An IMAP date-time ("15-Jun-2021 12:00:00 +0200") as milliseconds since the epoch. */
function instant(dateTime: string): number {
  const m = /^ ?(\d{1,2})-(\w{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$/.exec(dateTime);
  assert.ok(m, `not a date-time: ${dateTime}`);
  const offset = (m[7] === "-" ? -1 : 1) * (Number(m[8]) * 60 + Number(m[9]));
  return Date.UTC(+m[3], MONTHS.indexOf(m[2]), +m[1], +m[4], +m[5], +m[6]) - offset * 60_000;
}

/** The one untagged FETCH line of a step for message `seq`. */
function fetchLine(r: ImapResult, seq: number): string {
  const lines = untagged(r.wire).filter((l) => l.startsWith(`* ${seq} FETCH `));
  assert.equal(lines.length, 1, `one FETCH for ${seq}: ${r.wire}`);
  return lines[0];
}

/** A step's wire without its final (tagged) line: the untagged responses, literals and all. */
function beforeTagged(wire: string): string {
  return wire.replace(/[^\r\n]*\r\n$/, "");
}

/** The literal imaplib read for the first message of a FETCH. */
function literalOf(r: ImapResult): string {
  assertOk(r);
  const first = r.data![0];
  assert.ok(Array.isArray(first), `no literal in ${JSON.stringify(r.data)}`);
  return first[1];
}

Deno.test("imaplib: FETCH of attributes, structure and sections; \\Seen; partial fetches", async (t) => {
  await using imap = await startImapServer();
  await seedInbox(imap.imap);
  const big = decoder.decode(CORPUS[3].bytes);
  const alternative = dovecotAnswers("alternative");
  const r = await imaplib([
    ...imapLogin(imap.imap),
    call("select", "INBOX"), // 2
    call("fetch", "1:4", "(FLAGS UID INTERNALDATE RFC822.SIZE)"), // 3
    call("fetch", "1", "(ENVELOPE)"), // 4
    call("fetch", "1", "(BODYSTRUCTURE)"), // 5
    call("fetch", "1", "(BODY.PEEK[HEADER.FIELDS (From Subject)])"), // 6
    call("fetch", "2", "(FLAGS)"), // 7
    call("fetch", "2", "(BODY[TEXT])"), // 8
    call("fetch", "2", "(FLAGS)"), // 9
    call("fetch", "4", "(BODY.PEEK[])"), // 10
    call("fetch", "4", "(FLAGS)"), // 11
    call("fetch", "4", "(BODY[]<0.10>)"), // 12
    call("fetch", "4", "(FLAGS)"), // 13
    call("fetch", "4", "(BODY.PEEK[]<10.20>)"), // 14
    call("fetch", "4", "(BODY.PEEK[]<999999.10>)"), // 15
    call("uid", "FETCH", "5", "(FLAGS)"), // 16
    call("fetch", "1:*", "FAST"), // 17
    // Message 3 is the MIME fixture: every item Dovecot was asked, in turn (18...).
    ...alternative.map((a) => call("fetch", "3", `(${a.request})`)),
    { op: "logout" },
  ]);
  r.slice(0, 18).forEach((x, i) => assertOk(x, `step ${i}`));

  await t.step("SELECT sees the four messages, none \\Recent any more", () => {
    assert.deepEqual(r[2].data, ["4"]);
    assert.ok(untagged(r[2].wire).includes("* 0 RECENT"), r[2].wire);
  });

  await t.step("FLAGS, UID, INTERNALDATE and RFC822.SIZE of every message", () => {
    const flags = ["(\\Seen)", "()", "(\\Flagged $Work)", "(\\Draft)"];
    for (const [i, m] of CORPUS.entries()) {
      const line = fetchLine(r[3], i + 1);
      assert.ok(line.includes(`FLAGS ${flags[i]}`), `${line}`);
      assert.ok(line.includes(` UID ${i + 2}`), `${line}`);
      assert.ok(line.includes(` RFC822.SIZE ${m.bytes.length}`), `${line}`);
      const date = /INTERNALDATE "([^"]+)"/.exec(line);
      assert.ok(date, line);
      assert.equal(instant(date[1]), instant(m.date), `internal date of ${i + 1}: ${line}`);
    }
  });

  await t.step("ENVELOPE of a plain message", () => {
    assert.equal(
      fetchLine(r[4], 1),
      `* 1 FETCH (ENVELOPE ("Mon, 02 Mar 2026 10:00:00 +0000" "Quarterly report" ` +
        `(("Alice Example" NIL "alice" "remote.example")) ` +
        `(("Alice Example" NIL "alice" "remote.example")) ` +
        `(("Alice Example" NIL "alice" "remote.example")) ` +
        `((NIL NIL "alice" "localhost")) NIL NIL NIL ` +
        `"${/Message-ID: (\S+)/.exec(decoder.decode(CORPUS[0].bytes))![1]}"))`,
    );
  });

  await t.step("BODYSTRUCTURE of a plain message: text/plain, us-ascii, 7bit, size, lines", () => {
    assert.match(
      fetchLine(r[5], 1),
      /^\* 1 FETCH \(BODYSTRUCTURE \("text" "plain" \("charset" "us-ascii"\) NIL NIL "7bit" 21 1( |\))/i,
    );
  });

  await t.step(
    "BODY.PEEK[HEADER.FIELDS (From Subject)]: just those fields and the blank line",
    () => {
      assert.match(r[6].data![0][0], /^1 \(BODY\[HEADER\.FIELDS \(FROM SUBJECT\)\] \{\d+\}$/);
      assert.equal(
        literalOf(r[6]),
        'From: "Alice Example" <alice@remote.example>\r\nSubject: Quarterly report\r\n\r\n',
      );
    },
  );

  await t.step("BODY[TEXT] gives the body and sets \\Seen (announced in the same FETCH)", () => {
    assert.deepEqual(r[7].data, ["2 (FLAGS ())"]);
    assert.equal(literalOf(r[8]), "Pizza at noon, Bob\r\n");
    assert.match(r[8].wire, /\\Seen/);
    assert.deepEqual(r[9].data, ["2 (FLAGS (\\Seen))"]);
  });

  await t.step("BODY.PEEK[] gives the whole message and leaves \\Seen alone", () => {
    assert.equal(literalOf(r[10]), big);
    assert.deepEqual(r[11].data, ["4 (FLAGS (\\Draft))"]);
  });

  await t.step("BODY[]<0.10> gives the first ten octets, labelled <0>, and sets \\Seen", () => {
    assert.match(r[12].data![0][0], /BODY\[\]<0> \{10\}$/);
    assert.equal(literalOf(r[12]), big.slice(0, 10));
    assert.deepEqual(r[13].data, ["4 (FLAGS (\\Seen \\Draft))"]);
  });

  await t.step("a partial from the middle, and one past the end (empty)", () => {
    assert.match(r[14].data![0][0], /BODY\[\]<10> \{20\}$/);
    assert.equal(literalOf(r[14]), big.slice(10, 30));
    assert.match(r[15].wire, /BODY\[\]<999999> (\{0\}\r\n|"")\)/);
  });

  await t.step("UID FETCH names messages by uid and always includes UID", () => {
    assert.match(fetchLine(r[16], 4), /UID 5/);
  });

  await t.step("the FAST macro: FLAGS INTERNALDATE RFC822.SIZE", () => {
    for (let seq = 1; seq <= 4; seq++) {
      assert.match(fetchLine(r[17], seq), /FLAGS \(.*INTERNALDATE ".*RFC822\.SIZE \d+/);
    }
  });

  await t.step("the MIME fixture answers as Dovecot does, item by item", () => {
    for (const [i, a] of alternative.entries()) {
      assertOk(r[18 + i], `FETCH 3 (${a.request})`);
      const want = `* 3 FETCH ${a.response.replace(/^1 /, "")}\r\n`;
      assert.equal(beforeTagged(r[18 + i].wire), want, `FETCH 3 (${a.request})`);
    }
  });
});

Deno.test("imaplib: STORE +FLAGS, -FLAGS, FLAGS, .SILENT and keywords", async () => {
  await using imap = await startImapServer();
  await seedInbox(imap.imap);
  const r = await imaplib([
    ...imapLogin(imap.imap),
    call("select", "INBOX"), // 2
    call("store", "1", "+FLAGS", "(\\Flagged)"), // 3
    call("store", "1", "-FLAGS", "(\\Seen)"), // 4
    call("store", "1", "FLAGS", "(\\Answered $Label)"), // 5
    call("store", "1", "+FLAGS.SILENT", "(\\Draft)"), // 6
    call("fetch", "1", "(FLAGS)"), // 7
    call("store", "2:3", "+FLAGS", "($Shared)"), // 8
    call("uid", "STORE", "4", "-FLAGS", "($Work)"), // 9
    call("store", "1:4", "-FLAGS.SILENT", "($Shared)"), // 10
    call("fetch", "1:4", "(FLAGS)"), // 11
    raw("STORE 1 +FLAGS (\\Seen"), // 12
    raw("STORE 9 +FLAGS (\\Seen)"), // 13
    call("noop"), // 14
    { op: "logout" },
  ]);
  for (let i = 0; i <= 11; i++) assertOk(r[i], `step ${i}`);
  assert.deepEqual(r[3].data, ["1 (FLAGS (\\Seen \\Flagged))"]);
  assert.deepEqual(r[4].data, ["1 (FLAGS (\\Flagged))"]);
  assert.deepEqual(r[5].data, ["1 (FLAGS (\\Answered $Label))"]);
  assert.equal(untagged(r[6].wire).length, 0, `.SILENT sends no FETCH: ${r[6].wire}`);
  assert.deepEqual(r[7].data, ["1 (FLAGS (\\Answered \\Draft $Label))"]);
  assert.deepEqual(r[8].data, ["2 (FLAGS ($Shared))", "3 (FLAGS (\\Flagged $Work $Shared))"]);
  assert.match(r[9].wire, /^\* 3 FETCH \((?=.*UID 4)(?=.*FLAGS \(\\Flagged \$Shared\)).*\)\r$/m);
  assert.equal(untagged(r[10].wire).length, 0, r[10].wire);
  assert.deepEqual(r[11].data, [
    "1 (FLAGS (\\Answered \\Draft $Label))",
    "2 (FLAGS ())",
    "3 (FLAGS (\\Flagged))",
    "4 (FLAGS (\\Draft))",
  ]);
  assert.equal(r[12].typ, "BAD", r[12].wire);
  assert.equal(r[13].typ, "BAD", `a message number past the end: ${r[13].wire}`);
  assertOk(r[14], "the session goes on");
  assertOk(r[15]);
});
