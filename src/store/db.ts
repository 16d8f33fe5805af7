/**
 * The store: one SQLite file opened with `node:sqlite`. Only `src/store/`
 * speaks SQL; everything else calls the functions of its modules.
 *
 * Durability: WAL with `synchronous=FULL`, so a committed transaction is on
 * disk before `commit` returns (DESIGN.md: a 250 after DATA means durable).
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import { migrations } from "./migrations.ts";
import { type UpgradeBackup, writeUpgradeBackup } from "./upgrade_backup.ts";

/** How long a writer waits for another process's lock before failing. */
const BUSY_TIMEOUT_MS = 10_000;

/** What kind of rule a {@link StoreError} is about (the HTTP API answers 404, 409 or 422). */
export type StoreErrorKind = "not_found" | "conflict" | "invalid";

/** Raised for a store operation that breaks a rule the caller can fix (duplicate user, unknown domain). */
export class StoreError extends Error {
  readonly kind: StoreErrorKind;
  constructor(message: string, kind: StoreErrorKind = "invalid") {
    super(message);
    this.name = "StoreError";
    this.kind = kind;
  }
}

/** An open store. Create with {@link openStore}; close with {@link Store.close}. */
export class Store {
  readonly path: string;
  readonly db: DatabaseSync;
  /** The copy written before this open upgraded an older schema (see upgrade_backup.ts). */
  upgradeBackup?: UpgradeBackup;
  #statements = new Map<string, StatementSync>();
  #depth = 0;

  constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.db = db;
  }

  /** A cached prepared statement for `sql`. */
  prepare(sql: string): StatementSync {
    let stmt = this.#statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt;
  }

  /** Runs a statement that returns no rows; gives the changes and last rowid. */
  run(sql: string, ...params: SQLInputValue[]): { changes: number; lastInsertRowid: number } {
    const r = this.prepare(sql).run(...params);
    return { changes: Number(r.changes), lastInsertRowid: Number(r.lastInsertRowid) };
  }

  /** The first row of a query, or undefined. */
  get<T>(sql: string, ...params: SQLInputValue[]): T | undefined {
    return this.prepare(sql).get(...params) as T | undefined;
  }

  /** All rows of a query. */
  all<T>(sql: string, ...params: SQLInputValue[]): T[] {
    return this.prepare(sql).all(...params) as T[];
  }

  /**
   * Runs `fn` in one write transaction (BEGIN IMMEDIATE, so the write lock is
   * taken up front and a busy database waits instead of failing mid-way).
   * Nested calls become savepoints. Any throw rolls back everything.
   */
  transaction<T>(fn: () => T): T {
    const outer = this.#depth === 0;
    const savepoint = `sp${this.#depth}`;
    this.db.exec(outer ? "BEGIN IMMEDIATE" : `SAVEPOINT ${savepoint}`);
    this.#depth++;
    try {
      const result = fn();
      this.db.exec(outer ? "COMMIT" : `RELEASE ${savepoint}`);
      return result;
    } catch (err) {
      this.db.exec(outer ? "ROLLBACK" : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`);
      throw err;
    } finally {
      this.#depth--;
    }
  }

  /** The schema version of the open database. */
  /** True when the database answers a query (health checks). */
  healthy(): boolean {
    try {
      return this.db.isOpen && this.get<{ ok: number }>("SELECT 1 ok")?.ok === 1;
    } catch {
      return false;
    }
  }

  get schemaVersion(): number {
    return (this.db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
  }

  /** Closes the database; later calls fail. */
  close(): void {
    this.#statements.clear();
    if (this.db.isOpen) this.db.close();
  }
}

/** Options of {@link openStore}. */
export interface OpenStoreOptions {
  /** The schema to bring the store to; tests give their own. @default migrations.ts */
  migrations?: readonly string[];
}

/**
 * Opens (creating if needed) the store at `path` and brings its schema up to
 * date. A store of an older schema is first copied beside itself (see
 * upgrade_backup.ts; the copy is named in {@link Store.upgradeBackup}).
 */
export function openStore(path: string, options: OpenStoreOptions = {}): Store {
  const db = new DatabaseSync(path, {
    enableForeignKeyConstraints: true,
    timeout: BUSY_TIMEOUT_MS,
  });
  try {
    // Mail is mostly blobs: 16 KiB pages read a 100 KiB body about eight times faster than
    // 4 KiB pages (fewer overflow pages) and write it faster too. This takes effect only
    // when the database is created.
    db.exec("PRAGMA page_size = 16384");
    db.exec("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL");
    const store = new Store(path, db);
    migrate(store, options.migrations ?? migrations);
    return store;
  } catch (err) {
    db.close();
    throw err;
  }
}

/**
 * Runs every migration the database has not seen yet, all in one transaction:
 * a migration that fails leaves the store as it was. A store that has a
 * schema already (not a new one) is copied beside itself first.
 */
function migrate(store: Store, list: readonly string[]): void {
  const newest = list.length;
  const tooNew = (v: number) => {
    if (v <= newest) return;
    throw new StoreError(
      `Database schema version ${v} is newer than this postino knows (${newest}); upgrade postino`,
    );
  };
  tooNew(store.schemaVersion);
  const from = store.schemaVersion;
  if (from === newest) return;
  if (from > 0 && store.path !== "" && store.path !== ":memory:") {
    try {
      store.upgradeBackup = writeUpgradeBackup(store.db, store.path, from, newest);
    } catch (err) {
      throw new StoreError(
        `Cannot copy the store before upgrading it from schema ${from} to ${newest}, so it was ` +
          `left as it was: ${(err as Error)?.message ?? err}`,
      );
    }
  }
  try {
    store.transaction(() => {
      // Read again inside the write lock: another process may have migrated meanwhile.
      const current = store.schemaVersion;
      tooNew(current);
      for (let v = current; v < newest; v++) {
        store.db.exec(list[v]);
        store.db.exec(`PRAGMA user_version = ${v + 1}`);
      }
    });
  } catch (err) {
    if (err instanceof StoreError) throw err;
    const kept = store.upgradeBackup ? `; a copy is in ${store.upgradeBackup.file}` : "";
    throw new StoreError(
      `Upgrading the store from schema ${from} to ${newest} failed, so it was left as it was ` +
        `(${(err as Error)?.message ?? err})${kept}`,
    );
  }
}

/** The store file's path inside a data directory. */
export function storePath(dataDir: string): string {
  const dir = dataDir.replace(/\/+$/, "");
  return `${dir}/postino.db`;
}
