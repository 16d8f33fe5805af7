/**
 * Storage quotas over SMTP (issue 15; DESIGN.md's contract): alice has a
 * 3 KiB quota (`postino user quota`). A message whose declared SIZE would
 * take her past it gets 452 4.2.2 at her RCPT while bob, the other
 * recipient, gets it (Python smtplib declares SIZE). Sent without SIZE
 * (swaks), the size is known only after DATA: bob gets it, alice does not,
 * and the sender (carol, local) gets a DSN naming alice; alone, alice's
 * message is refused at DATA with 452 4.2.2. `quota none` lifts the limit.
 */
import assert from "node:assert/strict";
import { ALICE, deliver, run, startInbound } from "./support/inbound_fixture.ts";
import { withStore } from "./support/server.ts";

const message = (subject: string, kib: number) =>
  `From: carol@localhost\r\nTo: alice@localhost\r\nSubject: ${subject}\r\n\r\n` +
  `${"0123456789abcde\r\n".repeat(kib * 60)}`;

Deno.test("quota: 452 4.2.2 at RCPT with SIZE, a DSN after DATA without, the others served", async () => {
  await using mx = await startInbound({});
  for (const user of ["bob@localhost", "carol@localhost"]) {
    const added = await mx.server.cli(["user", "add", user, "--password-stdin"], "pw\n");
    assert.equal(added.code, 0, added.stderr);
  }
  const set = await mx.server.cli(["user", "quota", ALICE.user, "3K"]);
  assert.equal(set.code, 0, set.stderr);
  assert.match(set.stdout, /The quota of alice@localhost is 3072 bytes now/);
  const subjects = (address: string) =>
    withStore(mx.server, (store) =>
      store.all<{ name: string; body: Uint8Array }>(
        `SELECT b.name, m.body FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
         JOIN messages m ON m.id = e.message_id JOIN users u ON u.id = b.user_id
         WHERE u.address = ? ORDER BY m.id`,
        address,
      )).map((r) => /^Subject: (.*)$/m.exec(new TextDecoder().decode(r.body))?.[1]?.trim());
  const both = [ALICE.user, "bob@localhost"];

  const first = await deliver(mx, {
    sender: "carol@localhost",
    recipients: both,
    message: message("one", 2),
  });
  assert.deepEqual(first.refused, {}, JSON.stringify(first));
  const second = await deliver(mx, {
    sender: "carol@localhost",
    recipients: both,
    message: message("two", 2),
  });
  assert.equal(second.ok, true, JSON.stringify(second));
  assert.equal(second.refused?.[ALICE.user]?.[0], 452);
  assert.match(second.refused![ALICE.user][1], /^4\.2\.2 Mailbox full/);
  assert.deepEqual(subjects(ALICE.user), ["one"]);
  assert.deepEqual(subjects("bob@localhost"), ["one", "two"]);

  // Without SIZE: swaks. Both RCPTs pass; after DATA alice's copy would not fit.
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/three.eml`;
    await Deno.writeTextFile(file, message("three", 2));
    const swaks = (to: string) =>
      run("swaks", [
        "--server",
        `127.0.0.1:${mx.smtp}`,
        "--from",
        "carol@localhost",
        "--to",
        to,
        "--data",
        file,
      ]);
    const three = await swaks(both.join(","));
    assert.equal(three.code, 0, three.stdout + three.stderr);
    assert.match(three.stdout, /<- {2}250 2\.0\.0 OK/);
    assert.deepEqual(subjects(ALICE.user), ["one"]);
    assert.deepEqual(subjects("bob@localhost"), ["one", "two", "three"]);
    const dsn = withStore(mx.server, (store) =>
      store.all<{ body: Uint8Array }>(
        `SELECT m.body FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
         JOIN messages m ON m.id = e.message_id JOIN users u ON u.id = b.user_id
         WHERE u.address = 'carol@localhost'`,
      )).map((r) => new TextDecoder().decode(r.body));
    assert.equal(dsn.length, 1, "carol got one DSN");
    assert.match(dsn[0], /^Return-Path: <>\r\n/);
    assert.match(dsn[0], /Final-Recipient: rfc822; alice@localhost\r\nAction: failed\r\n/);
    assert.match(dsn[0], /Status: 5\.2\.2\r\n/);
    assert.match(dsn[0], /Subject: three/, "the original header is attached");

    // Alice alone: nobody would get it, so DATA itself is refused, temporarily.
    const alone = await swaks(ALICE.user);
    assert.notEqual(alone.code, 0);
    assert.match(
      alone.stdout,
      /<\*\* 452 4\.2\.2 Mailbox full: <alice@localhost> over storage quota/,
    );

    const none = await mx.server.cli(["user", "quota", ALICE.user, "none"]);
    assert.equal(none.code, 0, none.stderr);
    const again = await swaks(ALICE.user);
    assert.equal(again.code, 0, again.stdout);
    assert.deepEqual(subjects(ALICE.user), ["one", "three"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
