/**
 * The junk filter end to end: alice trains her filter the way a user does
 * (imaplib: spam moved into Junk, ham marked $NotJunk), then mail arriving
 * over SMTP (smtplib) is judged with her training: spam-like mail lands in
 * her Junk with `X-Postino-Spam: yes`, ham-like mail in INBOX with `no`.
 * Bob, who trained nothing, gets the same spam in his INBOX without a field.
 * With `spam.refuse`, spam every recipient's filter is sure of is refused at DATA.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  assertOk,
  bytesArg,
  call,
  imaplib,
  imapLogin,
  type ImapServer,
  message,
  poplib,
  startImapServer,
  USERS,
} from "./support/imap_fixture.ts";
import { withStore } from "./support/server.ts";

const SPAMMY = ["viagra", "winner", "prize", "casino", "loan", "cheap", "bitcoin", "lottery"];
const HAMMY = ["meeting", "agenda", "review", "patch", "quarterly", "lunch", "project", "deadline"];
const TRAINED = 32;

/** Words i, i+1, ... of `vocabulary` (wrapping), as a body. */
function text(vocabulary: string[], i: number, n = 5): string {
  return Array.from({ length: n }, (_, k) => vocabulary[(i + k) % vocabulary.length]).join(" ") +
    "\n";
}

/** Where each of `address`'s messages with `subject` is, with its X-Postino-Spam field. */
function landed(imap: ImapServer, address: string, subject: string): string[] {
  const rows = withStore(imap.server, (store) =>
    store.all<{ name: string; body: Uint8Array }>(
      `SELECT b.name, m.body FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
       JOIN messages m ON m.id = e.message_id JOIN users u ON u.id = b.user_id
       WHERE u.address = ?`,
      address,
    ));
  return rows.map((r) => ({ name: r.name, text: new TextDecoder().decode(r.body) }))
    .filter((r) => r.text.includes(`\r\nSubject: ${subject}\r\n`))
    .map((r) => `${r.name} ${/^X-Postino-Spam: (yes|no)/m.exec(r.text)?.[1] ?? "-"}`);
}

Deno.test("a filter trained over IMAP files similar mail into Junk, per account", async () => {
  // Refusing at DATA is on, for a message every recipient's filter is sure of.
  await using imap = await startImapServer({
    users: ["alice", "bob"],
    env: { POSTINO_SPAM_REFUSE: "0.99" },
  });
  const append = (subject: string, body: string) =>
    call("append", "INBOX", null, null, bytesArg(message({ subject, body })));
  const steps = [...imapLogin(imap.imap)];
  for (let i = 0; i < TRAINED; i++) steps.push(append(`spam ${i}`, text(SPAMMY, i)));
  for (let i = 0; i < TRAINED; i++) steps.push(append(`ham ${i}`, text(HAMMY, i)));
  steps.push(
    call("select", "INBOX"),
    call("uid", "MOVE", `1:${TRAINED}`, "Junk"),
    call("uid", "STORE", `${TRAINED + 1}:${2 * TRAINED}`, "+FLAGS", "($NotJunk)"),
  );
  (await imaplib(steps)).forEach((r, i) => assertOk(r, `step ${i}`));

  const smtp = (subject: string, body: string, to: string[]) => ({
    op: "smtp",
    port: imap.smtp,
    sender: "sender@remote.example",
    recipients: to,
    message_b64: Buffer.from(message({ subject, body })).toString("base64"),
  });
  const both = [USERS.alice.address, USERS.bob.address];
  const sent = await poplib([
    smtp("new offer", text(SPAMMY, 3, 6), both),
    smtp("new work", text(HAMMY, 5, 6), [USERS.alice.address]),
  ]);
  sent.forEach((r, i) => assert.ok(r.ok, `delivery ${i}: ${r.type} ${r.error}`));
  assert.deepEqual(landed(imap, USERS.alice.address, "new offer"), ["Junk yes"]);
  assert.deepEqual(
    landed(imap, USERS.bob.address, "new offer"),
    ["INBOX -"],
    "bob trained nothing",
  );
  assert.deepEqual(landed(imap, USERS.alice.address, "new work"), ["INBOX no"]);
  // To alice alone, whose filter is sure: refused at DATA, so the sender knows; nothing stored.
  const [refused] = await poplib([smtp("only offer", text(SPAMMY, 1, 8), [USERS.alice.address])]);
  assert.equal(refused.ok, false);
  assert.match(JSON.stringify(refused), /550.*Message refused as spam by the recipient's filter/);
  assert.deepEqual(landed(imap, USERS.alice.address, "only offer"), []);

  // Moving the misfiled-looking message back out of Junk teaches ham (and is allowed).
  const back = await imaplib([
    ...imapLogin(imap.imap),
    call("select", "Junk"),
    call("uid", "SEARCH", "SUBJECT", '"new offer"'),
  ]);
  back.forEach((r, i) => assertOk(r, `step ${i}`));
  const uid = String(back[3].data![0]).trim();
  assert.match(uid, /^\d+$/);
  assertOk(
    (await imaplib([
      ...imapLogin(imap.imap),
      call("select", "Junk"),
      call("uid", "MOVE", uid, "INBOX"),
    ]))[3],
  );
  assert.deepEqual(landed(imap, USERS.alice.address, "new offer"), ["INBOX yes"]);
});
