import assert from "node:assert/strict";
import { addDomain, addUser } from "../store/accounts.ts";
import { openStore, storePath } from "../store/db.ts";
import { trainJunk } from "../store/junk.ts";
import { startJunkPruning } from "./pruning.ts";

Deno.test("startJunkPruning() prunes at once and then on its interval, until stopped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-pruning-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", "x");
    const alice = store.get<{ id: number }>("SELECT id FROM users")!.id;
    const features = () =>
      store.get<{ n: number }>("SELECT count(*) n FROM junk_features WHERE user_id = ?", alice)!.n;
    trainJunk(store, alice, 1, ["a", "b", "c", "d"], true, 1);
    const stop = startJunkPruning(store, { everyMs: 20, maxFeatures: 2 });
    try {
      assert.equal(features(), 2, "pruned at start");
      trainJunk(store, alice, 2, ["e", "f", "g"], false, 2);
      assert.equal(features(), 5);
      const deadline = Date.now() + 5000;
      while (features() > 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.equal(features(), 2, "pruned on the interval");
    } finally {
      stop();
    }
    trainJunk(store, alice, 3, ["h", "i", "j"], true, 3);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(features(), 5, "stopped: no more pruning");
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
