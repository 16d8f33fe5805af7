import assert from "node:assert/strict";
import { addDomain } from "./accounts.ts";
import { openStore, type Store, storePath } from "./db.ts";
import { deliver } from "./mailboxes.ts";
import {
  deleteQueueItem,
  dueRecipients,
  listQueue,
  markDeferred,
  markDelivered,
  markFailed,
  nextDueAt,
  queuedBody,
  retryNow,
} from "./queue.ts";

async function withStore(fn: (store: Store) => void | Promise<void>) {
  const dir = await Deno.makeTempDir();
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    await fn(store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function enqueue(store: Store, recipients: string[], text = "Subject: q\r\n\r\nbody\r\n") {
  return deliver(store, {
    body: new TextEncoder().encode(text),
    mailboxes: [],
    outbound: { sender: "alice@example.com", recipients },
  });
}

Deno.test("dueRecipients() lists pending recipients whose time has come", async () => {
  await withStore((store) => {
    const { queueId, messageId } = enqueue(store, ["a@remote.example", "b@other.example"]);
    const due = dueRecipients(store, Date.now() + 1);
    assert.deepEqual(due.map((d) => d.recipient).sort(), ["a@remote.example", "b@other.example"]);
    assert.equal(due[0].queueId, queueId);
    assert.equal(due[0].messageId, messageId);
    assert.equal(due[0].sender, "alice@example.com");
    assert.equal(due[0].attempts, 0);
    assert.equal(
      new TextDecoder().decode(queuedBody(store, messageId)),
      "Subject: q\r\n\r\nbody\r\n",
    );
  });
});

Deno.test("markDeferred() counts the attempt and hides the recipient until it is due", async () => {
  await withStore((store) => {
    const { queueId } = enqueue(store, ["a@remote.example", "b@remote.example"]);
    const later = Date.now() + 60_000;
    markDeferred(store, queueId!, ["a@remote.example"], later, "451 4.7.1 try later");
    const now = dueRecipients(store, Date.now() + 1).map((d) => d.recipient);
    assert.deepEqual(now, ["b@remote.example"]);
    const item = listQueue(store)[0];
    const a = item.recipients.find((r) => r.address === "a@remote.example")!;
    assert.equal(a.attempts, 1);
    assert.equal(a.status, "pending");
    assert.equal(a.lastError, "451 4.7.1 try later");
    assert.equal(a.nextAttemptAt.getTime(), later);
    assert.equal(
      nextDueAt(store),
      item.recipients.find((r) => r.address === "b@remote.example")!
        .nextAttemptAt.getTime(),
    );
  });
});

Deno.test("the item and its body go once no recipient is pending, whatever the outcomes", async () => {
  await withStore((store) => {
    const { queueId, messageId } = enqueue(store, ["a@remote.example", "b@remote.example"]);
    markDelivered(store, queueId!, ["a@remote.example"]);
    assert.equal(listQueue(store).length, 1, "b is still pending");
    markFailed(store, queueId!, ["b@remote.example"], "550 5.1.1 no such user");
    assert.equal(listQueue(store).length, 0);
    assert.equal(queuedBody(store, messageId).length, 0, "the body is gone");
    assert.equal(nextDueAt(store), undefined);
  });
});

Deno.test("retryNow() makes pending recipients due; deleteQueueItem() removes the item", async () => {
  await withStore((store) => {
    const { queueId } = enqueue(store, ["a@remote.example"]);
    markDeferred(store, queueId!, ["a@remote.example"], Date.now() + 3_600_000, "451");
    assert.equal(dueRecipients(store, Date.now()).length, 0);
    assert.equal(retryNow(store, queueId!), true);
    assert.equal(dueRecipients(store, Date.now() + 1).length, 1);
    assert.equal(retryNow(store, 9999), false);
    assert.equal(deleteQueueItem(store, queueId!), true);
    assert.equal(deleteQueueItem(store, queueId!), false);
    assert.equal(listQueue(store).length, 0);
  });
});

Deno.test("a status never changes twice: delivered stays delivered", async () => {
  await withStore((store) => {
    const { queueId } = enqueue(store, ["a@remote.example", "b@remote.example"]);
    markDelivered(store, queueId!, ["a@remote.example"]);
    markDeferred(store, queueId!, ["a@remote.example"], Date.now() + 1000, "late 451");
    const a = listQueue(store)[0].recipients.find((r) => r.address === "a@remote.example")!;
    assert.equal(a.status, "delivered");
    assert.equal(a.attempts, 1);
  });
});
