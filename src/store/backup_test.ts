import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { addDomain, addUser, findUser } from "./accounts.ts";
import { backupStore, checkStoreFile, restoreStore } from "./backup.ts";
import {
  backupName,
  backupTime,
  listBackups,
  pruneBackups,
  startBackups,
} from "./backup_schedule.ts";
import { openStore, type Store, StoreError, storePath } from "./db.ts";
import { deliver } from "./mailboxes.ts";
import { migrations } from "./migrations.ts";

async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-backup-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const encoder = new TextEncoder();

/** A store in `dir` with a user and `n` messages in INBOX. */
function seedStore(dir: string, n = 3): Store {
  Deno.mkdirSync(dir, { recursive: true });
  const store = openStore(storePath(dir));
  addDomain(store, "example.test");
  addUser(store, "alice@example.test", "hash-of-alice");
  const userId = findUser(store, "alice@example.test")!.id;
  for (let i = 0; i < n; i++) deliverTo(store, userId, i);
  return store;
}

function deliverTo(store: Store, userId: number, i: number): void {
  deliver(store, {
    body: encoder.encode(`Subject: ${i}\r\n\r\n${"x".repeat(5000)} ${i}\r\n`),
    mailboxes: [{ userId }],
  });
}

/** The INBOX of a store file: uid and body per message. */
function inbox(path: string): { uid: number; body: string }[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare(
      `SELECT e.uid, m.body FROM mailbox_entries e JOIN messages m ON m.id = e.message_id
       JOIN mailboxes b ON b.id = e.mailbox_id WHERE b.name = 'INBOX' ORDER BY e.uid`,
    ).all() as { uid: number; body: Uint8Array }[]).map((r) => ({
      uid: r.uid,
      body: new TextDecoder().decode(r.body),
    }));
  } finally {
    db.close();
  }
}

