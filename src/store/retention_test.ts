import assert from "node:assert/strict";
import { addDomain, addUser } from "./accounts.ts";
import { openStore, storePath } from "./db.ts";
import { deliver, findMailbox } from "./mailboxes.ts";
import { copyEntries, listUids } from "./entries.ts";
import { expireOldMail } from "./retention.ts";
import { userQuota } from "./quota.ts";

const DAY = 86_400_000;

Deno.test("expireOldMail() expunges Trash and Junk mail saved longer ago than their ages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-retention-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", "x");
    const alice = store.get<{ id: number }>("SELECT id FROM users")!.id;
    const body = (n: number) => new TextEncoder().encode(`Subject: m${n}\r\n\r\nbody ${n}\r\n`);
    const put = (mailbox: string, n: number) =>
      deliver(store, { body: body(n), mailboxes: [{ userId: alice, mailbox }] });
    put("Trash", 1);
    put("Junk", 2);
    put("INBOX", 3);
    const trash = findMailbox(store, alice, "Trash")!;
    const junk = findMailbox(store, alice, "Junk")!;
    const inbox = findMailbox(store, alice, "INBOX")!;
    // Saved 40 days ago: m1 in Trash, m2 in Junk; m3 in INBOX too, copied into Trash today.
    store.run("UPDATE mailbox_entries SET saved_at = ?", Date.now() - 40 * DAY);
    copyEntries(store, inbox, listUids(store, inbox), trash);
    const before = userQuota(store, alice)!;
    assert.equal(before.usedMessages, 4);

    const ages = { trashMs: 30 * DAY, junkMs: 60 * DAY };
    const expired = expireOldMail(store, ages);
    assert.deepEqual([...expired], [[trash, 1]], "m1 only: m2's Junk keeps 60 days, m3 came today");
    assert.deepEqual(listUids(store, trash), [2], "the copy of m3 stays");
    assert.deepEqual(listUids(store, junk), [1]);
    assert.deepEqual(listUids(store, inbox), [1], "INBOX is never expired");
    const vanished = store.all<{ uid: number }>(
      "SELECT uid FROM expunged WHERE mailbox_id = ?",
      trash,
    );
    assert.deepEqual(vanished.map((v) => v.uid), [1], "recorded for QRESYNC");
    const after = userQuota(store, alice)!;
    assert.equal(after.usedMessages, 3);
    assert.equal(after.usedBytes, before.usedBytes - body(1).length);

    assert.deepEqual([...expireOldMail(store, { trashMs: 0, junkMs: 0 })], [], "0 keeps mail");
    assert.deepEqual([...expireOldMail(store, { trashMs: 30 * DAY, junkMs: 30 * DAY })], [[
      junk,
      1,
    ]]);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
