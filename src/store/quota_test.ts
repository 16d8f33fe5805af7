import assert from "node:assert/strict";
import { addDomain, addUser, removeUser } from "./accounts.ts";
import { openStore, storePath } from "./db.ts";
import { copyEntries, expungeEntries, listUids, moveEntries } from "./entries.ts";
import { createFolder, deleteFolder, renameFolder } from "./folders.ts";
import { deliver, findMailbox } from "./mailboxes.ts";
import { overQuota, type Quota, setUserQuota, userQuota } from "./quota.ts";

const body = (n: number) => new TextEncoder().encode(`Subject: ${"x".repeat(n)}\r\n\r\nbody\r\n`);

Deno.test("usage follows every way mail comes and goes, without summing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-quota-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", "x");
    addUser(store, "bob@example.com", "x");
    const [alice, bob] = store.all<{ id: number }>("SELECT id FROM users ORDER BY id").map((r) =>
      r.id
    );
    const used = (user: number) => {
      const q = userQuota(store, user)!;
      return [q.usedMessages, q.usedBytes];
    };
    const a = body(10).length;
    const b = body(100).length;
    // One body for two accounts: each counts it.
    deliver(store, { body: body(10), mailboxes: [{ userId: alice }, { userId: bob }] });
    deliver(store, { body: body(100), mailboxes: [{ userId: alice }] });
    assert.deepEqual(used(alice), [2, a + b]);
    assert.deepEqual(used(bob), [1, a]);
    const inbox = findMailbox(store, alice, "INBOX")!;
    createFolder(store, alice, "Projects");
    const projects = findMailbox(store, alice, "Projects")!;
    copyEntries(store, inbox, [1], projects);
    assert.deepEqual(used(alice), [3, 2 * a + b], "a copy counts");
    moveEntries(store, inbox, [2], projects);
    assert.deepEqual(used(alice), [3, 2 * a + b], "a move does not");
    expungeEntries(store, inbox, [1]);
    assert.deepEqual(used(alice), [2, a + b]);
    renameFolder(store, alice, "Projects", "Old");
    assert.deepEqual(used(alice), [2, a + b], "a rename does not");
    deleteFolder(store, alice, "Old");
    assert.deepEqual(used(alice), [0, 0], "a deleted mailbox takes its mail");
    assert.deepEqual(listUids(store, inbox), []);
    assert.deepEqual(used(bob), [1, a], "bob's copy is his own");
    removeUser(store, "bob@example.com");
    assert.equal(store.get("SELECT 1 FROM messages"), undefined, "no body left behind");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a user's own quota wins over the default; none is none", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-quota-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", "x");
    const alice = store.get<{ id: number }>("SELECT id FROM users")!.id;
    const defaults = { bytes: 1000, messages: 10 };
    const limits = () => {
      const q = userQuota(store, alice, defaults)!;
      return [q.limitBytes, q.limitMessages, q.own];
    };
    assert.deepEqual(limits(), [1000, 10, false]);
    assert.equal(setUserQuota(store, "alice@example.com", 5000), true);
    assert.deepEqual(limits(), [5000, 10, true]);
    setUserQuota(store, "alice@example.com", "none");
    assert.deepEqual(limits(), [undefined, undefined, true]);
    setUserQuota(store, "alice@example.com", "default");
    assert.deepEqual(limits(), [1000, 10, false]);
    assert.equal(setUserQuota(store, "nobody@example.com", 1), false);
    assert.equal(userQuota(store, 999), undefined);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("overQuota(): past the bytes or the message count, not at them", () => {
  const q = (o: Partial<Quota>): Quota => ({ usedBytes: 900, usedMessages: 9, own: false, ...o });
  const table: [Partial<Quota>, number, boolean][] = [
    [{}, 1_000_000, false],
    [{ limitBytes: 1000 }, 100, false],
    [{ limitBytes: 1000 }, 101, true],
    [{ limitBytes: 1000 }, 0, false],
    [{ limitBytes: 900 }, 0, false],
    [{ limitBytes: 899 }, 0, true],
    [{ limitMessages: 10 }, 5, false],
    [{ limitMessages: 9 }, 5, true],
    [{ limitBytes: 10_000, limitMessages: 9 }, 1, true],
  ];
  for (const [quota, bytes, want] of table) {
    assert.equal(overQuota(q(quota), bytes), want, `${JSON.stringify(quota)} + ${bytes}`);
  }
  // Several messages at once (IMAP COPY): all of them count.
  assert.equal(overQuota(q({ limitMessages: 11 }), 0, 2), false);
  assert.equal(overQuota(q({ limitMessages: 11 }), 0, 3), true);
  assert.equal(overQuota(q({ limitBytes: 1000 }), 100, 5), false);
});

Deno.test("migration 9 counts the usage of mail stored before it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-quota-test-" });
  try {
    let store = openStore(storePath(dir));
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", "x");
    const alice = store.get<{ id: number }>("SELECT id FROM users")!.id;
    deliver(store, {
      body: body(10),
      mailboxes: [{ userId: alice }, { userId: alice, mailbox: "Archive" }],
    });
    deliver(store, {
      body: body(20),
      mailboxes: [{ userId: alice, mailbox: "Trash" }],
      internalDate: new Date("2020-01-02T03:04:05Z"),
    });
    // Back to version 8, as a store made before migration 9 was.
    store.db.exec(`
      DROP TRIGGER usage_entry_added; DROP TRIGGER usage_entry_removed;
      DROP TRIGGER usage_mailbox_removed;
      ALTER TABLE users DROP COLUMN quota_bytes; ALTER TABLE users DROP COLUMN used_bytes;
      ALTER TABLE users DROP COLUMN used_messages;
      ALTER TABLE mailbox_entries DROP COLUMN saved_at;
      PRAGMA user_version = 8`);
    store.close();
    store = openStore(storePath(dir));
    try {
      const quota = userQuota(store, alice)!;
      assert.deepEqual([quota.usedMessages, quota.usedBytes], [
        3,
        2 * body(10).length + body(20).length,
      ]);
      assert.equal(quota.limitBytes, undefined);
      const trash = findMailbox(store, alice, "Trash")!;
      const saved = store.get<{ saved_at: number }>(
        "SELECT saved_at FROM mailbox_entries WHERE mailbox_id = ?",
        trash,
      )!;
      assert.equal(saved.saved_at, Date.parse("2020-01-02T03:04:05Z"), "saved when it arrived");
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
