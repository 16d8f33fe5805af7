/**
 * CONDSTORE and QRESYNC (RFC 7162) and IMAP4rev2 mode, over bare TCP: MODSEQ
 * in FETCH, HIGHESTMODSEQ, FETCH (CHANGEDSINCE), STORE (UNCHANGEDSINCE)
 * answered [MODIFIED], SEARCH MODSEQ, a QRESYNC SELECT after changes made
 * elsewhere (VANISHED (EARLIER) and the changed flags), VANISHED pushed
 * during IDLE; ENABLE IMAP4rev2 with ESEARCH and SEARCHRES.
 */
import assert from "node:assert/strict";
import { message, RawImap, startImapServer } from "./support/imap_fixture.ts";

function note(n: number): Uint8Array {
  return message({ subject: `note ${n}`, body: `note ${n}\n` });
}

/** The number in a `[NAME n]` response code (or `NAME n` item) among lines. */
function numberAfter(lines: string[], name: string): number {
  for (const line of lines) {
    const m = new RegExp(`${name} (\\d+)`).exec(line);
    if (m) return Number(m[1]);
  }
  throw new Error(`no ${name} in ${lines.join(" | ")}`);
}

/** The MODSEQ of a FETCH line. */
function modseqOf(line: string): number {
  const m = /MODSEQ \((\d+)\)/.exec(line);
  assert.ok(m, `no MODSEQ in ${line}`);
  return Number(m[1]);
}

