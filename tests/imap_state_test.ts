/**
 * Replies that must not disturb the session: a refused DELETE or a BAD
 * SELECT leaves the selection as it was, a parent mailbox is refused with
 * HASCHILDREN (RFC 9051 §6.3.5), SEARCH answers with MODSEQ only for a
 * MODSEQ key (RFC 7162 §3.1.5), and ENABLE reports all it enabled.
 */
import assert from "node:assert/strict";
import { message, RawImap, startImapServer } from "./support/imap_fixture.ts";

const note = (n: number) => message({ subject: `note ${n}`, body: `modseq is a word here ${n}\n` });

Deno.test("refusals leave the session as it was", async (t) => {
  await using imap = await startImapServer();
  await using c = await RawImap.login(imap.imap);
  for (let n = 1; n <= 2; n++) assert.equal((await c.append("INBOX", note(n))).status, "OK");
  assert.equal((await c.command("SELECT INBOX")).status, "OK");

  await t.step("DELETE INBOX while it is selected: NO, still selected", async () => {
    const r = await c.command("DELETE INBOX");
    assert.equal(r.status, "NO", r.text);
    const fetch = await c.command("FETCH 1 (UID)");
    assert.equal(fetch.status, "OK", fetch.text);
  });

  await t.step(
    "DELETE of a mailbox with children: NO [HASCHILDREN]; the child can go",
    async () => {
      assert.equal((await c.command("CREATE Work/Deep")).status, "OK");
      const r = await c.command("DELETE Work");
      assert.equal(r.status, "NO", r.text);
      assert.match(r.text, /^\[HASCHILDREN\] /);
      assert.equal((await c.command("DELETE Work/Deep")).status, "OK");
      assert.equal((await c.command("DELETE Work")).status, "OK");
      assert.equal((await c.command("FETCH 2 (UID)")).status, "OK", "INBOX is still selected");
    },
  );

  await t.step("SELECT with QRESYNC before ENABLE: BAD, the selection stays", async () => {
    const r = await c.command("SELECT Archive (QRESYNC (1 1))");
    assert.equal(r.status, "BAD", r.text);
    const fetch = await c.command("FETCH 1:2 (UID)");
    assert.equal(fetch.status, "OK", fetch.text);
    assert.equal(fetch.untagged.length, 2, `${fetch.untagged}`);
    assert.ok(!fetch.untagged.some((l) => l.includes("MODSEQ")), "CONDSTORE not turned on");
  });

  await t.step("DELETE of the selected mailbox: OK, and nothing is selected", async () => {
    assert.equal((await c.command("CREATE Scratch")).status, "OK");
    assert.equal((await c.command("SELECT Scratch")).status, "OK");
    assert.equal((await c.command("DELETE Scratch")).status, "OK");
    assert.equal((await c.command("FETCH 1 (UID)")).status, "BAD");
  });
});

Deno.test("SEARCH answers with MODSEQ for a MODSEQ key only; ENABLE lists all it enabled", async () => {
  await using imap = await startImapServer();
  await using c = await RawImap.login(imap.imap);
  for (let n = 1; n <= 2; n++) assert.equal((await c.append("INBOX", note(n))).status, "OK");
  assert.deepEqual((await c.command("ENABLE QRESYNC CONDSTORE")).untagged, [
    "* ENABLED QRESYNC CONDSTORE",
  ]);
  assert.deepEqual((await c.command("ENABLE CONDSTORE")).untagged, ["* ENABLED"]);
  assert.equal((await c.command("SELECT INBOX")).status, "OK");
  const text = await c.command("SEARCH BODY modseq");
  assert.deepEqual(text.untagged, ["* SEARCH 1 2"]);
  const keyed = await c.command("SEARCH MODSEQ 1");
  assert.match(keyed.untagged[0], /^\* SEARCH 1 2 \(MODSEQ \d+\)$/);
  const nested = await c.command("SEARCH OR (MODSEQ 1) SUBJECT none");
  assert.match(nested.untagged[0], /^\* SEARCH 1 2 \(MODSEQ \d+\)$/);
});
