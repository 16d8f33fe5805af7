/**
 * Who this server is when the configuration does not say: the host name and
 * public addresses `postino setup` recorded in the store.
 */
import type { Config } from "../config.ts";
import type { Store } from "../store/db.ts";
import { getSetting } from "../store/settings.ts";

/** The configuration with the stored host name when none was configured. */
export function withStoredIdentity(config: Config, store: Store): Config {
  if (config.hostnameConfigured) return config;
  const hostname = getSetting(store, "hostname");
  return hostname ? { ...config, hostname } : config;
}

/** The public addresses `setup` recorded (given with --ip or detected); empty when none. */
export function storedPublicIps(store: Store): string[] {
  return (getSetting(store, "public_ips") ?? "").split(" ").filter(Boolean);
}