Deno.test("CONDSTORE and QRESYNC: resync after changes, CHANGEDSINCE, UNCHANGEDSINCE", async (t) => {
  await using imap = await startImapServer();
  let uidvalidity = 0;
  let before = 0;

  await t.step("ENABLE QRESYNC; SELECT reports HIGHESTMODSEQ; FETCH gives MODSEQ", async () => {
    await using c = await RawImap.login(imap.imap);
    for (let n = 1; n <= 4; n++) assert.equal((await c.append("INBOX", note(n))).status, "OK");
    const enabled = await c.command("ENABLE QRESYNC");
    assert.deepEqual(enabled.untagged, ["* ENABLED QRESYNC"]);
    const selected = await c.command("SELECT INBOX");
    assert.equal(selected.status, "OK");
    uidvalidity = numberAfter(selected.untagged, "UIDVALIDITY");
    before = numberAfter(selected.untagged, "HIGHESTMODSEQ");
    assert.ok(before > 0);
    const fetch = await c.command("FETCH 1:* (UID MODSEQ)");
    assert.equal(fetch.untagged.length, 4);
    for (const line of fetch.untagged) assert.ok(modseqOf(line) <= before, line);
  });

  await t.step("another client changes flags and expunges while this one is away", async () => {
    await using c = await RawImap.login(imap.imap);
    assert.equal((await c.command("SELECT INBOX")).status, "OK");
    assert.equal((await c.command("STORE 2 +FLAGS (\\Flagged)")).status, "OK");
    assert.equal((await c.command("STORE 3 +FLAGS.SILENT (\\Deleted)")).status, "OK");
    assert.deepEqual((await c.command("EXPUNGE")).untagged, ["* 3 EXPUNGE"]);
  });

  await using c = await RawImap.login(imap.imap);
  assert.deepEqual((await c.command("ENABLE QRESYNC")).untagged, ["* ENABLED QRESYNC"]);
  let flaggedModseq = 0;

  await t.step(
    "SELECT (QRESYNC (uidvalidity modseq)): VANISHED (EARLIER) and the changed flags",
    async () => {
      const r = await c.command(`SELECT INBOX (QRESYNC (${uidvalidity} ${before}))`);
      assert.equal(r.status, "OK", r.text);
      assert.ok(r.untagged.includes("* 3 EXISTS"), `${r.untagged}`);
      assert.ok(r.untagged.includes("* VANISHED (EARLIER) 3"), `${r.untagged}`);
      const fetches = r.untagged.filter((l) => / FETCH /.test(l));
      assert.equal(fetches.length, 1, `only the changed message: ${fetches}`);
      assert.match(fetches[0], /^\* 2 FETCH \(/);
      assert.match(fetches[0], /UID 2/);
      assert.match(fetches[0], /FLAGS \(\\Flagged\)/);
      flaggedModseq = modseqOf(fetches[0]);
      assert.ok(flaggedModseq > before);
      assert.ok(numberAfter(r.untagged, "HIGHESTMODSEQ") > before);
    },
  );

  await t.step("a QRESYNC SELECT with the wrong UIDVALIDITY tells nothing of changes", async () => {
    const r = await c.command(`SELECT INBOX (QRESYNC (${uidvalidity + 1} ${before}))`);
    assert.equal(r.status, "OK", r.text);
    assert.ok(!r.untagged.some((l) => /VANISHED| FETCH /.test(l)), `${r.untagged}`);
  });

  await t.step("FETCH (CHANGEDSINCE): only what changed, with MODSEQ", async () => {
    const r = await c.command(`FETCH 1:* (FLAGS) (CHANGEDSINCE ${before})`);
    assert.equal(r.status, "OK", r.text);
    assert.equal(r.untagged.length, 1, `${r.untagged}`);
    assert.match(r.untagged[0], /^\* 2 FETCH \(FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)$/);
    const v = await c.command(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${before} VANISHED)`);
    assert.equal(v.status, "OK", v.text);
    assert.deepEqual(v.untagged[0], "* VANISHED (EARLIER) 3");
    assert.equal(v.untagged.length, 2, `${v.untagged}`);
    assert.match(v.untagged[1], /UID 2/);
    const none = await c.command(`FETCH 1:* (FLAGS) (CHANGEDSINCE ${flaggedModseq})`);
    assert.deepEqual(none.untagged, []);
  });

  await t.step("SEARCH MODSEQ", async () => {
    const r = await c.command(`SEARCH MODSEQ ${before + 1}`);
    assert.equal(r.status, "OK", r.text);
    assert.deepEqual(r.untagged, [`* SEARCH 2 (MODSEQ ${flaggedModseq})`]);
  });

  await t.step("STORE (UNCHANGEDSINCE): changed messages fail with [MODIFIED]", async () => {
    const r = await c.command(`STORE 1:3 (UNCHANGEDSINCE ${before}) +FLAGS (\\Seen)`);
    assert.equal(r.status, "OK", r.text);
    assert.match(r.text, /^\[MODIFIED 2\] /);
    const stored = r.untagged.filter((l) => / FETCH /.test(l)).map((l) => l.split(" ")[1]);
    assert.deepEqual(stored, ["1", "3"]);
    for (const line of r.untagged) {
      assert.match(line, /FLAGS \(\\Seen\)/);
      assert.ok(modseqOf(line) > flaggedModseq, line);
    }
    const u = await c.command(`UID STORE 2 (UNCHANGEDSINCE ${flaggedModseq}) +FLAGS (\\Seen)`);
    assert.equal(u.status, "OK", u.text);
    assert.doesNotMatch(u.text, /MODIFIED/);
    assert.match(u.untagged[0], /^\* 2 FETCH \(UID 2 FLAGS \(\\Seen \\Flagged\) MODSEQ \(\d+\)\)$/);
    const silent = await c.command(`STORE 1 (UNCHANGEDSINCE 1) FLAGS.SILENT (\\Draft)`);
    assert.match(silent.text, /^\[MODIFIED 1\] /);
    assert.deepEqual(silent.untagged, []);
  });

  await t.step("STATUS HIGHESTMODSEQ is the latest modseq", async () => {
    const fetch = await c.command("FETCH 1:* (MODSEQ)");
    const highest = Math.max(...fetch.untagged.map(modseqOf));
    const s = await c.command("STATUS INBOX (HIGHESTMODSEQ MESSAGES)");
    assert.deepEqual(s.untagged, [`* STATUS INBOX (HIGHESTMODSEQ ${highest} MESSAGES 3)`]);
  });

  await t.step(
    "during IDLE an expunge elsewhere comes as VANISHED, flags with MODSEQ",
    async () => {
      await using other = await RawImap.login(imap.imap);
      assert.equal((await other.command("SELECT INBOX")).status, "OK");
      await c.idle();
      assert.equal((await other.command("STORE 1 +FLAGS (\\Answered)")).status, "OK");
      const flags = await c.waitFor(/ FETCH /);
      assert.match(flags.lines.at(-1)!, /^\* 1 FETCH \(UID 1 FLAGS \(\\Seen \\Answered\) MODSEQ/);
      assert.equal((await other.command("STORE 3 +FLAGS.SILENT (\\Deleted)")).status, "OK");
      assert.equal((await other.command("EXPUNGE")).status, "OK");
      const gone = await c.waitFor(/VANISHED/);
      assert.equal(gone.lines.at(-1), "* VANISHED 4");
      assert.equal((await c.done()).status, "OK");
    },
  );

  await t.step(
    "QRESYNC in SELECT without ENABLE is refused; CONDSTORE in SELECT works",
    async () => {
      await using d = await RawImap.login(imap.imap);
      const refused = await d.command(`SELECT INBOX (QRESYNC (${uidvalidity} 1))`);
      assert.equal(refused.status, "BAD", refused.text);
      const condstore = await d.command("SELECT INBOX (CONDSTORE)");
      assert.equal(condstore.status, "OK");
      assert.ok(condstore.untagged.some((l) => l.startsWith("* OK [HIGHESTMODSEQ ")));
      const fetch = await d.command("FETCH 1 (FLAGS)");
      assert.match(fetch.untagged[0], /MODSEQ \(\d+\)/, "CONDSTORE on: FETCH carries MODSEQ");
    },
  );
});

// RFC 7162 §3.2.6: every expunged uid of the set the client gave, even where no message of
// the set is left around it.
Deno.test({
  name: "UID FETCH (CHANGEDSINCE VANISHED) reports expunged uids at the ends of the set",
  fn: async () => {
    await using imap = await startImapServer();
    await using c = await RawImap.login(imap.imap);
    for (let n = 1; n <= 4; n++) assert.equal((await c.append("INBOX", note(n))).status, "OK");
    assert.equal((await c.command("ENABLE QRESYNC")).status, "OK");
    const selected = await c.command("SELECT INBOX");
    const before = numberAfter(selected.untagged, "HIGHESTMODSEQ");
    assert.equal((await c.command("STORE 1,4 +FLAGS.SILENT (\\Deleted)")).status, "OK");
    assert.deepEqual((await c.command("EXPUNGE")).untagged, ["* VANISHED 1,4"]);
    const r = await c.command(`UID FETCH 1:10 (FLAGS) (CHANGEDSINCE ${before} VANISHED)`);
    assert.equal(r.status, "OK", r.text);
    assert.ok(r.untagged.includes("* VANISHED (EARLIER) 1,4"), `got ${JSON.stringify(r.untagged)}`);
  },
});

Deno.test("IMAP4rev2 mode: no \\Recent, ESEARCH answers, SEARCHRES", async () => {
  await using imap = await startImapServer();
  await using c = await RawImap.login(imap.imap);
  for (let n = 1; n <= 3; n++) assert.equal((await c.append("INBOX", note(n))).status, "OK");
  assert.deepEqual((await c.command("ENABLE IMAP4rev2")).untagged, ["* ENABLED IMAP4rev2"]);
  const selected = await c.command("SELECT INBOX");
  assert.ok(selected.untagged.includes("* 3 EXISTS"));
  assert.ok(!selected.untagged.some((l) => / RECENT$/.test(l)), `${selected.untagged}`);
  assert.ok(!selected.untagged.some((l) => l.includes("[UNSEEN ")), "rev2 has no UNSEEN code");
  assert.ok(selected.untagged.includes('* LIST () "/" INBOX'), `${selected.untagged}`);
  const all = await c.command("SEARCH ALL");
  assert.match(all.untagged[0], /^\* ESEARCH \(TAG "r\d+"\) ALL 1:3$/);
  const uid = await c.command("UID SEARCH RETURN (MIN MAX COUNT) ALL");
  assert.match(uid.untagged[0], /^\* ESEARCH \(TAG "r\d+"\) UID MIN 1 MAX 3 COUNT 3$/);
  const none = await c.command("SEARCH SUBJECT nowhere");
  assert.match(none.untagged[0], /^\* ESEARCH \(TAG "r\d+"\)$/);
  assert.equal((await c.command("STORE 2 +FLAGS (\\Flagged)")).status, "OK");
  const saved = await c.command("SEARCH RETURN (SAVE) FLAGGED");
  assert.deepEqual(saved.untagged, []);
  const fetch = await c.command("FETCH $ (UID FLAGS)");
  assert.deepEqual(fetch.untagged, ["* 2 FETCH (UID 2 FLAGS (\\Flagged))"]);
  const flags = await c.command("FETCH 1:* (FLAGS)");
  assert.ok(!flags.untagged.some((l) => l.includes("\\Recent")), `${flags.untagged}`);
});
