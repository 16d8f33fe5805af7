/** Opens the store a management command works on, from `--data`/`--config`/`$POSTINO_DATA`. */
import { type Config, loadConfig } from "../config.ts";
import { withStoredIdentity } from "../setup/identity.ts";
import { openStore, type Store, storePath } from "../store/db.ts";

/**
 * Opens (creating if needed) the store of a data directory for a command. When
 * that upgrades an older schema, says on stderr where the store as it was is kept.
 */
export function openDataStore(dataDir: string): Store {
  const store = openStore(storePath(dataDir));
  const kept = store.upgradeBackup;
  if (kept) {
    console.error(
      `postino: upgraded the store from schema ${kept.fromVersion} to ${kept.toVersion}; ` +
        `the store as it was is kept in ${kept.file}`,
    );
  }
  return store;
}

/** Loads the configuration from the command's flags and opens (creating if needed) its store. */
export function openCommandStore(flags: { data?: string; config?: string }): Store {
  const config = loadConfig({ flags, systemHostname: () => "localhost" });
  Deno.mkdirSync(config.dataDir, { recursive: true });
  return openDataStore(config.dataDir);
}

/**
 * The configuration and the store for a command that needs both: the host
 * name `postino setup` recorded stands in when none is configured.
 */
export function openCommandContext(
  flags: { data?: string; config?: string },
): { config: Config; store: Store } {
  const loaded = loadConfig({ flags });
  Deno.mkdirSync(loaded.dataDir, { recursive: true });
  const store = openDataStore(loaded.dataDir);
  return { config: withStoredIdentity(loaded, store), store };
}
