/**
 * Sender reputation before the content check, end to end: alice trains her
 * filter over IMAP (imaplib), mail arrives over SMTP (smtplib) from senders
 * whose domains SPF verifies on the loopback DNS stub. Once alice has
 * written to bob (submission, smtplib with AUTH), bob's mail skips the
 * content check, while the same From forged by a client SPF does not
 * verify is still judged by its content. A verified sender alice marked as
 * spam once is spam from then on, whatever the content says.
 */
import assert from "node:assert/strict";
import { ALICE, deliver, type Inbound, startInbound } from "./support/inbound_fixture.ts";
import { assertOk, bytesArg, call, imaplib, imapLogin, message } from "./support/imap_fixture.ts";
import { withStore } from "./support/server.ts";

const SPAMMY = ["viagra", "winner", "prize", "casino", "loan", "cheap", "bitcoin", "lottery"];
const HAMMY = ["meeting", "agenda", "review", "patch", "quarterly", "lunch", "project", "deadline"];
const TRAINED = 32;
const SPF_LOOPBACK = { TXT: ["v=spf1 ip4:127.0.0.1 -all"] };

function text(vocabulary: string[], i: number, n = 6): string {
  return Array.from({ length: n }, (_, k) => vocabulary[(i + k) % vocabulary.length]).join(" ") +
    "\n";
}

/** Where alice's message with `subject` is, with the X-Postino-Spam field's verdict and reason. */
function landed(mx: Inbound, subject: string): string[] {
  const rows = withStore(mx.server, (store) =>
    store.all<{ name: string; body: Uint8Array }>(
      `SELECT b.name, m.body FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
       JOIN messages m ON m.id = e.message_id JOIN users u ON u.id = b.user_id
       WHERE u.address = ?`,
      ALICE.user,
    ));
  return rows.map((r) => ({ name: r.name, text: new TextDecoder().decode(r.body) }))
    .filter((r) => r.text.includes(`\r\nSubject: ${subject}\r\n`))
    .map((r) => {
      const field = /^X-Postino-Spam: (yes|no);[^\r]*reason="([^"]*)"/m.exec(r.text);
      return field ? `${r.name} ${field[1]} ${field[2]}` : `${r.name} -`;
    });
}

/** A message from `from`, sent with MAIL FROM `sender` to alice's MX. */
async function receive(mx: Inbound, sender: string, from: string, subject: string, body: string) {
  const r = await deliver(mx, { sender, message: message({ subject, body, from }) });
  assert.ok(r.ok, `${subject}: ${JSON.stringify(r)}`);
}

Deno.test("a correspondent's verified mail skips the content check; a sender marked spam is spam", async () => {
  await using mx = await startInbound({
    "friend.example": SPF_LOOPBACK,
    "shady.example": SPF_LOOPBACK,
  }, { submission: true, args: ["--imap", "127.0.0.1:0"] });
  const imapPort = mx.server.addresses.imap.port;
  const append = (subject: string, body: string) =>
    call("append", "INBOX", null, null, bytesArg(message({ subject, body })));
  const steps = [...imapLogin(imapPort)];
  for (let i = 0; i < TRAINED; i++) steps.push(append(`spam ${i}`, text(SPAMMY, i, 5)));
  for (let i = 0; i < TRAINED; i++) steps.push(append(`ham ${i}`, text(HAMMY, i, 5)));
  steps.push(
    call("select", "INBOX"),
    call("uid", "MOVE", `1:${TRAINED}`, "Junk"),
    call("uid", "MOVE", `${TRAINED + 1}:${2 * TRAINED}`, "Archive"),
  );
  (await imaplib(steps)).forEach((r, i) => assertOk(r, `training step ${i}`));

  // Bob is a stranger: his spam-like mail is judged by its content.
  await receive(mx, "bob@friend.example", "Bob <bob@friend.example>", "offer 1", text(SPAMMY, 2));
  assert.match(landed(mx, "offer 1").join(), /^Junk yes bayes /);

  // Alice writes to bob over submission; bob becomes her correspondent.
  const sent = await deliver(mx, {
    port: mx.submission,
    security: "starttls",
    sender: ALICE.user,
    recipients: ["bob@friend.example"],
    user: ALICE.user,
    password: ALICE.password,
    message: message({ subject: "lunch?", body: "see you at noon\n", from: ALICE.user }),
  });
  assert.ok(sent.ok, JSON.stringify(sent));

  await receive(mx, "bob@friend.example", "Bob <bob@friend.example>", "offer 2", text(SPAMMY, 3));
  assert.deepEqual(landed(mx, "offer 2"), ["INBOX no correspondent bob@friend.example"]);
  // The same From, sent by a client SPF does not verify: judged by content, not trusted.
  await receive(mx, "x@unverified.example", "Bob <bob@friend.example>", "offer 3", text(SPAMMY, 4));
  assert.match(landed(mx, "offer 3").join(), /^Junk yes bayes /);

  // Carol writes like a colleague; alice marks her spam once; from then on she is spam.
  await receive(mx, "carol@shady.example", "carol@shady.example", "hello 1", text(HAMMY, 1));
  assert.match(landed(mx, "hello 1").join(), /^INBOX no bayes /);
  const search = await imaplib([
    ...imapLogin(imapPort),
    call("select", "INBOX"),
    call("uid", "SEARCH", "SUBJECT", '"hello 1"'),
  ]);
  search.forEach((r, i) => assertOk(r, `search step ${i}`));
  const uid = String(search[3].data![0]).trim();
  assert.match(uid, /^\d+$/);
  const moved = await imaplib([
    ...imapLogin(imapPort),
    call("select", "INBOX"),
    call("uid", "MOVE", uid, "Junk"),
  ]);
  moved.forEach((r, i) => assertOk(r, `move step ${i}`));
  await receive(mx, "carol@shady.example", "carol@shady.example", "hello 2", text(HAMMY, 2));
  assert.deepEqual(landed(mx, "hello 2"), [
    "Junk yes sender carol@shady.example: 1 marked spam, 0 kept",
  ]);
  // What training recorded: carol's verified address and SPF domain, not the loopback network.
  const reputation = withStore(
    mx.server,
    (store) =>
      store.all<{ feature: string; spam: number; ham: number }>(
        "SELECT feature, spam, ham FROM junk_features WHERE feature LIKE 'rep:%' ORDER BY feature",
      ),
  );
  assert.deepEqual(reputation.map((r) => `${r.feature} ${r.spam}/${r.ham}`), [
    "rep:from:carol@shady.example 1/0",
    "rep:spf:shady.example 1/0",
  ]);
  const correspondents = withStore(
    mx.server,
    (store) =>
      store.all<{ address: string; messages: number }>(
        "SELECT address, messages FROM junk_correspondents",
      ),
  );
  assert.deepEqual(correspondents.map((c) => `${c.address} ${c.messages}`), [
    "bob@friend.example 1",
  ]);
});
