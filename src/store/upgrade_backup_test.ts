/**
 * Upgrade safety: a store of an older schema is copied beside itself before
 * the migrations run, and a migration that fails leaves the store as it was.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { openStore, StoreError, storePath } from "./db.ts";
import { migrations } from "./migrations.ts";
import { upgradeBackupPath } from "./upgrade_backup.ts";

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-upgrade-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A store at schema `version` holding one domain, made by the migrations up to it. */
function storeAt(dir: string, version: number): string {
  const path = storePath(dir);
  const store = openStore(path, { migrations: migrations.slice(0, version) });
  store.run("INSERT INTO domains (name, created_at) VALUES ('example.test', 1)");
  store.close();
  return path;
}

/** What a database file holds, read without the store code. */
function inspect(path: string): { version: number; tables: string[]; domains: string[] } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return {
      version: (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      tables: (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .all() as { name: string }[]).map((r) => r.name),
      domains: (db.prepare("SELECT name FROM domains").all() as { name: string }[]).map((r) =>
        r.name
      ),
    };
  } finally {
    db.close();
  }
}

function files(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("openStore() copies a store of an older schema beside itself before upgrading it", async () => {
  await withTempDir((dir) => {
    const path = storeAt(dir, 5);
    const before = inspect(path);
    const store = openStore(path);
    try {
      assert.deepEqual(store.upgradeBackup, {
        file: upgradeBackupPath(path, 5),
        fromVersion: 5,
        toVersion: migrations.length,
      });
      assert.equal(store.schemaVersion, migrations.length);
    } finally {
      store.close();
    }
    assert.equal(upgradeBackupPath(path, 5), `${path}.v5.backup`);
    assert.deepEqual(inspect(`${path}.v5.backup`), before, "the copy is the store as it was");
    assert.deepEqual(files(dir), ["postino.db", "postino.db.v5.backup"], "no temp file left");
    // Opened again at the newest schema: nothing to upgrade, no copy.
    const again = openStore(path);
    assert.equal(again.upgradeBackup, undefined);
    again.close();
  });
});

Deno.test("openStore() makes no copy of a new store", async () => {
  await withTempDir((dir) => {
    const store = openStore(storePath(dir));
    assert.equal(store.upgradeBackup, undefined);
    store.close();
    assert.deepEqual(files(dir).filter((f) => f.includes("backup")), []);
  });
});

Deno.test("A failing migration leaves the store as it was, the earlier pending ones too", async () => {
  await withTempDir((dir) => {
    const from = migrations.length - 2;
    const path = storeAt(dir, from);
    const before = inspect(path);
    // Two good migrations pending, then one that fails half way through.
    const failing = [
      ...migrations,
      "CREATE TABLE half_done (x INTEGER); INSERT INTO no_such_table VALUES (1);",
    ];
    assert.throws(() => openStore(path, { migrations: failing }), (err: Error) => {
      assert.ok(err instanceof StoreError, String(err));
      assert.match(
        err.message,
        new RegExp(`from schema ${from} to ${failing.length} failed, so it was left as it was`),
      );
      assert.match(err.message, /no such table: no_such_table/);
      assert.ok(err.message.endsWith(`a copy is in ${path}.v${from}.backup`), err.message);
      return true;
    });
    assert.deepEqual(inspect(path), before, "schema version, tables and data unchanged");
    assert.deepEqual(inspect(`${path}.v${from}.backup`), before);
    // The current migrations still apply afterwards.
    const store = openStore(path);
    assert.equal(store.schemaVersion, migrations.length);
    store.close();
  });
});

Deno.test("openStore() upgrades nothing when it cannot write the copy first", async () => {
  await withTempDir((dir) => {
    const path = storeAt(dir, 3);
    const before = inspect(path);
    // The copy's name is taken by a directory that is not empty: the rename fails.
    Deno.mkdirSync(`${path}.v3.backup/in-the-way`, { recursive: true });
    assert.throws(
      () => openStore(path),
      /Cannot copy the store before upgrading it from schema 3 to \d+, so it was left as it was/,
    );
    assert.deepEqual(inspect(path), before);
    assert.deepEqual(files(dir).filter((f) => f.includes(".partial")), [], "no temp file left");
  });
});
