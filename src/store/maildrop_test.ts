import assert from "node:assert/strict";
import { addDomain, addUser, findUser } from "./accounts.ts";
import { openStore, type Store, storePath } from "./db.ts";
import { deliver, findMailbox, INBOX } from "./mailboxes.ts";
import { openMaildrop, readBodies, readBodySlice, removeMessages } from "./maildrop.ts";

const HASH = "$scrypt$ln=15,r=8,p=1$c2FsdA==$a2V5";
const encoder = new TextEncoder();

/** Runs `fn` with a store holding example.com with alice and bob, removed afterwards. */
async function withStore(
  fn: (store: Store, users: { alice: number; bob: number }) => void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-maildrop-test-" });
  try {
    const store = openStore(storePath(dir));
    try {
      addDomain(store, "example.com");
      const id = (local: string) => {
        addUser(store, `${local}@example.com`, HASH);
        return findUser(store, `${local}@example.com`)!.id;
      };
      fn(store, { alice: id("alice"), bob: id("bob") });
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function put(store: Store, userIds: number[], body: Uint8Array | string, mailbox?: string) {
  return deliver(store, {
    body: typeof body === "string" ? encoder.encode(body) : body,
    mailboxes: userIds.map((userId) => ({ userId, mailbox })),
  });
}

function modseq(store: Store, mailboxId: number): number {
  return store.get<{ m: number }>(
    "SELECT highest_modseq m FROM mailboxes WHERE id = ?",
    mailboxId,
  )!.m;
}

Deno.test("openMaildrop() gives the INBOX oldest first with uids, message ids and sizes", async () => {
  await withStore((store, { alice, bob }) => {
    const empty = openMaildrop(store, alice)!;
    const inbox = findMailbox(store, alice, INBOX)!;
    assert.equal(empty.mailboxId, inbox);
    assert.deepEqual(empty.messages, []);
    const { uidvalidity } = store.get<{ uidvalidity: number }>(
      "SELECT uidvalidity FROM mailboxes WHERE id = ?",
      inbox,
    )!;
    assert.equal(empty.uidvalidity, uidvalidity);

    const a = put(store, [alice], "Subject: a\r\n\r\nA\r\n");
    put(store, [bob], "Subject: for bob\r\n\r\n"); // someone else's
    const b = put(store, [alice, bob], "Subject: bb\r\n\r\nBB\r\n");
    put(store, [alice], "Subject: junk\r\n\r\n", "Junk"); // another mailbox
    const c = put(store, [alice], new Uint8Array([0x00, 0xff, 0x0d, 0x0a]));

    const drop = openMaildrop(store, alice)!;
    assert.equal(drop.uidvalidity, uidvalidity);
    assert.deepEqual(drop.messages, [
      // Deliveries that do not say otherwise may have dot lines.
      { uid: 1, messageId: a.messageId, size: 17, dotLines: true },
      { uid: 2, messageId: b.messageId, size: 19, dotLines: true },
      { uid: 3, messageId: c.messageId, size: 4, dotLines: true },
    ]);
    const plain = deliver(store, {
      body: new TextEncoder().encode("Subject: plain\r\n\r\nno dot lines\r\n"),
      mailboxes: [{ userId: bob }],
      dotLines: false,
    });
    assert.equal(
      openMaildrop(store, bob)!.messages.find((m) => m.messageId === plain.messageId)?.dotLines,
      false,
    );
    // A snapshot: later deliveries do not change it.
    put(store, [alice], "Subject: later\r\n\r\n");
    assert.equal(drop.messages.length, 3);
    assert.equal(openMaildrop(store, alice)!.messages.length, 4);
    assert.equal(openMaildrop(store, bob)!.messages.length, 3);
  });
});

Deno.test("openMaildrop() gives undefined for a user without an INBOX", async () => {
  await withStore((store, { alice }) => {
    assert.equal(openMaildrop(store, 9999), undefined);
    store.run("DELETE FROM mailboxes WHERE user_id = ? AND name = ?", alice, INBOX);
    assert.equal(openMaildrop(store, alice), undefined);
  });
});

Deno.test("readBodies() reads several bodies by message id; missing ones are left out", async () => {
  await withStore((store, { alice }) => {
    const a = put(store, [alice], "From: a@x\r\n\r\none\r\n").messageId;
    const b = put(store, [alice], new Uint8Array([0, 255, 13, 10])).messageId;
    const bodies = readBodies(store, [b, a, 999_999]);
    assert.deepEqual([...bodies.keys()].sort(), [a, b].sort());
    assert.equal(new TextDecoder().decode(bodies.get(a)), "From: a@x\r\n\r\none\r\n");
    assert.deepEqual([...bodies.get(b)!], [0, 255, 13, 10]);
    assert.equal(readBodies(store, []).size, 0);
  });
});

Deno.test("readBodySlice() reads any range of the stored octets", async () => {
  await withStore((store, { alice }) => {
    const bytes = new Uint8Array(300);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) % 256; // NULs and 8-bit too
    const { messageId } = put(store, [alice], bytes);
    const table: [number, number, Uint8Array][] = [
      [0, 300, bytes],
      [0, 1, bytes.subarray(0, 1)],
      [0, 10, bytes.subarray(0, 10)],
      [10, 20, bytes.subarray(10, 30)],
      [299, 1, bytes.subarray(299)],
      [290, 100, bytes.subarray(290)], // fewer at the end
      [300, 10, new Uint8Array()],
      [1000, 10, new Uint8Array()],
      [5, 0, new Uint8Array()],
    ];
    for (const [offset, length, want] of table) {
      const got = readBodySlice(store, messageId, offset, length);
      assert.ok(got instanceof Uint8Array, `${offset}+${length} is bytes`);
      assert.deepEqual([...got], [...want], `${offset}+${length}`);
    }
    // Slices put back together give the body.
    const parts: number[] = [];
    for (let o = 0; o < bytes.length; o += 64) {
      parts.push(...readBodySlice(store, messageId, o, 64));
    }
    assert.deepEqual(parts, [...bytes]);
    // A message that does not exist reads as empty.
    assert.equal(readBodySlice(store, messageId + 100, 0, 10).length, 0);
  });
});

Deno.test("readBodySlice() of an empty body is empty", async () => {
  await withStore((store, { alice }) => {
    const { messageId } = put(store, [alice], new Uint8Array());
    const got = readBodySlice(store, messageId, 0, 1024);
    assert.ok(got instanceof Uint8Array);
    assert.equal(got.length, 0);
    assert.equal(openMaildrop(store, alice)!.messages[0].size, 0);
  });
});

Deno.test("removeMessages() removes the given uids in one go and counts them", async () => {
  await withStore((store, { alice, bob }) => {
    const shared = put(store, [alice, bob], "Subject: shared\r\n\r\n");
    const own = put(store, [alice], "Subject: own\r\n\r\n");
    put(store, [alice], "Subject: stays\r\n\r\n");
    const drop = openMaildrop(store, alice)!;
    const before = modseq(store, drop.mailboxId);

    assert.equal(removeMessages(store, drop.mailboxId, []), 0);
    assert.equal(modseq(store, drop.mailboxId), before, "nothing removed, nothing changed");

    assert.equal(removeMessages(store, drop.mailboxId, [1, 2]), 2);
    assert.deepEqual(openMaildrop(store, alice)!.messages.map((m) => m.uid), [3]);
    assert.ok(modseq(store, drop.mailboxId) > before, "the mailbox changed");
    // bob still has the shared body; alice's own body is gone with its last entry.
    const bobDrop = openMaildrop(store, bob)!;
    assert.deepEqual(bobDrop.messages.map((m) => m.messageId), [shared.messageId]);
    assert.equal(readBodySlice(store, shared.messageId, 0, 100).length, 19);
    assert.equal(readBodySlice(store, own.messageId, 0, 100).length, 0);

    // Already removed (by another session) or unknown: skipped.
    const after = modseq(store, drop.mailboxId);
    assert.equal(removeMessages(store, drop.mailboxId, [1, 2, 99]), 0);
    assert.equal(modseq(store, drop.mailboxId), after);
    assert.equal(removeMessages(store, drop.mailboxId, [2, 3]), 1);
    assert.deepEqual(openMaildrop(store, alice)!.messages, []);
    // Another user's mailbox is untouched by uids of the same number.
    assert.equal(openMaildrop(store, bob)!.messages.length, 1);
  });
});

Deno.test("removeMessages() never reuses uids: a new message gets a higher one", async () => {
  await withStore((store, { alice }) => {
    put(store, [alice], "Subject: 1\r\n\r\n");
    put(store, [alice], "Subject: 2\r\n\r\n");
    const drop = openMaildrop(store, alice)!;
    removeMessages(store, drop.mailboxId, [2]);
    put(store, [alice], "Subject: 3\r\n\r\n");
    const again = openMaildrop(store, alice)!;
    assert.deepEqual(again.messages.map((m) => m.uid), [1, 3]);
    assert.equal(again.uidvalidity, drop.uidvalidity);
  });
});
