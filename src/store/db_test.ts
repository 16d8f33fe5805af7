import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { addDomain, findUser, listDomains } from "./accounts.ts";
import { openStore, type Store, StoreError, storePath } from "./db.ts";
import { migrations } from "./migrations.ts";

/** Runs `fn` with a fresh temp dir that is removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-db-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` with a store in a fresh temp dir, closed and removed afterwards. */
async function withStore(fn: (store: Store, dir: string) => Promise<void> | void): Promise<void> {
  await withTempDir(async (dir) => {
    const store = openStore(storePath(dir));
    try {
      await fn(store, dir);
    } finally {
      store.close();
    }
  });
}

function domainNames(store: Store): string[] {
  return store.all<{ name: string }>("SELECT name FROM domains ORDER BY name").map((r) => r.name);
}

function insertDomain(store: Store, name: string): void {
  store.run("INSERT INTO domains (name, created_at) VALUES (?, 0)", name);
}

// ---------------------------------------------------------------------------
// openStore() and migrations

Deno.test("openStore() creates the newest schema with WAL, foreign keys and full sync", async () => {
  await withStore((store, dir) => {
    assert.equal(store.path, join(dir, "postino.db"));
    assert.equal(store.schemaVersion, migrations.length);
    const pragma = (name: string) => Object.values(store.get(`PRAGMA ${name}`)!)[0];
    assert.equal(pragma("journal_mode"), "wal");
    assert.equal(pragma("foreign_keys"), 1);
    assert.equal(pragma("synchronous"), 2); // FULL
    const tables = store.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
    ).map((r) => r.name);
    for (
      const table of [
        "aliases",
        "domains",
        "mailbox_entries",
        "mailboxes",
        "messages",
        "queue",
        "queue_recipients",
        "users",
      ]
    ) {
      assert.ok(tables.includes(table), `table ${table}`);
    }
  });
});

Deno.test("openStore() runs no migration again on reopen and keeps the data", async () => {
  await withTempDir((dir) => {
    const path = storePath(dir);
    const first = openStore(path);
    let schema: string;
    try {
      addDomain(first, "example.com");
      schema = JSON.stringify(first.all("SELECT type, name, sql FROM sqlite_master ORDER BY name"));
    } finally {
      first.close();
    }
    for (let i = 0; i < 2; i++) {
      const again = openStore(path);
      try {
        assert.equal(again.schemaVersion, migrations.length);
        assert.equal(
          JSON.stringify(again.all("SELECT type, name, sql FROM sqlite_master ORDER BY name")),
          schema,
        );
        assert.deepEqual(listDomains(again).map((d) => d.name), ["example.com"]);
      } finally {
        again.close();
      }
    }
  });
});

Deno.test("openStore() refuses a database newer than this code knows", async () => {
  await withTempDir((dir) => {
    const path = storePath(dir);
    const newer = migrations.length + 1;
    const store = openStore(path);
    store.db.exec(`PRAGMA user_version = ${newer}`);
    store.close();
    assert.throws(() => openStore(path), (err: unknown) => {
      assert.ok(err instanceof StoreError, `expected a StoreError, got ${err}`);
      assert.equal(
        err.message,
        `Database schema version ${newer} is newer than this postino knows ` +
          `(${migrations.length}); upgrade postino`,
      );
      return true;
    });
    // The refused database is left as it was.
    const raw = new DatabaseSync(path);
    try {
      const row = raw.prepare("PRAGMA user_version").get() as { user_version: number };
      assert.equal(row.user_version, newer);
    } finally {
      raw.close();
    }
  });
});

Deno.test("Store.close() may be called twice", async () => {
  await withTempDir((dir) => {
    const store = openStore(storePath(dir));
    store.close();
    store.close();
    assert.equal(store.db.isOpen, false);
  });
});

const storePaths: [dir: string, want: string][] = [
  ["data", "data/postino.db"],
  ["./data/", "./data/postino.db"],
  ["/var/lib/postino//", "/var/lib/postino/postino.db"],
];

for (const [dir, want] of storePaths) {
  Deno.test(`storePath() puts the file in ${JSON.stringify(dir)}`, () => {
    assert.equal(storePath(dir), want);
  });
}

// The root directory gives "/postino.db", not "//postino.db".
Deno.test({
  name: `storePath() puts the file in "/" without a double slash`,
  fn: () => {
    assert.equal(storePath("/"), "/postino.db");
  },
});

// ---------------------------------------------------------------------------
// Store.transaction()

Deno.test("Store.transaction() commits and returns the function's value", async () => {
  await withStore((store) => {
    const result = store.transaction(() => {
      insertDomain(store, "a.example");
      insertDomain(store, "b.example");
      return 42;
    });
    assert.equal(result, 42);
    assert.deepEqual(domainNames(store), ["a.example", "b.example"]);
  });
});

