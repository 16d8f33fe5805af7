import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { addDomain, addUser, listUsers, removeUser, setPasswordHash } from "./accounts.ts";
import {
  createApiToken,
  deleteApiToken,
  findApiToken,
  isValidTokenName,
  listApiTokens,
  secretHash,
  TOKEN_PREFIX,
} from "./api_tokens.ts";
import { openStore, type Store, type StoreError, storePath } from "./db.ts";
import { migrations } from "./migrations.ts";
import { closeWebSession, findWebSession, openWebSession } from "./web_sessions.ts";

async function withStore(fn: (store: Store) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-tokens-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    addUser(store, "alice@example.com", "x");
    addUser(store, "bob@example.com", "x");
    await fn(store);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("isValidTokenName() takes names a shell need not quote", () => {
  for (const name of ["ci", "backup-script", "a.b_c-1", "x".repeat(64)]) {
    assert.ok(isValidTokenName(name), name);
  }
  for (const name of ["", "-x", ".x", "a b", "a/b", "ä", "x".repeat(65)]) {
    assert.ok(!isValidTokenName(name), name);
  }
});

Deno.test("createApiToken() gives a secret once and keeps only its hash", async () => {
  await withStore(async (store) => {
    const admin = await createApiToken(store, "ci");
    const bob = await createApiToken(store, "bob-script", "bob@example.com");
    assert.ok(admin.startsWith(TOKEN_PREFIX) && bob.startsWith(TOKEN_PREFIX));
    assert.notEqual(admin, bob);
    assert.deepEqual(await findApiToken(store, admin), { name: "ci", user: undefined });
    const holder = await findApiToken(store, bob);
    assert.equal(holder?.user?.address, "bob@example.com");
    // Only hashes are stored.
    const rows = store.all<{ secret_hash: string }>("SELECT secret_hash FROM api_tokens");
    assert.deepEqual(
      rows.map((r) => r.secret_hash).sort(),
      [
        await secretHash(admin),
        await secretHash(bob),
      ].sort(),
    );
    assert.deepEqual(
      listApiTokens(store).map((t) => [t.name, t.user]),
      [["bob-script", "bob@example.com"], ["ci", undefined]],
    );
    assert.ok(listApiTokens(store).every((t) => t.lastUsedAt !== undefined), "use is recorded");
  });
});

Deno.test("findApiToken() knows nothing of wrong, altered or deleted secrets", async () => {
  await withStore(async (store) => {
    const secret = await createApiToken(store, "ci");
    for (const wrong of ["", "ci", `${secret}x`, secret.slice(0, -1), secret.slice(8)]) {
      assert.equal(await findApiToken(store, wrong), undefined, wrong);
    }
    deleteApiToken(store, "ci");
    assert.equal(await findApiToken(store, secret), undefined);
    assert.throws(() => deleteApiToken(store, "ci"), (e) => (e as StoreError).kind === "not_found");
  });
});

Deno.test("createApiToken() refuses duplicates, bad names and unknown users", async () => {
  await withStore(async (store) => {
    await createApiToken(store, "ci");
    await assert.rejects(() => createApiToken(store, "ci"), /Token ci already exists/);
    await assert.rejects(() => createApiToken(store, "a b"), /Invalid token name/);
    await assert.rejects(
      () => createApiToken(store, "x", "nobody@example.com"),
      /User nobody@example.com does not exist/,
    );
  });
});

Deno.test("a user's tokens and sessions go with the user", async () => {
  await withStore(async (store) => {
    const token = await createApiToken(store, "bob-script", "bob@example.com");
    const { secret } = await openWebSession(store, 2);
    assert.ok(await findWebSession(store, secret));
    removeUser(store, "bob@example.com");
    assert.equal(await findApiToken(store, token), undefined);
    assert.equal(await findWebSession(store, secret), undefined);
  });
});

Deno.test("web sessions: found by secret, ended by sign-out, password change and expiry", async () => {
  await withStore(async (store) => {
    const a = await openWebSession(store, 1);
    const session = await findWebSession(store, a.secret);
    assert.deepEqual(session, {
      userId: 1,
      address: "alice@example.com",
      admin: true,
      csrfToken: a.csrfToken,
    });
    assert.equal(await findWebSession(store, a.csrfToken), undefined, "the CSRF token is no key");
    await closeWebSession(store, a.secret);
    assert.equal(await findWebSession(store, a.secret), undefined);

    const b = await openWebSession(store, 1);
    setPasswordHash(store, "alice@example.com", "y");
    assert.equal(await findWebSession(store, b.secret), undefined, "a new password ends sessions");

    const short = { idleMs: 1, maxMs: 1 };
    const c = await openWebSession(store, 1, short);
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(await findWebSession(store, c.secret, short), undefined, "expired");
  });
});

Deno.test("addUser() makes the first user ever added an admin, and only that one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-admin-test-" });
  const store = openStore(storePath(dir));
  try {
    addDomain(store, "example.com");
    assert.equal(addUser(store, "a@example.com", "x"), true);
    assert.equal(addUser(store, "b@example.com", "x"), false);
    assert.equal(addUser(store, "c@example.com", "x", { admin: true }), true);
    removeUser(store, "a@example.com");
    removeUser(store, "b@example.com");
    removeUser(store, "c@example.com");
    assert.equal(addUser(store, "d@example.com", "x"), false);
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("migration 6 makes the oldest user of an existing store its admin", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postino-migration6-test-" });
  try {
    const path = storePath(dir);
    const db = new DatabaseSync(path);
    for (const sql of migrations.slice(0, 5)) db.exec(sql);
    db.exec("PRAGMA user_version = 5");
    db.exec("INSERT INTO domains (id, name, created_at) VALUES (1, 'example.com', 0)");
    for (const [id, address] of [[7, "first@example.com"], [9, "second@example.com"]] as const) {
      db.prepare(
        "INSERT INTO users (id, address, domain_id, password_hash, created_at) VALUES (?, ?, 1, 'x', 0)",
      ).run(id, address);
    }
    db.close();
    const store = openStore(path);
    try {
      assert.equal(store.schemaVersion, migrations.length);
      assert.deepEqual(listUsers(store).map((u) => [u.address, u.admin]), [
        ["first@example.com", true],
        ["second@example.com", false],
      ]);
      assert.equal(addUser(store, "third@example.com", "x"), false, "the first user was added");
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