function files(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("backupStore() writes a checked, self-contained copy and leaves no temp file", async () => {
  await withTempDir(async (dir) => {
    const store = seedStore(join(dir, "data"));
    try {
      const seen: number[] = [];
      const file = join(dir, "out", "b.db");
      Deno.mkdirSync(join(dir, "out"));
      const r = await backupStore(store.path, file, {
        pagesPerStep: 1,
        onProgress: (p) => seen.push(p.pages / p.totalPages),
      });
      assert.equal(r.file, file);
      assert.deepEqual(
        { version: r.version, users: r.users, messages: r.messages },
        { version: migrations.length, users: 1, messages: 3 },
      );
      assert.equal(r.bytes, Deno.statSync(file).size);
      assert.equal(Deno.statSync(file).mode! & 0o777, 0o600, "for its owner only");
      assert.ok(seen.length > 1 && seen.at(-1) === 1, `progress: ${seen}`);
      assert.deepEqual(files(join(dir, "out")), ["b.db"], "no temp file, no -wal/-shm");
      // Out of WAL mode: header bytes 18 and 19 are 1 (legacy), so the file stands alone.
      const header = Deno.readFileSync(file).subarray(18, 20);
      assert.deepEqual([...header], [1, 1]);
      assert.deepEqual(inbox(file), inbox(store.path));
    } finally {
      store.close();
    }
  });
});

Deno.test("backupStore() copies one snapshot while another connection keeps committing", async () => {
  await withTempDir(async (dir) => {
    const store = seedStore(join(dir, "data"), 200);
    const writer = openStore(store.path);
    try {
      const userId = findUser(writer, "alice@example.test")!.id;
      let written = 0;
      // Commit between the copy's steps (the copy runs on its own thread).
      const timer = setInterval(() => deliverTo(writer, userId, 1000 + written++), 1);
      const r = await backupStore(store.path, join(dir, "b.db"), { pagesPerStep: 4 });
      clearInterval(timer);
      assert.ok(r.messages >= 200, `${r.messages} messages`);
      const copied = inbox(join(dir, "b.db"));
      assert.equal(copied.length, r.messages);
      // A snapshot: the uids are 1..n without a gap, whatever was committed meanwhile.
      assert.deepEqual(copied.map((m) => m.uid), copied.map((_, i) => i + 1));
    } finally {
      writer.close();
      store.close();
    }
  });
});

Deno.test("backupStore() refuses what it cannot do and leaves nothing behind", async () => {
  await withTempDir(async (dir) => {
    const store = seedStore(join(dir, "data"));
    try {
      const fails = (file: string, source: string, re: RegExp) =>
        assert.rejects(backupStore(source, file), (e: Error) => {
          assert.ok(e instanceof StoreError, String(e));
          assert.match(e.message, re);
          return true;
        });
      await fails(store.path, store.path, /onto itself/);
      await fails(`${store.path}-wal`, store.path, /onto itself/);
      await fails(join(dir, "nowhere", "b.db"), store.path, /no directory/);
      await fails(join(dir, "b.db"), join(dir, "none", "postino.db"), /no store/);
      const interrupted = new AbortController();
      interrupted.abort();
      await assert.rejects(
        backupStore(store.path, join(dir, "b.db"), { signal: interrupted.signal }),
        /interrupted/,
      );
      assert.deepEqual(files(dir), ["data"]);
    } finally {
      store.close();
    }
  });
});

Deno.test("checkStoreFile() tells a store from what is not one", async () => {
  await withTempDir(async (dir) => {
    const store = seedStore(join(dir, "data"));
    store.close();
    const good = join(dir, "good.db");
    await backupStore(storePath(join(dir, "data")), good);
    assert.equal(checkStoreFile(good, "good.db").messages, 3);

    const text = join(dir, "text.db");
    Deno.writeTextFileSync(
      text,
      "From alice Mon Jan  1 00:00:00 2024\nnot a database\n".repeat(50),
    );
    assert.throws(
      () => checkStoreFile(text, "text.db"),
      /text.db is not a Postino store \(not an SQLite/,
    );

    const other = join(dir, "other.db");
    const db = new DatabaseSync(other);
    db.exec("CREATE TABLE notes (body TEXT); PRAGMA user_version = 3");
    db.close();
    assert.throws(() => checkStoreFile(other, "other.db"), /not a Postino store \(it has no table/);

    const newer = join(dir, "newer.db");
    Deno.copyFileSync(good, newer);
    const n = new DatabaseSync(newer);
    n.exec(`PRAGMA user_version = ${migrations.length + 1}`);
    n.close();
    assert.throws(() => checkStoreFile(newer, "newer.db"), /newer than this postino knows/);

    // Garbage over the pages after the first ones: b-tree pages and overflow chains break.
    const corrupt = join(dir, "corrupt.db");
    const bytes = Deno.readFileSync(good);
    bytes.fill(0xa5, 16384 * 3, bytes.length - 16384);
    Deno.writeFileSync(corrupt, bytes);
    assert.throws(
      () => checkStoreFile(corrupt, "corrupt.db"),
      /corrupt.db fails its integrity check/,
    );
  });
});

Deno.test("restoreStore() restores into an empty or missing data directory", async () => {
  await withTempDir(async (dir) => {
    const store = seedStore(join(dir, "data"));
    await backupStore(store.path, join(dir, "b.db"));
    store.close();
    const r = restoreStore(join(dir, "b.db"), join(dir, "new"));
    assert.equal(r.store, storePath(join(dir, "new")));
    assert.equal(r.messages, 3);
    assert.deepEqual(files(join(dir, "new")), ["postino.db"]);
    assert.deepEqual(inbox(r.store), inbox(storePath(join(dir, "data"))));
    const restored = openStore(r.store);
    try {
      assert.equal(findUser(restored, "alice@example.test")?.passwordHash, "hash-of-alice");
    } finally {
      restored.close();
    }
  });
});

Deno.test("restoreStore() needs force for a data directory that is not empty", async () => {
  await withTempDir(async (dir) => {
    const store = seedStore(join(dir, "data"), 2);
    await backupStore(store.path, join(dir, "b.db"));
    store.close();
    const target = join(dir, "target");
    const old = seedStore(target, 5);
    old.close();
    assert.throws(() => restoreStore(join(dir, "b.db"), target), /not empty; give --force/);
    assert.equal(inbox(storePath(target)).length, 5, "left as it was");
    // A stale write-ahead log of the old store must not be replayed onto the restored one.
    Deno.writeFileSync(`${storePath(target)}-wal`, new Uint8Array(4096).fill(7));
    Deno.writeFileSync(`${storePath(target)}-shm`, new Uint8Array(32768).fill(7));
    restoreStore(join(dir, "b.db"), target, { force: true });
    assert.deepEqual(files(target), ["postino.db"]);
    assert.equal(inbox(storePath(target)).length, 2);
  });
});

Deno.test("restoreStore() refuses a store in use and a file that fails its check", async () => {
  await withTempDir(async (dir) => {
    const store = seedStore(join(dir, "data"), 2);
    await backupStore(store.path, join(dir, "b.db"));
    try {
      assert.throws(
        () => restoreStore(join(dir, "b.db"), join(dir, "data"), { force: true }),
        /is in use: stop postino serve/,
      );
    } finally {
      store.close();
    }
    Deno.writeTextFileSync(join(dir, "junk.db"), "junk".repeat(1000));
    assert.throws(() => restoreStore(join(dir, "junk.db"), join(dir, "empty")), /not a Postino/);
    assert.deepEqual(files(join(dir, "empty")), [], "no temp file left");
    assert.throws(() => restoreStore(join(dir, "none.db"), join(dir, "empty")), /no file/);
  });
});

Deno.test("backupName() and backupTime() name backups by their UTC start, sortably", () => {
  const ms = Date.UTC(2026, 11, 3, 16, 34, 33, 512);
  assert.equal(backupName(ms), "postino-20261203T163433Z.db");
  assert.equal(backupTime("postino-20261203T163433Z.db"), Date.UTC(2026, 11, 3, 16, 34, 33));
  for (const other of ["postino.db", "postino-20261203T163433Z.db.x", "notes.txt", "x.db"]) {
    assert.equal(backupTime(other), undefined, other);
  }
});

Deno.test("pruneBackups() keeps the newest and never touches other files", async () => {
  await withTempDir((dir) => {
    const names = [0, 1, 2, 3, 4].map((d) => backupName(Date.UTC(2026, 0, 1 + d, 3)));
    for (const n of [...names, "postino.db", "notes.txt"]) Deno.writeTextFileSync(join(dir, n), "");
    assert.deepEqual(pruneBackups(dir, 2), [names[2], names[1], names[0]]);
    assert.deepEqual(listBackups(dir), [names[4], names[3]]);
    assert.deepEqual(files(dir), [...[names[3], names[4]], "notes.txt", "postino.db"].sort());
  });
});

Deno.test("startBackups() backs up at once into an empty directory, then waits `every`", async () => {
  await withTempDir(async (dir) => {
    const store = seedStore(join(dir, "data"));
    const backups = join(dir, "backups");
    const everyMs = 40 * 86_400_000; // beyond what one setTimeout can wait
    const schedule = startBackups(store.path, { dir: backups, everyMs, keep: 3 });
    try {
      const deadline = Date.now() + 10_000;
      while (listBackups(backups).length === 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const [first] = listBackups(backups);
      assert.ok(first, "a backup at start");
      assert.equal(checkStoreFile(join(backups, first), first).messages, 3);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(listBackups(backups), [first], "the next one waits 40 days");
    } finally {
      await schedule.stop();
      store.close();
    }
  });
});

Deno.test("startBackups() waits `every` after the newest backup already there", async () => {
  await withTempDir(async (dir) => {
    const store = seedStore(join(dir, "data"));
    const recent = backupName(Date.now() - 1000);
    Deno.writeTextFileSync(join(dir, recent), "");
    Deno.writeTextFileSync(join(dir, `.${backupName(Date.now() - 5000)}.0123abcd.partial`), "");
    const schedule = startBackups(store.path, { dir, everyMs: 3_600_000, keep: 3 });
    try {
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(files(dir), ["data", recent], "no backup yet; the partial file is gone");
    } finally {
      await schedule.stop();
      store.close();
    }
  });
});
