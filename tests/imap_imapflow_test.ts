/**
 * What a mail client does, with `npm:imapflow`: connect to the plain
 * listener and require STARTTLS, list mailboxes with special-use flags, open
 * INBOX, fetch envelopes and body structures, set flags, move a message to
 * Archive, then idle (imapflow idles by itself once a mailbox is open) and
 * hear of a message delivered over SMTP meanwhile.
 */
import assert from "node:assert/strict";
import { ImapFlow } from "imapflow";
import { fixture } from "./support/imap_corpus.ts";
import { deliver, message, startImapServer, USERS } from "./support/imap_fixture.ts";

/** Resolves when `check` holds, polling; fails after `timeoutMs`. */
async function eventually(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

Deno.test("imapflow: STARTTLS, special-use list, fetch, flags, move to Archive, IDLE", async (t) => {
  await using imap = await startImapServer();
  await deliver(imap.smtp, [
    message({ from: "Bob <bob@remote.example>", subject: "Plain hello", body: "Hello Alice\n" }),
    fixture("alternative"),
  ]);
  const client = new ImapFlow({
    host: "127.0.0.1",
    port: imap.imap,
    secure: false,
    doSTARTTLS: true,
    tls: { rejectUnauthorized: false },
    auth: { user: USERS.alice.address, pass: USERS.alice.password },
    logger: false,
    // Idle soon after each command, as a client left alone would after its usual delay.
    autoIdleDelay: 200,
  });
  const exists: { path: string; count: number; prevCount: number }[] = [];
  client.on("exists", (e: { path: string; count: number; prevCount: number }) => exists.push(e));
  const errors: unknown[] = [];
  client.on("error", (err: unknown) => errors.push(err));
  await client.connect();
  try {
    await t.step("the connection is upgraded with STARTTLS and logged in", () => {
      assert.equal(client.secureConnection, true);
      assert.equal(client.authenticated !== false, true);
      assert.ok(client.capabilities.has("IDLE"), `${[...client.capabilities.keys()]}`);
    });

    await t.step("list: INBOX and the special-use mailboxes", async () => {
      const list = await client.list();
      const uses = new Map(list.map((m) => [m.path, m.specialUse]));
      assert.deepEqual(
        Object.fromEntries(uses),
        {
          INBOX: "\\Inbox",
          Sent: "\\Sent",
          Drafts: "\\Drafts",
          Trash: "\\Trash",
          Junk: "\\Junk",
          Archive: "\\Archive",
        },
      );
      assert.ok(list.every((m) => m.delimiter === "/"));
    });

    await t.step("open INBOX", async () => {
      const box = await client.mailboxOpen("INBOX");
      assert.equal(box.path, "INBOX");
      assert.equal(box.exists, 2);
      assert.equal(box.readOnly, false);
      assert.ok(box.uidValidity > 0n);
      assert.equal(box.uidNext, 3);
      assert.equal(box.delimiter, "/");
    });

    await t.step("fetch envelopes and body structures", async () => {
      const messages = await client.fetchAll("1:*", {
        uid: true,
        flags: true,
        envelope: true,
        bodyStructure: true,
        size: true,
      });
      assert.equal(messages.length, 2);
      const [plain, alternative] = messages;
      assert.equal(plain.uid, 1);
      assert.equal(plain.envelope?.subject, "Plain hello");
      assert.deepEqual(plain.envelope?.from, [{ name: "Bob", address: "bob@remote.example" }]);
      assert.deepEqual(plain.envelope?.to, [{ name: "", address: "alice@localhost" }]);
      assert.equal(plain.bodyStructure?.type, "text/plain");
      assert.equal(plain.flags?.size, 0);
      assert.equal(alternative.uid, 2);
      assert.equal(alternative.envelope?.subject, "Alternative");
      assert.equal(alternative.envelope?.messageId, "<alt.1@example.org>");
      assert.equal(alternative.bodyStructure?.type, "multipart/alternative");
      assert.deepEqual(
        alternative.bodyStructure?.childNodes?.map((n) => [n.part, n.type, n.encoding]),
        [["1", "text/plain", "quoted-printable"], ["2", "text/html", "quoted-printable"]],
      );
      assert.ok((alternative.size ?? 0) > 519, "the trace headers come on top of the fixture");
    });

    await t.step("download a part: decoded from quoted-printable", async () => {
      const { content } = await client.download("2", "1", { uid: true });
      assert.ok(content, "part 1 exists");
      const chunks: Uint8Array[] = [];
      for await (const chunk of content) chunks.push(chunk);
      const text = new TextDecoder().decode(
        new Uint8Array(chunks.flatMap((c) => [...c])),
      );
      assert.equal(text.trim(), "Café at noon.");
    });

    await t.step("set flags", async () => {
      assert.equal(await client.messageFlagsAdd("1", ["\\Flagged", "$Work"], { uid: true }), true);
      assert.equal(await client.messageFlagsAdd("1:2", ["\\Seen"], { uid: true }), true);
      assert.equal(await client.messageFlagsRemove("2", ["\\Seen"], { uid: true }), true);
      const flags = (await client.fetchAll("1:*", { flags: true })).map((m) =>
        [...m.flags!].sort()
      );
      assert.deepEqual(flags, [["$Work", "\\Flagged", "\\Seen"], []]);
    });

    await t.step("move a message to Archive", async () => {
      const moved = await client.messageMove("1", "Archive", { uid: true });
      assert.ok(moved, "MOVE answered");
      assert.equal(moved.destination, "Archive");
      assert.deepEqual([...moved.uidMap!], [[1, 1]]);
      assert.equal(client.mailbox && client.mailbox.exists, 1);
      const status = await client.status("Archive", { messages: true, unseen: true });
      assert.equal(status && status.messages, 1);
      assert.equal(status && status.unseen, 0);
      const left = await client.search({ all: true }, { uid: true });
      assert.deepEqual(left, [2]);
    });

    await t.step("IDLE: a message delivered over SMTP is announced at once", async () => {
      await eventually(() => client.idling, "imapflow to start IDLE");
      const before = exists.length;
      await deliver(imap.smtp, [
        message({ from: "carol@remote.example", subject: "While idling", body: "ping\n" }),
      ]);
      const delivered = Date.now();
      await eventually(() => exists.length > before, "the exists event", 3_000);
      assert.ok(Date.now() - delivered < 2_000, `announced after ${Date.now() - delivered} ms`);
      assert.deepEqual(exists.at(-1), { path: "INBOX", count: 2, prevCount: 1 });
      const latest = await client.fetchOne("*", { envelope: true, uid: true });
      assert.ok(latest);
      assert.equal(latest.uid, 3);
      assert.equal(latest.envelope?.subject, "While idling");
    });

    assert.deepEqual(errors, []);
  } finally {
    await client.logout();
  }
});
