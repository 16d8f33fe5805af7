/**
 * Retention (issue 15): mail saved into Trash longer ago than
 * `retention.trash` is expunged in the background, and an IMAP client
 * idling in Trash (Python imaplib) is told at once with EXPUNGE. INBOX and
 * Junk (retention.junk off) keep their mail.
 */
import assert from "node:assert/strict";
import {
  assertOk,
  bytesArg,
  call,
  imaplib,
  imapLogin,
  message,
  startImapServer,
} from "./support/imap_fixture.ts";

Deno.test("retention expunges old Trash mail and an idling IMAP client sees it", async () => {
  await using imap = await startImapServer({
    env: { POSTINO_RETENTION_TRASH: "3s", POSTINO_RETENTION_JUNK: "off" },
  });
  const mail = (subject: string) => bytesArg(message({ subject, body: "old news\n" }));
  const steps = [
    ...imapLogin(imap.imap),
    // One message in Trash: its EXPUNGE is the whole of it (several would each be "* 1").
    call("append", "Trash", null, null, mail("trash 1")), // 2
    call("append", "Junk", null, null, mail("junk 1")), // 3
    call("append", "INBOX", null, null, mail("inbox 1")), // 4
    call("noop"), // 5
    call("select", "Trash"), // 6
    { s: "a", op: "idle_start" }, // 7
    { s: "a", op: "idle_wait", pattern: "^\\* 1 EXPUNGE", timeout_ms: 15_000 }, // 8
    { s: "a", op: "idle_done" }, // 9
    call("status", "Trash", "(MESSAGES)"), // 10
    call("status", "Junk", "(MESSAGES)"), // 11
    call("status", "INBOX", "(MESSAGES)"), // 12
  ];
  const replies = await imaplib(steps);
  for (const i of [2, 3, 4, 5, 6, 9, 10, 11, 12]) assertOk(replies[i], `step ${i}`);
  assert.equal(replies[7].ok, true, JSON.stringify(replies[7]));
  assert.equal((replies[8] as { matched?: boolean }).matched, true, JSON.stringify(replies[8]));
  const status = (i: number) => String((replies[i].data as unknown[])[0]);
  assert.match(status(10), /MESSAGES 0/, "Trash emptied");
  assert.match(status(11), /MESSAGES 1/, "Junk kept (retention.junk off)");
  assert.match(status(12), /MESSAGES 1/, "INBOX is never expired");
});
