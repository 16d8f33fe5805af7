import assert from "node:assert/strict";
import { addDomain, addUser, findUser } from "./accounts.ts";
import { MailboxChanges, watchOtherWriters } from "./changes.ts";
import { openStore, storePath } from "./db.ts";
import { deliver, findMailbox, INBOX } from "./mailboxes.ts";

const HASH = "$scrypt$ln=15,r=8,p=1$c2FsdA==$a2V5";
const message = (text: string) => new TextEncoder().encode(`Subject: ${text}\r\n\r\n${text}\r\n`);

/** Waits until `check` holds, or fails after `ms`. */
async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("watchOtherWriters() tells the listeners of a mailbox another connection changed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-changes-test-" });
  const server = openStore(storePath(dir));
  // The other process (postino import): its own connection to the same file.
  const other = openStore(storePath(dir));
  const changes = new MailboxChanges();
  const stop = watchOtherWriters(server, changes, 20);
  try {
    addDomain(server, "example.com");
    addUser(server, "alice@example.com", HASH);
    addUser(server, "bob@example.com", HASH);
    const alice = findUser(server, "alice@example.com")!.id;
    const bob = findUser(server, "bob@example.com")!.id;
    const inbox = findMailbox(server, alice, INBOX)!;
    const bobInbox = findMailbox(server, bob, INBOX)!;
    let told = 0;
    const unsubscribe = changes.subscribe(inbox, () => told++);
    // A mailbox listened to for the first time is told once.
    await until(() => told === 1, 2000, "the first look");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(told, 1, "nothing changed: nothing told");

    deliver(other, { body: message("one"), mailboxes: [{ userId: alice }] });
    await until(() => told === 2, 2000, "a delivery by the other connection");

    // A change to a mailbox nobody listens to is not told to this one.
    deliver(other, { body: message("two"), mailboxes: [{ userId: bob }] });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(told, 2);
    assert.deepEqual(changes.watched(), [inbox]);
    assert.ok(!changes.watched().includes(bobInbox));

    unsubscribe();
    assert.deepEqual(changes.watched(), []);
  } finally {
    stop();
    other.close();
    server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
