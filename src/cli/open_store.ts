/** Opens the store a management command works on, from `--data`/`--config`/`$POSTINO_DATA`. */
import { type Config, loadConfig } from "../config.ts";
import { withStoredIdentity } from "../setup/identity.ts";
import { openStore, type Store, storePath } from "../store/db.ts";

/** Loads the configuration from the command's flags and opens (creating if needed) its store. */
export function openCommandStore(flags: { data?: string; config?: string }): Store {
  const config = loadConfig({ flags, systemHostname: () => "localhost" });
  Deno.mkdirSync(config.dataDir, { recursive: true });
  return openStore(storePath(config.dataDir));
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
  const store = openStore(storePath(loaded.dataDir));
  return { config: withStoredIdentity(loaded, store), store };
}
