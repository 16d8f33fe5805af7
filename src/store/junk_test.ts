import assert from "node:assert/strict";
import { addDomain, addUser, removeUser } from "./accounts.ts";
import { openStore, type Store, storePath } from "./db.ts";
import {
  junkFeatureCounts,
  junkTotals,
  pruneAllJunk,
  pruneJunk,
  trainJunk,
  untrainJunk,
} from "./junk.ts";

async function withStore(fn: (store: Store, alice: number, bob: number) => void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-junk-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", "x");
    addUser(store, "bob@example.com", "x");
    const id = (a: string) =>
      store.get<{ id: number }>("SELECT id FROM users WHERE address = ?", a)!.id;
    fn(store, id("alice@example.com"), id("bob@example.com"));
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const counts = (store: Store, user: number, features: string[]) => {
  const totals = junkTotals(store, user);
  const seen = junkFeatureCounts(store, user, features);
  return { spam: totals.spam, ham: totals.ham, features: Object.fromEntries(seen) };
};

Deno.test("trainJunk() counts a message once per side, and moving it undoes the other side", () =>
  withStore((store, alice, bob) => {
    assert.equal(trainJunk(store, alice, 1, ["win", "prize", "win"], true), "trained");
    assert.equal(trainJunk(store, alice, 1, ["win", "prize"], true), "unchanged");
    assert.equal(trainJunk(store, alice, 2, ["win", "meeting"], false), "trained");
    assert.deepEqual(counts(store, alice, ["win", "prize", "meeting", "never"]), {
      spam: 1,
      ham: 1,
      features: {
        win: { spam: 1, ham: 1 },
        prize: { spam: 1, ham: 0 },
        meeting: { spam: 0, ham: 1 },
      },
    });
    // The user moves message 1 out of Junk: it becomes ham, its spam training is taken back.
    assert.equal(trainJunk(store, alice, 1, ["win", "prize"], false), "retrained");
    assert.deepEqual(counts(store, alice, ["win", "prize"]), {
      spam: 0,
      ham: 2,
      features: { win: { spam: 0, ham: 2 }, prize: { spam: 0, ham: 1 } },
    });
    // Another account learned nothing.
    assert.deepEqual(counts(store, bob, ["win"]), { spam: 0, ham: 0, features: {} });
  }));

Deno.test("untrainJunk() takes training back; counts never go below zero", () =>
  withStore((store, alice) => {
    trainJunk(store, alice, 7, ["a", "b"], true);
    assert.equal(untrainJunk(store, alice, 7, ["a", "b", "c"]), true);
    assert.equal(untrainJunk(store, alice, 7, ["a", "b"]), false, "already taken back");
    assert.deepEqual(counts(store, alice, ["a", "b", "c"]), {
      spam: 0,
      ham: 0,
      features: { a: { spam: 0, ham: 0 }, b: { spam: 0, ham: 0 } },
    });
  }));

Deno.test("pruneJunk() drops unseen features, then the rarest and oldest above the bound", () =>
  withStore((store, alice) => {
    trainJunk(store, alice, 1, ["common", "old-rare"], true, 1000);
    trainJunk(store, alice, 2, ["common", "new-rare", "gone"], true, 2000);
    trainJunk(store, alice, 3, ["common"], false, 3000);
    untrainJunk(store, alice, 2, ["gone"]); // "gone" now 0/0; "common" keeps message 2's count
    assert.equal(pruneJunk(store, alice, 2), 2, "gone, then old-rare");
    assert.deepEqual(
      Object.keys(counts(store, alice, ["common", "old-rare", "new-rare", "gone"]).features).sort(),
      ["common", "new-rare"],
    );
  }));

Deno.test("pruneAllJunk() prunes the accounts over the bound or with dead features, only them", () =>
  withStore((store, alice, bob) => {
    trainJunk(store, alice, 1, ["a", "b", "c", "rep:from:x@y.example"], true, 1);
    trainJunk(store, alice, 2, ["a", "d"], false, 2);
    trainJunk(store, bob, 3, ["a", "b"], true, 3);
    assert.equal(pruneAllJunk(store, 3), 2, "alice: 5 features, 3 kept");
    const left = (user: number) =>
      store.all<{ feature: string }>(
        "SELECT feature FROM junk_features WHERE user_id = ? ORDER BY feature",
        user,
      ).map((r) => r.feature);
    // The rarest and oldest go first; sender reputation last.
    assert.deepEqual(left(alice), ["a", "d", "rep:from:x@y.example"]);
    assert.deepEqual(left(bob), ["a", "b"]);
    untrainJunk(store, bob, 3, ["a", "b"]);
    assert.equal(pruneAllJunk(store, 3), 2, "bob's features went to nothing");
    assert.deepEqual(left(bob), []);
    assert.equal(pruneAllJunk(store, 3), 0);
  }));

Deno.test("migration 8 counts the messages trained before it, per account", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-junk-test-" });
  try {
    let store = openStore(storePath(dir));
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", "x");
    addUser(store, "bob@example.com", "x");
    const [alice, bob] = store.all<{ id: number }>("SELECT id FROM users ORDER BY id").map((r) =>
      r.id
    );
    trainJunk(store, alice, 1, ["a"], true);
    trainJunk(store, alice, 2, ["b"], true);
    trainJunk(store, alice, 3, ["c"], false);
    trainJunk(store, bob, 4, ["d"], false);
    // Back to version 7, as a store made before migration 8 was.
    store.db.exec(
      // Migration 9's objects go too, so that reopening runs 8 and then 9 again.
      `DROP TABLE junk_totals; DROP TABLE junk_correspondents;
       DROP TRIGGER usage_entry_added; DROP TRIGGER usage_entry_removed;
       DROP TRIGGER usage_mailbox_removed; ALTER TABLE users DROP COLUMN quota_bytes;
       ALTER TABLE users DROP COLUMN used_bytes; ALTER TABLE users DROP COLUMN used_messages;
       ALTER TABLE mailbox_entries DROP COLUMN saved_at; PRAGMA user_version = 7`,
    );
    store.close();
    store = openStore(storePath(dir));
    try {
      const sides = (user: number) => {
        const { spam, ham } = junkTotals(store, user);
        return { spam, ham };
      };
      assert.deepEqual(sides(alice), { spam: 2, ham: 1 });
      assert.deepEqual(sides(bob), { spam: 0, ham: 1 });
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an account's learning goes with the account", () =>
  withStore((store, alice) => {
    trainJunk(store, alice, 1, ["x"], true);
    removeUser(store, "alice@example.com");
    const left = store.get<{ n: number }>(
      "SELECT (SELECT count(*) FROM junk_features) + (SELECT count(*) FROM junk_trained) n",
    )!;
    assert.equal(left.n, 0);
  }));
