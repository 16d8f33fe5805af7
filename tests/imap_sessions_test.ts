/**
 * Several sessions on one mailbox (RFC 9051 §5.2, §7.4.1, §7.5.1), over bare
 * TCP connections: flag changes and expunges made by one session reach the
 * other at its next command (expunges held back during FETCH, STORE and
 * SEARCH), and reach an idling session at once, as do messages delivered
 * over SMTP and messages deleted over POP3.
 */
import assert from "node:assert/strict";
import {
  deliver,
  message,
  pop3Login,
  poplib,
  RawImap,
  startImapServer,
} from "./support/imap_fixture.ts";

function notes(from: number, count: number): Uint8Array[] {
  return Array.from(
    { length: count },
    (_, i) => message({ subject: `note ${from + i}`, body: `note ${from + i}\n` }),
  );
}

/** How soon a change must reach an idling session (issue 7: "within a second"). */
const PROMPT_MS = 1_000;

Deno.test("two sessions: flags and expunges of one reach the other at its next command", async (t) => {
  await using imap = await startImapServer();
  await deliver(imap.smtp, notes(1, 3));
  await using a = await RawImap.login(imap.imap);
  await using b = await RawImap.login(imap.imap);
  assert.equal((await a.command("SELECT INBOX")).status, "OK");
  assert.equal((await b.command("SELECT INBOX")).status, "OK");

  await t.step("a sets a flag; b hears of it at its NOOP", async () => {
    const stored = await a.command("STORE 2 +FLAGS (\\Flagged)");
    assert.equal(stored.status, "OK");
    assert.deepEqual(stored.untagged, ["* 2 FETCH (FLAGS (\\Flagged))"]);
    const noop = await b.command("NOOP");
    assert.equal(noop.status, "OK");
    assert.equal(noop.untagged.length, 1, `${noop.untagged}`);
    assert.match(noop.untagged[0], /^\* 2 FETCH \((UID 2 )?FLAGS \(\\Flagged\)( UID 2)?\)$/);
  });

  await t.step("a expunges; b is not told during FETCH, then told at NOOP", async () => {
    assert.equal((await a.command("STORE 1 +FLAGS.SILENT (\\Deleted)")).status, "OK");
    const expunged = await a.command("EXPUNGE");
    assert.deepEqual(expunged.untagged, ["* 1 EXPUNGE"]);
    const fetch = await b.command("FETCH 2:3 (UID)");
    assert.equal(fetch.status, "OK");
    assert.ok(!fetch.untagged.some((l) => l.includes("EXPUNGE")), `${fetch.untagged}`);
    assert.deepEqual(
      fetch.untagged.filter((l) => / FETCH /.test(l)),
      ["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)"],
      "message numbers stay as they were until the EXPUNGE is sent",
    );
    const noop = await b.command("NOOP");
    assert.ok(noop.untagged.includes("* 1 EXPUNGE"), `${noop.untagged}`);
    const after = await b.command("FETCH 1:* (UID)");
    assert.deepEqual(after.untagged, ["* 1 FETCH (UID 2)", "* 2 FETCH (UID 3)"]);
  });

  await t.step("b stores by UID; a hears of it with the right message number", async () => {
    assert.equal((await b.command("UID STORE 3 +FLAGS (\\Seen)")).status, "OK");
    const noop = await a.command("NOOP");
    assert.equal(noop.untagged.length, 1, `${noop.untagged}`);
    assert.match(noop.untagged[0], /^\* 2 FETCH \(.*FLAGS \(\\Seen\).*\)$/);
  });

  await t.step("a message delivered meanwhile: EXISTS at the next NOOP", async () => {
    await deliver(imap.smtp, notes(4, 1));
    const noop = await b.command("NOOP");
    assert.ok(noop.untagged.includes("* 3 EXISTS"), `${noop.untagged}`);
  });

  await t.step("LOGOUT of one leaves the other working", async () => {
    await b.close();
    const noop = await a.command("NOOP");
    assert.equal(noop.status, "OK");
    assert.ok(noop.untagged.includes("* 3 EXISTS"), `${noop.untagged}`);
  });
});

