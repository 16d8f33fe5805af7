import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { addDomain, removeDomain } from "./accounts.ts";
import { openStore, type Store, StoreError, storePath } from "./db.ts";
import {
  activeDkimKey,
  addDkimKey,
  checkCanAddDkimKey,
  listDkimKeys,
  type NewDkimKey,
} from "./dkim_keys.ts";
import { migrations } from "./migrations.ts";

/** Runs `fn` with a store in a fresh temp dir holding example.com and example.org. */
async function withStore(fn: (store: Store, dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-dkim-keys-test-" });
  try {
    const store = openStore(storePath(dir));
    try {
      addDomain(store, "example.com");
      addDomain(store, "example.org");
      await fn(store, dir);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A key shaped well enough for the store, which never parses it. */
function key(domain: string, selector: string, extra: Partial<NewDkimKey> = {}): NewDkimKey {
  return {
    domain,
    selector,
    algorithm: "ed25519",
    privateKeyPem:
      `-----BEGIN PRIVATE KEY-----\n${selector}@${domain}\n-----END PRIVATE KEY-----\n`,
    publicKey: btoa(`${selector}@${domain}`),
    ...extra,
  };
}

const at = (iso: string) => new Date(iso);

Deno.test("addDkimKey() stores keys that listDkimKeys() lists without private keys", async () => {
  await withStore((store) => {
    addDkimKey(store, key("example.org", "b", { createdAt: at("2026-02-01T00:00:00Z") }));
    addDkimKey(
      store,
      key("example.com", "s2", { algorithm: "rsa", createdAt: at("2026-03-01T00:00:00Z") }),
    );
    addDkimKey(
      store,
      key("example.com", "s1", { active: false, createdAt: at("2026-01-01T00:00:00Z") }),
    );
    const listed = listDkimKeys(store);
    assert.deepEqual(listed, [
      {
        domain: "example.com",
        selector: "s1",
        algorithm: "ed25519",
        publicKey: btoa("s1@example.com"),
        createdAt: at("2026-01-01T00:00:00Z"),
        active: false,
      },
      {
        domain: "example.com",
        selector: "s2",
        algorithm: "rsa",
        publicKey: btoa("s2@example.com"),
        createdAt: at("2026-03-01T00:00:00Z"),
        active: true,
      },
      {
        domain: "example.org",
        selector: "b",
        algorithm: "ed25519",
        publicKey: btoa("b@example.org"),
        createdAt: at("2026-02-01T00:00:00Z"),
        active: true,
      },
    ]);
    for (const k of listed) assert.ok(!("privateKeyPem" in k));
  });
});

Deno.test("listDkimKeys() is empty without keys", async () => {
  await withStore((store) => assert.deepEqual(listDkimKeys(store), []));
});

const refusals: [name: string, add: NewDkimKey, message: string][] = [
  [
    "a domain that is not local",
    key("nowhere.example", "s1"),
    "Domain nowhere.example is not a local domain; add it first with: " +
    "postino domain add nowhere.example",
  ],
  [
    "a selector the domain has already",
    key("example.com", "s1", { algorithm: "rsa" }),
    "DKIM key s1 of example.com already exists; choose another with --selector",
  ],
];

for (const [name, add, message] of refusals) {
  Deno.test(`addDkimKey() refuses ${name}`, async () => {
    await withStore((store) => {
      addDkimKey(store, key("example.com", "s1"));
      const before = listDkimKeys(store);
      for (
        const attempt of [
          () => checkCanAddDkimKey(store, add.domain, add.selector),
          () => addDkimKey(store, add),
        ]
      ) {
        assert.throws(attempt, (err: unknown) => {
          assert.ok(err instanceof StoreError, String(err));
          assert.equal(err.message, message);
          return true;
        });
      }
      assert.deepEqual(listDkimKeys(store), before);
    });
  });
}

Deno.test("addDkimKey() allows one selector in several domains", async () => {
  await withStore((store) => {
    addDkimKey(store, key("example.com", "s1"));
    checkCanAddDkimKey(store, "example.org", "s1");
    addDkimKey(store, key("example.org", "s1"));
    assert.deepEqual(listDkimKeys(store).map((k) => `${k.selector}@${k.domain}`), [
      "s1@example.com",
      "s1@example.org",
    ]);
  });
});

const actives: [name: string, keys: NewDkimKey[], expected: string | undefined][] = [
  ["no key", [], undefined],
  ["the only key", [key("example.com", "a")], "a"],
  [
    "the newest of several",
    [
      key("example.com", "old", { createdAt: at("2026-01-01T00:00:00Z") }),
      key("example.com", "new", { createdAt: at("2026-06-01T00:00:00Z") }),
      key("example.com", "mid", { createdAt: at("2026-03-01T00:00:00Z") }),
    ],
    "new",
  ],
  [
    "the newest active one, skipping a newer inactive one",
    [
      key("example.com", "old", { createdAt: at("2026-01-01T00:00:00Z") }),
      key("example.com", "off", { createdAt: at("2026-06-01T00:00:00Z"), active: false }),
    ],
    "old",
  ],
  [
    "nothing when every key is inactive",
    [key("example.com", "off", { active: false })],
    undefined,
  ],
  [
    "the one added last when two share a time",
    [
      key("example.com", "first", { createdAt: at("2026-01-01T00:00:00Z") }),
      key("example.com", "second", { createdAt: at("2026-01-01T00:00:00Z") }),
    ],
    "second",
  ],
  [
    "none of another domain's keys",
    [key("example.org", "other", { createdAt: at("2027-01-01T00:00:00Z") })],
    undefined,
  ],
];

for (const [name, keys, expected] of actives) {
  Deno.test(`activeDkimKey() gives ${name}`, async () => {
    await withStore((store) => {
      for (const k of keys) addDkimKey(store, k);
      const active = activeDkimKey(store, "example.com");
      assert.equal(active?.selector, expected);
      if (active) {
        const stored = keys.find((k) => k.selector === expected)!;
        assert.equal(active.domain, "example.com");
        assert.equal(active.privateKeyPem, stored.privateKeyPem);
        assert.equal(active.publicKey, stored.publicKey);
        assert.equal(active.algorithm, stored.algorithm);
        assert.equal(active.active, true);
      }
    });
  });
}

Deno.test("dkim_keys refuses an algorithm other than rsa and ed25519", async () => {
  await withStore((store) => {
    const bad = key("example.com", "s1", { algorithm: "dsa" as "rsa" });
    assert.throws(() => addDkimKey(store, bad), /CHECK constraint failed/);
    assert.deepEqual(listDkimKeys(store), []);
  });
});

Deno.test("a domain's keys outlive domain del and serve it again when it is re-added", async () => {
  await withStore((store) => {
    addDkimKey(store, key("example.org", "s1"));
    removeDomain(store, "example.org");
    assert.equal(listDkimKeys(store).length, 1);
    addDomain(store, "example.org");
    assert.equal(activeDkimKey(store, "example.org")?.selector, "s1");
  });
});

Deno.test("migration 3 adds dkim_keys to a version 2 database and keeps its data", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-dkim-keys-test-" });
  try {
    const path = storePath(dir);
    const raw = new DatabaseSync(path);
    try {
      for (const sql of migrations.slice(0, 2)) raw.exec(sql);
      raw.exec("PRAGMA user_version = 2");
      raw.exec("INSERT INTO domains (name, created_at) VALUES ('example.com', 0)");
    } finally {
      raw.close();
    }
    const store = openStore(path);
    try {
      assert.ok(store.schemaVersion >= 3);
      addDkimKey(store, key("example.com", "s1"));
      assert.equal(activeDkimKey(store, "example.com")?.selector, "s1");
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
