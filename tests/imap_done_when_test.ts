/**
 * Issue 7's "done when", end to end against `serve --dev`: a message
 * delivered with swaks shows up in an idling IMAP session; a client (Python's
 * imaplib) reads it, flags it and moves it to Archive; the idling session is
 * told; and POP3 (Python's poplib) and IMAP agree about what is left in
 * INBOX, also after a POP3 deletion.
 */
import assert from "node:assert/strict";
import { dataOf } from "./support/pop3_fixture.ts";
import {
  assertOk,
  call,
  deliver,
  imaplib,
  imapLogin,
  message,
  pop3Login,
  poplib,
  RawImap,
  run,
  startImapServer,
} from "./support/imap_fixture.ts";

const decoder = new TextDecoder();

/** The Message-ID header values in a text. */
function messageIds(text: string): string[] {
  return [...text.matchAll(/^Message-Id: (<[^>]+>)\r?$/gim)].map((m) => m[1]);
}

Deno.test("done when: swaks delivers, IDLE sees it, read, flag, move; POP3 and IMAP agree", async (t) => {
  await using imap = await startImapServer();
  await deliver(imap.smtp, [
    message({ subject: "older one", body: "1\n", messageId: "<old1@remote.example>" }),
    message({ subject: "older two", body: "2\n", messageId: "<old2@remote.example>" }),
  ]);
  await using watcher = await RawImap.login(imap.imap);
  const selected = await watcher.command("SELECT INBOX");
  assert.ok(selected.untagged.includes("* 2 EXISTS"), `${selected.untagged}`);
  await watcher.idle();

  await t.step("swaks delivers; the idling session hears of it within a second", async () => {
    const r = await run("swaks", [
      "--server",
      `127.0.0.1:${imap.smtp}`,
      "--helo",
      "swaks.test",
      "--from",
      "friend@remote.example",
      "--to",
      "alice@localhost",
      "--header",
      "Subject: Done when",
      "--header",
      "Message-Id: <donewhen@remote.example>",
      "--body",
      "Deliver, see, read, flag, move.",
    ]);
    assert.equal(r.code, 0, decoder.decode(r.stdout) + r.stderr);
    const { ms } = await watcher.waitFor(/^\* 3 EXISTS$/, 5_000);
    assert.ok(ms < 1_000, `EXISTS after ${Math.round(ms)} ms`);
    assert.equal((await watcher.done()).status, "OK");
  });

  await t.step("a client reads it, flags it and moves it to Archive", async () => {
    const r = await imaplib([
      ...imapLogin(imap.imap),
      call("select", "INBOX"), // 2
      call("uid", "FETCH", "3", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), // 3
      call("uid", "FETCH", "3", "(BODY[])"), // 4: read
      call("uid", "STORE", "3", "+FLAGS", "(\\Flagged)"), // 5
      call("uid", "MOVE", "3", "Archive"), // 6
      call("status", "Archive", "(MESSAGES UNSEEN)"), // 7
      call("select", "Archive"), // 8
      call("fetch", "1", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"), // 9
      { op: "logout" },
    ]);
    r.forEach((x, i) => assertOk(x, `step ${i}`));
    assert.match(r[3].wire, /Subject: Done when\r\n/);
    assert.doesNotMatch(r[3].wire, /\\Seen/);
    assert.match(r[4].wire, /\r\n\r\nDeliver, see, read, flag, move\.\r\n/);
    assert.match(r[4].wire, /FLAGS \([^)]*\\Seen/);
    assert.match(r[5].wire, /FLAGS \(\\Seen \\Flagged\)/);
    assert.match(r[6].wire, /^\* OK \[COPYUID \d+ 3 1\]/m);
    assert.match(r[6].wire, /^\* 3 EXPUNGE\r$/m);
    assert.deepEqual(r[7].data, ["Archive (MESSAGES 1 UNSEEN 0)"]);
    assert.match(r[9].wire, /FLAGS \(\\Seen \\Flagged( \\Recent)?\)/);
    assert.deepEqual(messageIds(r[9].wire), ["<donewhen@remote.example>"]);
  });

  await t.step("the first session is told at its next command", async () => {
    const noop = await watcher.command("NOOP");
    assert.ok(noop.untagged.includes("* 3 EXPUNGE"), `${noop.untagged}`);
  });

  /** The Message-IDs in INBOX as IMAP (imaplib) and as POP3 (poplib) see them. */
  async function bothViews(): Promise<{ imap: string[]; pop3: string[] }> {
    const i = await imaplib([
      ...imapLogin(imap.imap),
      call("select", "INBOX", true),
      call("fetch", "1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"),
      { op: "logout" },
    ]);
    i.forEach((x, n) => assertOk(x, `imaplib step ${n}`));
    const p = await poplib([
      ...pop3Login(imap.pop3),
      { op: "stat" },
      { op: "top", arg: 1, lines: 0 },
      { op: "top", arg: 2, lines: 0 },
      { op: "quit" },
    ]);
    assert.ok(p[3].ok, p[3].error);
    const count = p[3].count!;
    const tops = p.slice(4, 4 + count).map((x) => decoder.decode(dataOf(x)));
    return { imap: messageIds(i[3].wire), pop3: tops.flatMap(messageIds) };
  }

  await t.step("POP3 and IMAP agree about what is left in INBOX", async () => {
    const views = await bothViews();
    assert.deepEqual(views.imap, ["<old1@remote.example>", "<old2@remote.example>"]);
    assert.deepEqual(views.pop3, views.imap);
  });

  await t.step("a POP3 deletion: the idling session is told, and both still agree", async () => {
    await watcher.idle();
    const r = await poplib([...pop3Login(imap.pop3), { op: "dele", arg: 1 }, { op: "quit" }]);
    r.forEach((x, i) => assert.ok(x.ok, `POP3 step ${i}: ${x.error}`));
    const { ms } = await watcher.waitFor(/^\* 1 EXPUNGE$/, 5_000);
    assert.ok(ms < 1_000, `EXPUNGE after ${Math.round(ms)} ms`);
    assert.equal((await watcher.done()).status, "OK");
    const views = await bothViews();
    assert.deepEqual(views.imap, ["<old2@remote.example>"]);
    assert.deepEqual(views.pop3, views.imap);
  });
});
