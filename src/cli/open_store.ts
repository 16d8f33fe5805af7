/** Opens the store a management command works on, from `--data`/`--config`/`$POSTINO_DATA`. */
import { loadConfig } from "../config.ts";
import { openStore, type Store, storePath } from "../store/db.ts";

/** Loads the configuration from the command's flags and opens (creating if needed) its store. */
export function openCommandStore(flags: { data?: string; config?: string }): Store {
  const config = loadConfig({ flags, systemHostname: () => "localhost" });
  Deno.mkdirSync(config.dataDir, { recursive: true });
  return openStore(storePath(config.dataDir));
}
