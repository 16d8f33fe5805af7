import assert from "node:assert/strict";
import { addDomain, addUser, findUser } from "./accounts.ts";
import { openStore, storePath } from "./db.ts";
import { entryBodySizes } from "./import_index.ts";
import { deliver, findMailbox, INBOX } from "./mailboxes.ts";

const HASH = "$scrypt$ln=15,r=8,p=1$c2FsdA==$a2V5";
const message = (text: string) => new TextEncoder().encode(`Subject: ${text}\r\n\r\n${text}\r\n`);

Deno.test("entryBodySizes() gives each entry's body size from its metadata, null without", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-import-index-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", HASH);
    const alice = findUser(store, "alice@example.com")!.id;
    const meta = JSON.stringify({ parts: { h: [0, 14], b: [14, 20] } });
    deliver(store, { body: message("sized"), mailboxes: [{ userId: alice }], meta });
    deliver(store, { body: message("unsized"), mailboxes: [{ userId: alice }] });
    deliver(store, { body: message("bad meta"), mailboxes: [{ userId: alice }], meta: "{" });
    const sizes = entryBodySizes(store, findMailbox(store, alice, INBOX)!);
    assert.deepEqual(sizes.map((s) => s.bodySize), [6, null, null]);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
