import assert from "node:assert/strict";
import {
  addAlias,
  addDomain,
  addUser,
  aliasTargets,
  checkCanAddUser,
  ensureDomain,
  findUser,
  isLocalDomain,
  listAliases,
  listDomains,
  listUsers,
  removeAlias,
  removeDomain,
  removeUser,
  setPasswordHash,
} from "./accounts.ts";
import { openStore, type Store, StoreError, storePath } from "./db.ts";
import { deliver, findMailbox, INBOX } from "./mailboxes.ts";

/** A hash-shaped string; these tests never verify it. */
const HASH =
  "$scrypt$ln=15,r=8,p=1$c2FsdHNhbHRzYWx0c2FsdA==$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=";

/** Runs `fn` with a store in a fresh temp dir, closed and removed afterwards. */
async function withStore(fn: (store: Store) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-accounts-test-" });
  try {
    const store = openStore(storePath(dir));
    try {
      await fn(store);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts that `fn` throws a StoreError with exactly `message`. */
function assertStoreError(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${err}`);
    assert.equal(err.message, message);
    return true;
  });
}

function count(store: Store, table: string): number {
  return store.get<{ n: number }>(`SELECT count(*) n FROM ${table}`)!.n;
}

// ---------------------------------------------------------------------------
// Domains

Deno.test("addDomain() adds a domain once and refuses a duplicate", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    assert.equal(isLocalDomain(store, "example.com"), true);
    assert.equal(isLocalDomain(store, "example.org"), false);
    assertStoreError(() => addDomain(store, "example.com"), "Domain example.com already exists");
    assert.equal(count(store, "domains"), 1);
  });
});

Deno.test("ensureDomain() adds a missing domain and is idempotent", async () => {
  await withStore((store) => {
    assert.equal(ensureDomain(store, "example.com"), true);
    assert.equal(ensureDomain(store, "example.com"), false);
    assert.deepEqual(listDomains(store).map((d) => d.name), ["example.com"]);
  });
});

Deno.test("listDomains() sorts by name and counts users and distinct aliases", async () => {
  await withStore((store) => {
    addDomain(store, "b.example");
    addDomain(store, "a.example");
    addUser(store, "alice@a.example", HASH);
    addUser(store, "bob@a.example", HASH);
    addAlias(store, "team@a.example", "alice@a.example");
    addAlias(store, "team@a.example", "bob@a.example");
    addAlias(store, "info@b.example", "alice@a.example");
    const domains = listDomains(store);
    assert.deepEqual(
      domains.map(({ name, users, aliases }) => ({ name, users, aliases })),
      [
        { name: "a.example", users: 2, aliases: 1 },
        { name: "b.example", users: 0, aliases: 1 },
      ],
    );
    assert.ok(domains.every((d) => d.createdAt instanceof Date && d.createdAt.getTime() > 0));
  });
});

Deno.test("removeDomain() is refused while users or aliases exist", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", HASH);
    assertStoreError(
      () => removeDomain(store, "example.com"),
      "Domain example.com still has 1 user(s) and 0 alias(es); delete them first",
    );
    addAlias(store, "info@example.com", "alice@example.com");
    addAlias(store, "info@example.com", "someone@elsewhere.example");
    assertStoreError(
      () => removeDomain(store, "example.com"),
      "Domain example.com still has 1 user(s) and 2 alias(es); delete them first",
    );
    removeUser(store, "alice@example.com");
    assertStoreError(
      () => removeDomain(store, "example.com"),
      "Domain example.com still has 0 user(s) and 2 alias(es); delete them first",
    );
    removeAlias(store, "info@example.com");
    removeDomain(store, "example.com");
    assert.equal(isLocalDomain(store, "example.com"), false);
  });
});

Deno.test("removeDomain() refuses an unknown domain", async () => {
  await withStore((store) => {
    assertStoreError(
      () => removeDomain(store, "nowhere.example"),
      "Domain nowhere.example does not exist",
    );
  });
});

// ---------------------------------------------------------------------------
// Users

Deno.test("addUser() adds a user with the hash and an INBOX", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", HASH);
    const user = findUser(store, "alice@example.com");
    assert.ok(user);
    assert.equal(user.address, "alice@example.com");
    assert.equal(user.passwordHash, HASH);
    assert.ok(findMailbox(store, user.id, INBOX) !== undefined, "INBOX");
    assert.equal(findUser(store, "bob@example.com"), undefined);
  });
});

Deno.test("addUser() refuses a duplicate user and keeps the first", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", HASH);
    assertStoreError(
      () => addUser(store, "alice@example.com", "$scrypt$other"),
      "User alice@example.com already exists",
    );
    assert.equal(findUser(store, "alice@example.com")?.passwordHash, HASH);
    assert.equal(count(store, "users"), 1);
    assert.equal(count(store, "mailboxes"), 6, "INBOX and the five special-use mailboxes");
  });
});

Deno.test("addUser() refuses a user in an unknown domain with the domain add hint", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    const message =
      "Domain other.example is not a local domain; add it first with: postino domain add other.example";
    assertStoreError(() => addUser(store, "alice@other.example", HASH), message);
    assertStoreError(() => checkCanAddUser(store, "alice@other.example"), message);
    assert.equal(count(store, "users"), 0);
    assert.equal(count(store, "mailboxes"), 0);
  });
});

Deno.test("addUser() refuses an address that is an alias", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", HASH);
    addAlias(store, "info@example.com", "alice@example.com");
    const message = "info@example.com is an alias; delete it first";
    assertStoreError(() => checkCanAddUser(store, "info@example.com"), message);
    assertStoreError(() => addUser(store, "info@example.com", HASH), message);
    removeAlias(store, "info@example.com");
    addUser(store, "info@example.com", HASH);
    assert.ok(findUser(store, "info@example.com"));
  });
});

Deno.test("checkCanAddUser() gives the domain id for a new user", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    const id = store.get<{ id: number }>("SELECT id FROM domains WHERE name = 'example.com'")!.id;
    assert.equal(checkCanAddUser(store, "alice@example.com"), id);
  });
});

Deno.test("setPasswordHash() replaces the hash of an existing user only", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", HASH);
    setPasswordHash(store, "alice@example.com", "$scrypt$new");
    assert.equal(findUser(store, "alice@example.com")?.passwordHash, "$scrypt$new");
    assertStoreError(
      () => setPasswordHash(store, "bob@example.com", "$scrypt$new"),
      "User bob@example.com does not exist",
    );
  });
});

Deno.test("removeUser() removes the user and their mailboxes, and refuses an unknown one", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", HASH);
    removeUser(store, "alice@example.com");
    assert.equal(findUser(store, "alice@example.com"), undefined);
    assert.equal(count(store, "mailboxes"), 0);
    assertStoreError(
      () => removeUser(store, "alice@example.com"),
      "User alice@example.com does not exist",
    );
  });
});

Deno.test("listUsers() sorts users, counts their mail and never exposes a hash", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    addUser(store, "bob@example.com", HASH);
    addUser(store, "alice@example.com", HASH);
    const alice = findUser(store, "alice@example.com")!;
    deliver(store, { body: new Uint8Array(100), mailboxes: [{ userId: alice.id }] });
    deliver(store, {
      body: new Uint8Array(20),
      mailboxes: [{ userId: alice.id, mailbox: "Junk" }],
    });
    const users = listUsers(store);
    assert.deepEqual(
      users.map(({ address, messages, bytes }) => ({ address, messages, bytes })),
      [
        { address: "alice@example.com", messages: 2, bytes: 120 },
        { address: "bob@example.com", messages: 0, bytes: 0 },
      ],
    );
    for (const user of users) {
      assert.deepEqual(Object.keys(user).sort(), [
        "address",
        "admin",
        "bytes",
        "createdAt",
        "messages",
      ]);
      assert.ok(user.createdAt instanceof Date);
    }
    const shown = JSON.stringify(users);
    assert.ok(!shown.includes("$scrypt$"), shown);
    assert.ok(!/hash/i.test(shown), shown);
  });
});

// ---------------------------------------------------------------------------
// Aliases

Deno.test("addAlias() fans out to several targets, sorted", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", HASH);
    addUser(store, "bob@example.com", HASH);
    addAlias(store, "team@example.com", "bob@example.com");
    addAlias(store, "team@example.com", "alice@example.com");
    addAlias(store, "team@example.com", "carol@remote.example");
    assert.deepEqual(aliasTargets(store, "team@example.com"), [
      "alice@example.com",
      "bob@example.com",
      "carol@remote.example",
    ]);
    assert.deepEqual(aliasTargets(store, "alice@example.com"), []);
    assert.deepEqual(listAliases(store).map((a) => ({ ...a })), [
      { address: "team@example.com", target: "alice@example.com" },
      { address: "team@example.com", target: "bob@example.com" },
      { address: "team@example.com", target: "carol@remote.example" },
    ]);
  });
});

Deno.test("removeAlias() removes every target, and refuses an unknown alias", async () => {
  await withStore((store) => {
    addDomain(store, "example.com");
    addAlias(store, "team@example.com", "a@remote.example");
    addAlias(store, "team@example.com", "b@remote.example");
    removeAlias(store, "team@example.com");
    assert.deepEqual(aliasTargets(store, "team@example.com"), []);
    assert.deepEqual(listAliases(store), []);
    assertStoreError(
      () => removeAlias(store, "team@example.com"),
      "Alias team@example.com does not exist",
    );
  });
});

const aliasErrors: [name: string, alias: string, target: string, message: string][] = [
  [
    "an alias in an unknown domain with the domain add hint",
    "info@other.example",
    "alice@example.com",
    "Domain other.example is not a local domain; add it first with: postino domain add other.example",
  ],
  [
    "an alias that is a user",
    "alice@example.com",
    "bob@example.com",
    "alice@example.com is a user; an alias cannot be",
  ],
  [
    "an alias to itself",
    "loop@example.com",
    "loop@example.com",
    "Alias loop@example.com cannot point to itself",
  ],
  [
    "a target it already has",
    "info@example.com",
    "alice@example.com",
    "Alias info@example.com -> alice@example.com already exists",
  ],
];

for (const [name, alias, target, message] of aliasErrors) {
  Deno.test(`addAlias() refuses ${name}`, async () => {
    await withStore((store) => {
      addDomain(store, "example.com");
      addUser(store, "alice@example.com", HASH);
      addAlias(store, "info@example.com", "alice@example.com");
      const before = listAliases(store).map((a) => ({ ...a }));
      assertStoreError(() => addAlias(store, alias, target), message);
      assert.deepEqual(listAliases(store).map((a) => ({ ...a })), before);
    });
  });
}