// A STORE once caught its view up with the mailbox and threw the news away, so the EXISTS of
// a message delivered meanwhile and other sessions' flag changes were never sent.
Deno.test({
  name: "a STORE does not swallow what other sessions changed meanwhile",
  fn: async () => {
    await using imap = await startImapServer();
    await deliver(imap.smtp, notes(1, 2));
    await using a = await RawImap.login(imap.imap);
    await using b = await RawImap.login(imap.imap);
    assert.equal((await a.command("SELECT INBOX")).status, "OK");
    assert.equal((await b.command("SELECT INBOX")).status, "OK");
    await deliver(imap.smtp, notes(3, 1));
    assert.equal((await b.command("STORE 2 +FLAGS (\\Draft)")).status, "OK");
    const seen: string[] = [];
    const stored = await a.command("STORE 1 +FLAGS (\\Answered)");
    seen.push(...stored.untagged);
    seen.push(...(await a.command("NOOP")).untagged);
    assert.ok(seen.includes("* 3 EXISTS"), `a was never told of message 3: ${seen}`);
    assert.ok(seen.some((l) => /^\* 2 FETCH \(.*\\Draft/.test(l)), `nor of b's flag: ${seen}`);
  },
});

// RENAME INBOX moves INBOX's messages away: a session idling on INBOX is told of the expunges
// at once, not at the next poll.
Deno.test({
  name: "IDLE: RENAME INBOX in another session is pushed at once",
  fn: async () => {
    await using imap = await startImapServer();
    await deliver(imap.smtp, notes(1, 2));
    await using a = await RawImap.login(imap.imap);
    await using b = await RawImap.login(imap.imap);
    assert.equal((await b.command("SELECT INBOX")).status, "OK");
    await b.idle();
    assert.equal((await a.command("RENAME INBOX Saved")).status, "OK");
    const { ms } = await b.waitFor(/^\* 1 EXPUNGE$/, 15_000);
    assert.ok(ms < PROMPT_MS, `the expunges came after ${Math.round(ms)} ms`);
    assert.equal((await b.done()).status, "OK");
  },
});

Deno.test("IDLE: SMTP deliveries, POP3 deletions and other sessions' changes are pushed", async (t) => {
  await using imap = await startImapServer();
  await deliver(imap.smtp, notes(1, 2));
  await using a = await RawImap.login(imap.imap);
  await using b = await RawImap.login(imap.imap);
  assert.equal((await a.command("SELECT INBOX")).status, "OK");
  assert.equal((await b.command("SELECT INBOX")).status, "OK");
  await a.idle();

  await t.step("a message delivered over SMTP: EXISTS without a command", async () => {
    await deliver(imap.smtp, notes(3, 1));
    const { ms } = await a.waitFor(/^\* 3 EXISTS$/, 5_000);
    assert.ok(ms < PROMPT_MS, `EXISTS came ${Math.round(ms)} ms after the delivery`);
  });

  await t.step("another session's flag change: FETCH without a command", async () => {
    assert.equal((await b.command("NOOP")).status, "OK");
    assert.equal((await b.command("STORE 3 +FLAGS (\\Flagged)")).status, "OK");
    const { ms, lines } = await a.waitFor(/^\* 3 FETCH \(/, 5_000);
    assert.match(lines.at(-1)!, /FLAGS \(\\Flagged\)/);
    assert.ok(ms < PROMPT_MS, `FETCH came after ${Math.round(ms)} ms`);
  });

  await t.step("POP3 DELE and QUIT: EXPUNGE without a command", async () => {
    const r = await poplib([...pop3Login(imap.pop3), { op: "dele", arg: 1 }, { op: "quit" }]);
    r.forEach((x, i) => assert.ok(x.ok, `POP3 step ${i}: ${x.error}`));
    const { ms } = await a.waitFor(/^\* 1 EXPUNGE$/, 5_000);
    assert.ok(ms < PROMPT_MS, `EXPUNGE came after ${Math.round(ms)} ms`);
  });

  await t.step("another session's EXPUNGE: pushed as well", async () => {
    assert.equal((await b.command("NOOP")).status, "OK");
    assert.equal((await b.command("STORE 2 +FLAGS.SILENT (\\Deleted)")).status, "OK");
    assert.equal((await b.command("EXPUNGE")).status, "OK");
    const { ms } = await a.waitFor(/^\* 2 EXPUNGE$/, 5_000);
    assert.ok(ms < PROMPT_MS, `EXPUNGE came after ${Math.round(ms)} ms`);
  });

  await t.step("DONE ends IDLE; the session is in step", async () => {
    const done = await a.done();
    assert.equal(done.status, "OK", done.text);
    const fetch = await a.command("FETCH 1:* (UID FLAGS)");
    assert.deepEqual(fetch.untagged, ["* 1 FETCH (UID 2 FLAGS (\\Recent))"]);
  });

  await t.step("POP3 sees what IMAP sees", async () => {
    const r = await poplib([...pop3Login(imap.pop3), { op: "stat" }, { op: "quit" }]);
    r.forEach((x, i) => assert.ok(x.ok, `POP3 step ${i}: ${x.error}`));
    assert.equal(r[3].count, 1);
  });
});
