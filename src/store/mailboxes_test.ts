import assert from "node:assert/strict";
import { addDomain, addUser, findUser, removeUser } from "./accounts.ts";
import { openStore, type Store, storePath } from "./db.ts";
import { createMailbox, deliver, findMailbox, INBOX } from "./mailboxes.ts";

const HASH = "$scrypt$ln=15,r=8,p=1$c2FsdA==$a2V5";

interface Users {
  alice: number;
  bob: number;
  carol: number;
}

/** Runs `fn` with a store holding example.com and three users, removed afterwards. */
async function withUsers(fn: (store: Store, users: Users) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-mailboxes-test-" });
  try {
    const store = openStore(storePath(dir));
    try {
      addDomain(store, "example.com");
      const id = (local: string) => {
        addUser(store, `${local}@example.com`, HASH);
        return findUser(store, `${local}@example.com`)!.id;
      };
      await fn(store, { alice: id("alice"), bob: id("bob"), carol: id("carol") });
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function count(store: Store, table: string): number {
  return store.get<{ n: number }>(`SELECT count(*) n FROM ${table}`)!.n;
}

function uidnext(store: Store, userId: number, name = INBOX): number | undefined {
  return store.get<{ uidnext: number }>(
    "SELECT uidnext FROM mailboxes WHERE user_id = ? AND name = ?",
    userId,
    name,
  )?.uidnext;
}

function body(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Row counts of every table that a delivery writes to. */
function snapshot(store: Store, users: Users) {
  return {
    messages: count(store, "messages"),
    entries: count(store, "mailbox_entries"),
    mailboxes: count(store, "mailboxes"),
    queue: count(store, "queue"),
    queueRecipients: count(store, "queue_recipients"),
    uidnext: [users.alice, users.bob, users.carol].map((id) => uidnext(store, id)),
  };
}

Deno.test("deliver() to three users stores the body once with uids from 1", async () => {
  await withUsers((store, users) => {
    const targets = [{ userId: users.alice }, { userId: users.bob }, { userId: users.carol }];
    const first = deliver(store, { body: body("Subject: one\r\n\r\nHi\r\n"), mailboxes: targets });
    assert.equal(count(store, "messages"), 1);
    assert.equal(count(store, "mailbox_entries"), 3);
    assert.deepEqual(first.entries.map((e) => [e.userId, e.uid]), [
      [users.alice, 1],
      [users.bob, 1],
      [users.carol, 1],
    ]);
    assert.equal(first.queueId, undefined);
    for (const e of first.entries) {
      assert.equal(e.mailboxId, findMailbox(store, e.userId, INBOX));
    }
    const stored = store.get<{ body: Uint8Array; size: number }>(
      "SELECT body, size FROM messages WHERE id = ?",
      first.messageId,
    )!;
    assert.deepEqual(new Uint8Array(stored.body), body("Subject: one\r\n\r\nHi\r\n"));
    assert.equal(stored.size, 20);
    const refs = store.all<{ message_id: number; size: number }>(
      "SELECT message_id, size FROM mailbox_entries",
    );
    assert.ok(refs.every((r) => r.message_id === first.messageId && r.size === 20));

    const second = deliver(store, { body: body("two"), mailboxes: targets });
    assert.notEqual(second.messageId, first.messageId);
    assert.deepEqual(second.entries.map((e) => e.uid), [2, 2, 2]);
    assert.equal(count(store, "messages"), 2);
    assert.equal(count(store, "mailbox_entries"), 6);
    assert.deepEqual(snapshot(store, users).uidnext, [3, 3, 3]);
  });
});

Deno.test("deliver() advances each mailbox's uids on their own", async () => {
  await withUsers((store, users) => {
    deliver(store, { body: body("a"), mailboxes: [{ userId: users.alice }] });
    deliver(store, { body: body("b"), mailboxes: [{ userId: users.alice }] });
    const r = deliver(store, {
      body: body("c"),
      mailboxes: [{ userId: users.alice }, { userId: users.bob }],
    });
    assert.deepEqual(r.entries.map((e) => e.uid), [3, 1]);
    assert.deepEqual(snapshot(store, users).uidnext, [4, 2, 1]);
  });
});

const failingDeliveries: [name: string, targets: (u: Users) => number[]][] = [
  ["in the middle", (u) => [u.alice, 999_999, u.bob]],
  ["at the end", (u) => [u.alice, u.bob, u.carol, 999_999]],
  ["at the start", (u) => [999_999, u.alice]],
];

for (const [name, targets] of failingDeliveries) {
  Deno.test(`deliver() leaves nothing behind when a target fails ${name}`, async () => {
    await withUsers((store, users) => {
      // One good delivery first, so uidnext is not at its initial value.
      deliver(store, {
        body: body("earlier"),
        mailboxes: [{ userId: users.alice }, { userId: users.bob }, { userId: users.carol }],
      });
      const before = snapshot(store, users);
      assert.throws(
        () =>
          deliver(store, {
            body: body("doomed"),
            mailboxes: targets(users).map((userId) => ({ userId })),
            outbound: { sender: "alice@example.com", recipients: ["x@remote.example"] },
          }),
        /FOREIGN KEY/i,
      );
      assert.deepEqual(snapshot(store, users), before);
      assert.equal(store.db.isTransaction, false);
    });
  });
}

Deno.test("deliver() refuses a delivery with no mailbox and no recipient, storing nothing", async () => {
  await withUsers((store, users) => {
    const before = snapshot(store, users);
    for (const outbound of [undefined, { sender: "a@example.com", recipients: [] }]) {
      assert.throws(
        () => deliver(store, { body: body("nowhere"), mailboxes: [], outbound }),
        /A delivery needs at least one mailbox or outbound recipient/,
      );
    }
    assert.deepEqual(snapshot(store, users), before);
  });
});

Deno.test("deliver() makes one entry for a mailbox named twice", async () => {
  await withUsers((store, users) => {
    const r = deliver(store, {
      body: body("once"),
      mailboxes: [
        { userId: users.alice },
        { userId: users.alice, mailbox: INBOX },
        { userId: users.bob },
        { userId: users.alice },
      ],
    });
    assert.deepEqual(r.entries.map((e) => [e.userId, e.uid]), [[users.alice, 1], [users.bob, 1]]);
    assert.equal(count(store, "mailbox_entries"), 2);
    assert.equal(uidnext(store, users.alice), 2);
  });
});

Deno.test("deliver() makes an entry in each of a user's different mailboxes", async () => {
  await withUsers((store, users) => {
    const r = deliver(store, {
      body: body("twice"),
      mailboxes: [{ userId: users.alice }, { userId: users.alice, mailbox: "Junk" }],
    });
    assert.equal(r.entries.length, 2);
    assert.notEqual(r.entries[0].mailboxId, r.entries[1].mailboxId);
    assert.deepEqual(r.entries.map((e) => e.uid), [1, 1]);
    assert.equal(count(store, "messages"), 1);
  });
});

const onDemand: [name: string, specialUse: string | null][] = [
  ["Junk", "\\Junk"],
  ["Sent", "\\Sent"],
  ["Lists", null],
];

for (const [name, specialUse] of onDemand) {
  Deno.test(`deliver() creates a missing ${name} mailbox on demand`, async () => {
    await withUsers((store, users) => {
      // Every user starts with the special-use mailboxes; this one was deleted since.
      store.run("DELETE FROM mailboxes WHERE user_id = ? AND name = ?", users.alice, name);
      assert.equal(findMailbox(store, users.alice, name), undefined);
      const r = deliver(store, {
        body: body("x"),
        mailboxes: [{ userId: users.alice, mailbox: name }],
      });
      const box = store.get<{ id: number; special_use: string | null; uidnext: number }>(
        "SELECT id, special_use, uidnext FROM mailboxes WHERE user_id = ? AND name = ?",
        users.alice,
        name,
      );
      assert.ok(box);
      assert.equal(box.id, r.entries[0].mailboxId);
      assert.equal(box.special_use, specialUse);
      assert.equal(box.uidnext, 2);
    });
  });
}

Deno.test("deliver() stores the given internal date on every entry", async () => {
  await withUsers((store, users) => {
    const date = new Date("2024-02-29T12:34:56Z");
    deliver(store, {
      body: body("dated"),
      mailboxes: [{ userId: users.alice }, { userId: users.bob }],
      internalDate: date,
    });
    const dates = store.all<{ d: number }>("SELECT internal_date d FROM mailbox_entries");
    assert.deepEqual(dates.map((r) => r.d), [date.getTime(), date.getTime()]);
  });
});

Deno.test("deliver() queues outbound recipients with the same body in one go", async () => {
  await withUsers((store, users) => {
    const r = deliver(store, {
      body: body("out"),
      mailboxes: [{ userId: users.alice }],
      outbound: {
        sender: "alice@example.com",
        recipients: ["x@remote.example", "y@remote.example", "x@remote.example"],
      },
    });
    assert.ok(r.queueId !== undefined);
    assert.equal(count(store, "messages"), 1);
    const queued = store.get<{ message_id: number; sender: string }>(
      "SELECT message_id, sender FROM queue WHERE id = ?",
      r.queueId,
    );
    assert.deepEqual({ ...queued }, { message_id: r.messageId, sender: "alice@example.com" });
    const rcpts = store.all<{ recipient: string; status: string; attempts: number }>(
      "SELECT recipient, status, attempts FROM queue_recipients WHERE queue_id = ? ORDER BY recipient",
      r.queueId,
    ).map((row) => ({ ...row }));
    assert.deepEqual(rcpts, [
      { recipient: "x@remote.example", status: "pending", attempts: 0 },
      { recipient: "y@remote.example", status: "pending", attempts: 0 },
    ]);
  });
});

Deno.test("deliver() queues outbound-only mail with the null sender", async () => {
  await withUsers((store, users) => {
    const before = snapshot(store, users);
    const r = deliver(store, {
      body: body("bounce"),
      mailboxes: [],
      outbound: { sender: "", recipients: ["x@remote.example"] },
    });
    assert.deepEqual(r.entries, []);
    assert.equal(store.get<{ sender: string }>("SELECT sender FROM queue")?.sender, "");
    assert.deepEqual(snapshot(store, users), {
      ...before,
      messages: 1,
      queue: 1,
      queueRecipients: 1,
    });
  });
});

Deno.test("removeUser() drops mailboxes, entries and bodies nobody else refers to", async () => {
  await withUsers((store, users) => {
    const onlyAlice = deliver(store, { body: body("1"), mailboxes: [{ userId: users.alice }] });
    const aliceJunk = deliver(store, {
      body: body("2"),
      mailboxes: [{ userId: users.alice, mailbox: "Junk" }],
    });
    const shared = deliver(store, {
      body: body("3"),
      mailboxes: [{ userId: users.alice }, { userId: users.bob }],
    });
    const queued = deliver(store, {
      body: body("4"),
      mailboxes: [{ userId: users.alice }],
      outbound: { sender: "alice@example.com", recipients: ["x@remote.example"] },
    });
    const ids = () =>
      store.all<{ id: number }>("SELECT id FROM messages ORDER BY id").map((r) => r.id);
    assert.deepEqual(ids(), [onlyAlice, aliceJunk, shared, queued].map((r) => r.messageId));

    removeUser(store, "alice@example.com");
    assert.deepEqual(ids(), [shared.messageId, queued.messageId]);
    assert.equal(
      store.get<{ n: number }>("SELECT count(*) n FROM mailboxes WHERE user_id = ?", users.alice)!
        .n,
      0,
    );
    const entries = store.all<{ mailbox_id: number; message_id: number }>(
      "SELECT mailbox_id, message_id FROM mailbox_entries",
    ).map((r) => ({ ...r }));
    assert.deepEqual(entries, [
      { mailbox_id: findMailbox(store, users.bob, INBOX)!, message_id: shared.messageId },
    ]);

    removeUser(store, "bob@example.com");
    assert.deepEqual(ids(), [queued.messageId], "the queue still refers to its body");

    // Once the queue lets go as well, the last body goes.
    store.run("DELETE FROM queue WHERE id = ?", queued.queueId!);
    assert.deepEqual(ids(), []);
    assert.equal(count(store, "queue_recipients"), 0);
  });
});

Deno.test("createMailbox() gives each new mailbox a higher uidvalidity", async () => {
  await withUsers((store, users) => {
    const validities: number[] = [];
    for (const name of ["A", "B", "C", "D"]) {
      const id = createMailbox(store, users.alice, name);
      validities.push(
        store.get<{ v: number }>("SELECT uidvalidity v FROM mailboxes WHERE id = ?", id)!.v,
      );
    }
    for (let i = 1; i < validities.length; i++) {
      assert.ok(validities[i] > validities[i - 1], `${validities}`);
    }
    assert.throws(() => createMailbox(store, users.alice, "A"), /UNIQUE/);
  });
});