Deno.test("Store.transaction() rolls back everything and rethrows on a throw", async () => {
  await withStore((store) => {
    const boom = new Error("boom");
    assert.throws(
      () =>
        store.transaction(() => {
          insertDomain(store, "a.example");
          throw boom;
        }),
      (err) => err === boom,
    );
    assert.deepEqual(domainNames(store), []);
    // The store is usable again afterwards, as an outer transaction.
    store.transaction(() => insertDomain(store, "b.example"));
    assert.deepEqual(domainNames(store), ["b.example"]);
    assert.equal(store.db.isTransaction, false);
  });
});

Deno.test("Store.transaction() rolls back a failed nested call to its savepoint only", async () => {
  await withStore((store) => {
    store.transaction(() => {
      insertDomain(store, "outer-before.example");
      assert.throws(() =>
        store.transaction(() => {
          insertDomain(store, "inner.example");
          insertDomain(store, "inner.example"); // UNIQUE constraint
        })
      );
      insertDomain(store, "outer-after.example");
    });
    assert.deepEqual(domainNames(store), ["outer-after.example", "outer-before.example"]);
  });
});

Deno.test("Store.transaction() rolls back a committed nested call when the outer fails", async () => {
  await withStore((store) => {
    assert.throws(() =>
      store.transaction(() => {
        store.transaction(() => insertDomain(store, "inner.example"));
        insertDomain(store, "outer.example");
        throw new Error("outer fails");
      }), /outer fails/);
    assert.deepEqual(domainNames(store), []);
  });
});

Deno.test("Store.transaction() nests three deep with the middle level failing", async () => {
  await withStore((store) => {
    store.transaction(() => {
      insertDomain(store, "level1.example");
      assert.throws(() =>
        store.transaction(() => {
          insertDomain(store, "level2.example");
          store.transaction(() => insertDomain(store, "level3.example"));
          throw new Error("level 2 fails");
        }), /level 2 fails/);
      // A later nested call reuses the savepoint name and still works.
      store.transaction(() => insertDomain(store, "level2b.example"));
    });
    assert.deepEqual(domainNames(store), ["level1.example", "level2b.example"]);
  });
});

// ---------------------------------------------------------------------------
// Two processes on one database

/** The script the second process runs: open the store, say so, add a user, report the wait. */
function secondProcessScript(): string {
  const db = import.meta.resolve("./db.ts");
  const accounts = import.meta.resolve("./accounts.ts");
  return `
import { openStore, storePath } from ${JSON.stringify(db)};
import { addUser } from ${JSON.stringify(accounts)};
const store = openStore(storePath(Deno.args[0]));
try {
  console.log("opened");
  const start = performance.now();
  addUser(store, "bob@example.com", "$scrypt$not-a-real-hash");
  console.log("added after " + Math.round(performance.now() - start) + " ms");
} finally {
  store.close();
}
`;
}

/** Reads until `done(seen)` or the end of the stream; throws after `ms`. Gives what was read. */
async function readUntil(
  reader: ReadableStreamDefaultReader<string>,
  done: (seen: string) => boolean,
  ms: number,
): Promise<string> {
  let seen = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => timer = setTimeout(resolve, ms, "timeout"));
  try {
    while (!done(seen)) {
      const next = await Promise.race([reader.read(), timeout]);
      if (next === "timeout") throw new Error(`Nothing expected within ${ms} ms: ${seen}`);
      if (next.done) break;
      seen += next.value;
    }
  } finally {
    clearTimeout(timer);
  }
  return seen;
}

/** How long this process holds its write transaction once the other process is waiting. */
const HOLD_MS = 400;

Deno.test("openStore() lets a second process wait for a write lock instead of failing", async () => {
  await withStore(async (store, dir) => {
    addDomain(store, "example.com");
    const script = join(dir, "second.ts");
    await Deno.writeTextFile(script, secondProcessScript());

    store.db.exec("BEGIN IMMEDIATE");
    let committed = false;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-config", script, dir],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      insertDomain(store, "held.example");
      let out = await readUntil(reader, (seen) => seen.includes("opened\n"), 20_000);
      // The other process is now inside addUser(), waiting for our lock.
      await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
      store.db.exec("COMMIT");
      committed = true;
      out += await readUntil(reader, () => false, 20_000); // to the end of output
      const status = await child.status;
      const errors = await stderr;
      assert.doesNotMatch(errors, /locked|busy/i);
      assert.equal(status.code, 0, `second process failed: ${errors}`);
      const waited = Number(/added after (\d+) ms/.exec(out)?.[1]);
      assert.ok(waited >= HOLD_MS / 2, `the second process waited only ${waited} ms: ${out}`);
      assert.ok(findUser(store, "bob@example.com"), "the user added by the other process");
      assert.ok(domainNames(store).includes("held.example"), "our own write");
    } finally {
      if (!committed) store.db.exec("ROLLBACK");
      // Make sure the child is gone and its pipes are closed before the store closes.
      await reader.cancel().catch(() => {});
      try {
        child.kill();
      } catch {
        // already exited
      }
      await child.status;
      await stderr;
    }
  });
});
