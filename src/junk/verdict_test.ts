import assert from "node:assert/strict";
import { addDomain, addUser } from "../store/accounts.ts";
import { openStore, storePath } from "../store/db.ts";
import { trainJunk } from "../store/junk.ts";
import { featuresOf, judgeJunk, MIN_TRAINED } from "./verdict.ts";

Deno.test("featuresOf() tokenizes a message once, at the first call", () => {
  const features = featuresOf(new TextEncoder().encode("Subject: cheap pills\r\n\r\nwinner\r\n"));
  const first = features();
  assert.ok(first.includes("subject:cheap") && first.includes("winner"));
  assert.equal(features(), first, "the same list, not a second tokenizing");
});

Deno.test("judgeJunk() abstains until trained, then sees each new lesson at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-verdict-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", "x");
    const alice = store.get<{ id: number }>("SELECT id FROM users")!.id;
    const mail = (words: string) => featuresOf(new TextEncoder().encode(`\r\n${words}\r\n`));
    const judge = (words: string) => judgeJunk(store, alice, mail(words));
    let id = 0;
    const teach = (spam: boolean, words: string) =>
      trainJunk(store, alice, ++id, [...mail(words)()], spam);
    for (let i = 0; i < MIN_TRAINED - 1; i++) teach(true, `cheap pills winner w${i}`);
    for (let i = 0; i < MIN_TRAINED; i++) teach(false, `meeting agenda notes h${i}`);
    const untrained = judge("cheap pills winner");
    assert.equal(untrained.by, undefined);
    assert.equal(untrained.header, "", "no decision, no field");
    teach(true, "cheap pills winner last");
    const spam = judge("cheap pills winner");
    assert.equal(spam.spam, true, spam.reason);
    assert.equal(spam.by, "content");
    assert.match(
      spam.header,
      /^X-Postino-Spam: yes; score=(0\.9\d\d|1\.000); reason="bayes cheap:/,
    );
    assert.equal(judge("meeting agenda notes").spam, false);
    // A word never seen says nothing; once taught (the kept table is read again), it does.
    assert.doesNotMatch(judge("zzunique meeting").reason, /zzunique/);
    for (let i = 0; i < 5; i++) teach(true, `zzunique offer ${i}`);
    assert.match(judge("zzunique meeting").reason, /zzunique:0\.9/);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
