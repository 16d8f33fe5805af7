/**
 * Server settings kept in the store because a command learned them, not a
 * config file: the host name and public addresses `postino setup` was
 * given, which later `serve`, `dns records` and `check` fall back on.
 */
import type { Store } from "./db.ts";

/** The names in use. */
export type SettingName = "hostname" | "public_ips";

/** A setting's value, or undefined. */
export function getSetting(store: Store, name: SettingName): string | undefined {
  return store.get<{ value: string }>("SELECT value FROM settings WHERE name = ?", name)?.value;
}

/** Sets a setting. */
export function setSetting(store: Store, name: SettingName, value: string): void {
  store.run(
    "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    name,
    value,
  );
}
