/**
 * The one typed configuration of `postino`.
 *
 * Precedence: defaults < TOML file (`--config`, `$POSTINO_CONFIG`) < `POSTINO_*`
 * environment < command-line flags. Every option is declared once in
 * {@link OPTIONS} with its TOML key, environment variable and flag, and every
 * value is validated here, so the rest of the program sees only a checked
 * {@link Config}. Errors are one line that names the key and the value.
 */
import { parse as parseToml } from "smol-toml";
import { normalizeAddress, normalizeDomain } from "./address.ts";

/** The names of the listeners, in the order they are started and logged. */
export const LISTENERS = [
  "smtp",
  "submission",
  "submissions",
  "pop3",
  "pop3s",
  "imap",
  "imaps",
  "http",
  "https",
] as const;
/** One of {@link LISTENERS}. */
export type ListenerName = typeof LISTENERS[number];

/** A host and port; host "" means every interface. Port 0 picks a free port. */
export interface HostPort {
  host: string;
  port: number;
}

/** Log levels accepted on the command line. */
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/** The checked configuration. */
export interface Config {
  /** Directory holding the store and generated files. @default "./data" */
  dataDir: string;
  /** The path of the config file read, if any. */
  configFile?: string;
  /** Our host name: greeting, EHLO, Received. @default the system's host name */
  hostname: string;
  /** Whether the host name was configured (flag, environment, file) rather than the system's. */
  hostnameConfigured: boolean;
  /** Local domains recorded in the store at start (normalised). */
  domains: string[];
  dev: boolean;
  /** Listeners to start; a missing entry is off. */
  listeners: Partial<Record<ListenerName, HostPort>>;
  tls: {
    certFile?: string;
    keyFile?: string;
    /** ACME: the directory URL; certificates are obtained and renewed automatically. */
    acme?: string;
    /** The contact address of the ACME account. */
    acmeEmail?: string;
    /** Extra CA certificates (PEM file) to trust for the ACME server's own HTTPS. */
    acmeCaFile?: string;
  };
  /** Send all outbound mail through this smarthost. */
  relay?: HostPort;
  /** AUTH to the relay: the user and the password read from `relay_password_file`. */
  relayAuth?: { user: string; password: string };
  /**
   * TLS to the relay: STARTTLS when offered (opportunistic), STARTTLS or
   * fail, TLS from the first byte, or none. @default "starttls" with relayAuth, else "opportunistic"
   */
  relayTls: "opportunistic" | "starttls" | "implicit" | "none";
  dns?: HostPort;
  /** Port used to reach MX hosts. @default 25 */
  mxPort: number;
  /** Largest message accepted, in octets (RFC 1870 SIZE). @default 25 MiB */
  maxMessageSize: number;
  /** Where mail to postmaster@ of a local domain goes when no such user or alias exists. */
  postmaster?: string;
  log: { level: LogLevel; format: "text" | "json"; categories: Record<string, LogLevel> };
  /** Idle timeouts in milliseconds. */
  timeouts: {
    /** Waiting for an SMTP command (RFC 5321 §4.5.3.2.7: at least 5 minutes). @default 300000 */
    smtpCommand: number;
    /** Waiting for more DATA/BDAT content (RFC 5321 §4.5.3.2.5: 3 minutes). @default 600000 */
    smtpData: number;
    /** An idle POP3 session (RFC 1939 §3: at least 10 minutes). @default 600000 */
    pop3Idle: number;
    /** An idle IMAP session, IDLE included (RFC 9051 §5.4: at least 30 minutes). @default 1800000 */
    imapIdle: number;
  };
  /** The outbound queue. */
  queue: {
    /** Give up and bounce after this long. @default 5 days */
    maxAgeMs: number;
    /** Deliveries at once. @default 20 */
    concurrency: number;
    /** Deliveries at once to one destination domain. @default 4 */
    perDomain: number;
  };
  /** Checks of mail received over MX (SPF, DKIM, DMARC, ARC) and what they decide. */
  inbound: {
    /** @default true */
    checks: boolean;
    /** Refuse a failed SPF check when the domain has no DMARC policy. @default false */
    spfFailReject: boolean;
    /** Apply DMARC p=reject / p=quarantine. @default true */
    enforceDmarc: boolean;
    /** Time for all DNS lookups of one message. @default 10000 */
    dnsBudgetMs: number;
  };
  /** `postino check`: the DNS blocklists our address must not be on. @default Spamhaus ZEN, SpamCop */
  check: { dnsbl: string[] };
  /** Defences of the MX listener against spam. */
  spam: {
    /**
     * Wait this long before the greeting; a client that talks meanwhile is
     * refused (an early talker, as Postfix's postscreen tells). @default 0 (off)
     */
    pregreetMs: number;
    /**
     * DNS blocklists the MX listener asks about each client at connect; a
     * listed client is refused at RCPT with 554 5.7.1. @default none
     */
    dnsbl: string[];
    /**
     * What a listing does: "refuse" at RCPT, or "junk": the mail is taken and
     * filed into Junk unless the sender's reputation with the recipient
     * vouches for it. @default "refuse"
     */
    dnsblAction: "refuse" | "junk";
    /**
     * A junk-filter score at or above which mail from the outside is refused
     * at DATA with 550 5.7.1 (when every recipient's filter says so), so the
     * sender learns of it. @default undefined (never refused; spam goes to Junk)
     */
    refuseScore?: number;
  };
  /** The MTA-STS policy served at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461). */
  mtaSts: {
    /** @default "testing" */
    mode: "testing" | "enforce" | "none";
    /** In seconds. @default 604800 (one week) */
    maxAgeSeconds: number;
  };
  /** Connection caps, shared by all listeners; over them a client is told to come back later. */
  limits: {
    /** @default 500 */
    connections: number;
    /** Loopback clients are exempt. @default 20 */
    connectionsPerIp: number;
    /** IMAP sessions one user may have open at once. @default 50 */
    imapSessionsPerUser: number;
    /**
     * Resident memory the server keeps under by slowing intake (see
     * net/memory_guard.ts), in bytes. @default 384 MiB, for a 1 GB VPS
     */
    memoryBytes: number;
    /**
     * Messages one authenticated user may send per hour (submission and the
     * send API together; delivery/send_limits.ts); 0 is no limit. @default 200
     */
    sendPerHour: number;
    /** Recipients of those messages per user and hour; 0 is no limit. @default 1000 */
    recipientsPerHour: number;
    /**
     * Storage quota of a user without their own (`postino user quota`), in
     * bytes. @default undefined (none)
     */
    quotaBytes?: number;
    /** Messages a user may keep, with the storage quota; undefined: no limit. @default none */
    quotaMessages?: number;
  };
  /**
   * Scheduled backups of the store (`postino backup` on a timer): off unless
   * `dir` is set.
   */
  backup: {
    /** Where the backups go, named `postino-YYYYMMDDTHHMMSSZ.db`. @default undefined (off) */
    dir?: string;
    /** How often, in milliseconds. @default 24 hours */
    everyMs: number;
    /** How many of the newest backups are kept; older ones are removed. @default 7 */
    keep: number;
  };
  /** How long mail stays in Trash and Junk before it is expunged; 0 keeps it. */
  retention: {
    /** @default 30 days */
    trashMs: number;
    /** @default 30 days */
    junkMs: number;
  };
}

/** Where an option value came from. */
export type ConfigSource = "flag" | "env" | "file";

/**
 * A configuration value is wrong. `usage` is true for a malformed command
 * line (exit status 2); anything else is a failure (exit status 1).
 */
export class ConfigError extends Error {
  readonly usage: boolean;
  constructor(message: string, usage: boolean) {
    super(message);
    this.name = "ConfigError";
    this.usage = usage;
  }
}

type Kind =
  | "score"
  | "string"
  | "path"
  | "bool"
  | "domains"
  | "hostname"
  | "listen"
  | "hostport"
  | "port"
  | "size"
  | "level"
  | "format"
  | "levels"
  | "address"
  | "duration"
  | "count"
  | "limit"
  | "retention"
  | "choice"
  | "acme"
  | "zones";

interface OptionSpec {
  /** Dotted key in the TOML file. */
  key: string;
  kind: Kind;
  /** Long flag without dashes; none means not settable from the command line. */
  flag?: string;
  /** Environment variable; none means not settable from the environment. */
  env?: string;
  /** The allowed values of a "choice". */
  choices?: readonly string[];
  help?: string;
}

/** Every option, once. */
export const OPTIONS: readonly OptionSpec[] = [
  { key: "data", kind: "path", flag: "data", env: "POSTINO_DATA", help: "data directory" },
  { key: "hostname", kind: "hostname", flag: "hostname", env: "POSTINO_HOSTNAME" },
  { key: "domains", kind: "domains", flag: "domain", env: "POSTINO_DOMAINS" },
  { key: "dev", kind: "bool", flag: "dev", env: "POSTINO_DEV" },
  ...LISTENERS.map((name): OptionSpec => ({
    key: `listen.${name}`,
    kind: "listen",
    flag: name,
    env: `POSTINO_${name.toUpperCase()}`,
  })),
  { key: "tls.cert", kind: "path", flag: "tls-cert", env: "POSTINO_TLS_CERT" },
  { key: "tls.key", kind: "path", flag: "tls-key", env: "POSTINO_TLS_KEY" },
  { key: "tls.acme", kind: "acme", flag: "acme", env: "POSTINO_ACME" },
  { key: "tls.acme_email", kind: "address", flag: "acme-email", env: "POSTINO_ACME_EMAIL" },
  { key: "tls.acme_ca", kind: "path", flag: "acme-ca", env: "POSTINO_ACME_CA" },
  { key: "relay", kind: "hostport", flag: "relay", env: "POSTINO_RELAY" },
  { key: "relay_user", kind: "string", flag: "relay-user", env: "POSTINO_RELAY_USER" },
  {
    key: "relay_password_file",
    kind: "path",
    flag: "relay-password-file",
    env: "POSTINO_RELAY_PASSWORD_FILE",
  },
  {
    key: "relay_tls",
    kind: "choice",
    choices: ["opportunistic", "starttls", "implicit", "none"],
    flag: "relay-tls",
    env: "POSTINO_RELAY_TLS",
  },
  { key: "dns", kind: "hostport", flag: "dns", env: "POSTINO_DNS" },
  { key: "mx_port", kind: "port", flag: "mx-port", env: "POSTINO_MX_PORT" },
  {
    key: "max_message_size",
    kind: "size",
    flag: "max-message-size",
    env: "POSTINO_MAX_MESSAGE_SIZE",
  },
  { key: "postmaster", kind: "address", flag: "postmaster", env: "POSTINO_POSTMASTER" },
  { key: "log.level", kind: "level", flag: "log-level", env: "POSTINO_LOG_LEVEL" },
  { key: "log.format", kind: "format", flag: "log-format", env: "POSTINO_LOG_FORMAT" },
  { key: "log.categories", kind: "levels" },
  { key: "timeouts.smtp_command", kind: "duration", env: "POSTINO_SMTP_COMMAND_TIMEOUT" },
  { key: "timeouts.smtp_data", kind: "duration", env: "POSTINO_SMTP_DATA_TIMEOUT" },
  { key: "timeouts.pop3_idle", kind: "duration", env: "POSTINO_POP3_IDLE_TIMEOUT" },
  { key: "timeouts.imap_idle", kind: "duration", env: "POSTINO_IMAP_IDLE_TIMEOUT" },
  { key: "queue.max_age", kind: "duration", env: "POSTINO_QUEUE_MAX_AGE" },
  { key: "queue.concurrency", kind: "count", env: "POSTINO_QUEUE_CONCURRENCY" },
  { key: "queue.per_domain", kind: "count", env: "POSTINO_QUEUE_PER_DOMAIN" },
  { key: "inbound.checks", kind: "bool", env: "POSTINO_INBOUND_CHECKS" },
  {
    key: "inbound.spf_fail",
    kind: "choice",
    choices: ["deliver", "reject"],
    env: "POSTINO_SPF_FAIL",
  },
  { key: "inbound.dmarc", kind: "choice", choices: ["enforce", "ignore"], env: "POSTINO_DMARC" },
  { key: "inbound.dns_budget", kind: "duration", env: "POSTINO_INBOUND_DNS_BUDGET" },
  { key: "limits.connections", kind: "count", env: "POSTINO_MAX_CONNECTIONS" },
  { key: "limits.memory", kind: "size", env: "POSTINO_MEMORY_LIMIT" },
  { key: "limits.connections_per_ip", kind: "count", env: "POSTINO_MAX_CONNECTIONS_PER_IP" },
  { key: "limits.send_per_hour", kind: "limit", env: "POSTINO_SEND_PER_HOUR" },
  { key: "limits.recipients_per_hour", kind: "limit", env: "POSTINO_RECIPIENTS_PER_HOUR" },
  { key: "limits.quota", kind: "size", env: "POSTINO_QUOTA" },
  { key: "limits.quota_messages", kind: "limit", env: "POSTINO_QUOTA_MESSAGES" },
  { key: "backup.dir", kind: "path", env: "POSTINO_BACKUP_DIR" },
  { key: "backup.every", kind: "duration", env: "POSTINO_BACKUP_EVERY" },
  { key: "backup.keep", kind: "count", env: "POSTINO_BACKUP_KEEP" },
  { key: "retention.trash", kind: "retention", env: "POSTINO_RETENTION_TRASH" },
  { key: "retention.junk", kind: "retention", env: "POSTINO_RETENTION_JUNK" },
  { key: "check.dnsbl", kind: "zones", env: "POSTINO_CHECK_DNSBL" },
  { key: "spam.pregreet", kind: "duration", env: "POSTINO_SPAM_PREGREET" },
  { key: "spam.dnsbl", kind: "zones", env: "POSTINO_SPAM_DNSBL" },
  {
    key: "spam.dnsbl_action",
    kind: "choice",
    choices: ["refuse", "junk"],
    env: "POSTINO_SPAM_DNSBL_ACTION",
  },
  { key: "spam.refuse", kind: "score", env: "POSTINO_SPAM_REFUSE" },
  {
    key: "mta_sts.mode",
    kind: "choice",
    choices: ["testing", "enforce", "none"],
    env: "POSTINO_MTA_STS_MODE",
  },
  { key: "mta_sts.max_age", kind: "duration", env: "POSTINO_MTA_STS_MAX_AGE" },
  {
    key: "limits.imap_sessions_per_user",
    kind: "count",
    env: "POSTINO_IMAP_SESSIONS_PER_USER",
  },
];

/** Default ports of the standard listeners, and of `--dev` (loopback only). */
const STANDARD_PORTS: Record<ListenerName, number> = {
  smtp: 25,
  submission: 587,
  submissions: 465,
  pop3: 110,
  pop3s: 995,
  imap: 143,
  imaps: 993,
  http: 80,
  https: 443,
};
const DEV_PORTS: Record<ListenerName, number> = {
  smtp: 2525,
  submission: 2587,
  submissions: 2465,
  pop3: 2110,
  pop3s: 2995,
  imap: 2143,
  imaps: 2993,
  http: 8025,
  https: 8443,
};
/** Listeners started by default. */
export const DEFAULT_LISTENERS: readonly ListenerName[] = LISTENERS;
/** Listeners started by default under `--dev`: plain HTTP only, no HTTPS. */
const DEV_LISTENERS: readonly ListenerName[] = LISTENERS.filter((name) => name !== "https");

const MAX_MESSAGE_SIZE = 25 * 1024 * 1024;

type Raw = string | number | boolean | string[] | Record<string, unknown>;
/** Option values by key, each with the layer it came from (for error messages). */
type Values = Map<string, { value: unknown; source: ConfigSource }>;

/** Parses `HOST:PORT`, `[V6]:PORT` or `:PORT`; undefined when malformed. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]\s]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  return { host: m[1] ?? m[2], port };
}

/** Formats a host and port for logs and flags (`[::1]:25`). */
export function formatHostPort(hp: HostPort): string {
  return hp.host.includes(":") ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

/** ACME directories by name. */
export const ACME_DIRECTORIES: Record<string, string> = {
  "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
  "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
};

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A size such as "25M" or "26214400" (K, M, G are powers of 1024) in bytes; undefined if bad. */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m && SIZE_UNITS[m[2].toLowerCase()];
  const n = m && unit ? Number(m[1]) * unit : NaN;
  return n > 0 && Number.isSafeInteger(n) ? n : undefined;
}

function convert(spec: OptionSpec, raw: Raw, where: string, source: ConfigSource) {
  const fail = (expected: string): never => {
    const shown = typeof raw === "string" ? JSON.stringify(raw) : JSON.stringify(raw) ?? "?";
    throw new ConfigError(
      `Invalid value for ${where}: ${shown} (expected ${expected})`,
      source === "flag",
    );
  };
  const text = (): string => typeof raw === "string" ? raw : fail("a string");
  /** An array, or a comma-separated string, of domain names, normalized. */
  const domainList = (expectedList: string, expectedNames: string): string[] => {
    const list = Array.isArray(raw)
      ? raw
      : typeof raw === "string"
      ? raw.split(",").map((d) => d.trim()).filter(Boolean)
      : fail(expectedList);
    return list.map((d) => {
      try {
        return normalizeDomain(String(d));
      } catch {
        return fail(expectedNames);
      }
    });
  };
  switch (spec.kind) {
    case "string":
      return text();
    case "path":
      return text().trim() || fail("a path");
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (/^(1|true|yes|on)$/i.test(text())) return true;
      if (/^(0|false|no|off)$/i.test(text())) return false;
      return fail("true or false");
    case "domains":
      return domainList("a list of domains", "domain names");
    case "hostname":
      try {
        return normalizeDomain(text());
      } catch {
        return fail("a fully qualified host name");
      }
    case "listen":
      if (text().trim().toLowerCase() === "off") return null;
      return parseHostPort(text()) ?? fail("ADDR:PORT or off");
    case "hostport":
      return parseHostPort(text()) ?? fail("HOST:PORT");
    case "port": {
      const n = typeof raw === "number" ? raw : /^\d{1,5}$/.test(text()) ? Number(raw) : NaN;
      return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : fail("a port from 1 to 65535");
    }
    case "size": {
      if (typeof raw === "number") {
        return raw > 0 && Number.isSafeInteger(raw) ? raw : fail("bytes");
      }
      return parseSize(text()) ?? fail("a size such as 25M or 26214400");
    }
    case "level":
      return (LOG_LEVELS as readonly string[]).includes(text()) ? raw : fail(LOG_LEVELS.join("|"));
    case "format":
      return raw === "text" || raw === "json" ? raw : fail("text|json");
    case "levels": {
      if (typeof raw !== "object" || Array.isArray(raw)) return fail("a table of category = level");
      for (const [category, level] of Object.entries(raw)) {
        if (!(LOG_LEVELS as readonly unknown[]).includes(level)) {
          convert({ key: `${spec.key}.${category}`, kind: "level" }, level as Raw, where, source);
        }
      }
      return raw;
    }
    case "duration": {
      // Seconds, or a number with s, m or h.
      const m = typeof raw === "number"
        ? [String(raw), String(raw), "s"]
        : /^(\d+)\s*([smhd]?)$/i.exec(text().trim());
      const units: Record<string, number> = { "": 1, s: 1, m: 60, h: 3600, d: 86400 };
      const ms = m ? Number(m[1]) * units[m[2].toLowerCase()] * 1000 : NaN;
      return ms > 0 && Number.isSafeInteger(ms)
        ? ms
        : fail("a duration such as 300s, 5m, 1h or 5d");
    }
    case "choice":
      return spec.choices!.includes(text()) ? raw : fail(spec.choices!.join("|"));
    case "score": {
      const n = typeof raw === "number"
        ? raw
        : /^\d*\.?\d+$/.test(text().trim())
        ? Number(raw)
        : NaN;
      return n > 0 && n <= 1 ? n : fail("a score above 0 and at most 1, such as 0.99");
    }
    case "count": {
      const n = typeof raw === "number" ? raw : /^\d{1,9}$/.test(text().trim()) ? Number(raw) : NaN;
      return Number.isSafeInteger(n) && n >= 1 ? n : fail("a whole number of at least 1");
    }
    case "retention": {
      // A duration, or off (0): mail in that mailbox is kept.
      if (raw === 0 || /^(off|0)$/i.test(text().trim())) return 0;
      return convert({ ...spec, kind: "duration" }, raw, where, source);
    }
    case "limit": {
      const n = typeof raw === "number" ? raw : /^\d{1,9}$/.test(text().trim()) ? Number(raw) : NaN;
      return Number.isSafeInteger(n) && n >= 0 ? n : fail("a whole number, 0 for no limit");
    }
    case "zones":
      return domainList("a list of DNS zones", "DNS zone names such as zen.spamhaus.org");
    case "acme": {
      // RFC 8555 §7.1.1: the directory URL; the two Let's Encrypt ones have names.
      const named = ACME_DIRECTORIES[text().trim()];
      if (named) return named;
      try {
        const url = new URL(text().trim());
        if (url.protocol === "https:" || url.protocol === "http:") return url.href;
      } catch {
        // Not a URL; said below.
      }
      return fail("letsencrypt, letsencrypt-staging or an https:// directory URL");
    }
    case "address":
      try {
        return normalizeAddress(text());
      } catch {
        return fail("an address local@domain");
      }
  }
}

/** Reads and flattens a TOML config file into option values, rejecting unknown keys. */
function fromFile(path: string): Values {
  let textContent: string;
  try {
    textContent = Deno.readTextFileSync(path);
  } catch (err) {
    throw new ConfigError(`Cannot read config file ${path}: ${(err as Error).message}`, false);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(textContent) as Record<string, unknown>;
  } catch (err) {
    const first = (err as Error).message.split("\n")[0];
    throw new ConfigError(`Cannot parse config file ${path}: ${first}`, false);
  }
  const values: Values = new Map();
  const byKey = new Map(OPTIONS.map((o) => [o.key, o]));
  const walk = (table: Record<string, unknown>, prefix: string) => {
    for (const [name, value] of Object.entries(table)) {
      const key = prefix + name;
      const spec = byKey.get(key);
      if (spec) {
        values.set(key, {
          value: convert(spec, value as Raw, `${key} in ${path}`, "file"),
          source: "file",
        });
      } else if (value && typeof value === "object" && !Array.isArray(value)) {
        if (!OPTIONS.some((o) => o.key.startsWith(`${key}.`))) {
          throw new ConfigError(`Unknown key ${key} in ${path}`, false);
        }
        walk(value as Record<string, unknown>, `${key}.`);
      } else {
        throw new ConfigError(`Unknown key ${key} in ${path}`, false);
      }
    }
  };
  walk(doc, "");
  return values;
}

/** Option values from `POSTINO_*` variables; unset or empty variables are skipped. */
function fromEnv(env: Record<string, string>): Values {
  const values: Values = new Map();
  for (const spec of OPTIONS) {
    const raw = spec.env && env[spec.env];
    if (raw) values.set(spec.key, { value: convert(spec, raw, spec.env!, "env"), source: "env" });
  }
  return values;
}

/** Option values from parsed flags (`parseArgs` output keyed by flag name). */
function fromFlags(flags: Record<string, unknown>): Values {
  const values: Values = new Map();
  for (const spec of OPTIONS) {
    const raw = spec.flag && flags[spec.flag];
    // An absent boolean flag parses as undefined; false never overrides the file.
    if (raw === undefined || raw === false) continue;
    values.set(spec.key, {
      value: convert(spec, raw as Raw, `--${spec.flag}`, "flag"),
      source: "flag",
    });
  }
  return values;
}

/** The `parseArgs` option table for the flags of {@link OPTIONS}. */
export function configFlagOptions(): Record<
  string,
  { type: "string" | "boolean"; multiple?: boolean }
> {
  const table: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {
    config: { type: "string" },
  };
  for (const spec of OPTIONS) {
    if (!spec.flag) continue;
    table[spec.flag] = spec.kind === "bool"
      ? { type: "boolean" }
      : spec.kind === "domains"
      ? { type: "string", multiple: true }
      : { type: "string" };
  }
  return table;
}

/** Where the inputs of {@link loadConfig} come from; tests pass their own. */
export interface ConfigSources {
  /** Parsed flags keyed by flag name (see {@link configFlagOptions}). */
  flags: Record<string, unknown>;
  /** @default Deno.env.toObject() */
  env?: Record<string, string>;
  /** @default the system's host name */
  systemHostname?: () => string;
}

/** Builds and validates the configuration from defaults, file, environment and flags. */
export function loadConfig(sources: ConfigSources): Config {
  const env = sources.env ?? Deno.env.toObject();
  const configFile = (sources.flags.config as string | undefined) ??
    (env.POSTINO_CONFIG || undefined);
  const merged: Values = new Map();
  for (
    const layer of [
      configFile ? fromFile(configFile) : new Map(),
      fromEnv(env),
      fromFlags(sources.flags),
    ]
  ) {
    for (const [k, v] of layer) merged.set(k, v);
  }
  const get = <T>(key: string): T | undefined => merged.get(key)?.value as T | undefined;
  const sourceOf = (key: string) => merged.get(key)?.source ?? "file";
  const dev = get<boolean>("dev") ?? false;

  const explicit = LISTENERS.filter((name) => merged.has(`listen.${name}`));
  const listeners: Config["listeners"] = {};
  if (explicit.length > 0) {
    for (const name of explicit) {
      const hp = get<HostPort | null>(`listen.${name}`);
      if (hp) listeners[name] = hp;
    }
  } else {
    for (const name of dev ? DEV_LISTENERS : DEFAULT_LISTENERS) {
      listeners[name] = dev
        ? { host: "127.0.0.1", port: DEV_PORTS[name] }
        : { host: "", port: STANDARD_PORTS[name] };
    }
  }

  const certFile = get<string>("tls.cert");
  const keyFile = get<string>("tls.key");
  if ((certFile === undefined) !== (keyFile === undefined)) {
    const missing = certFile === undefined ? "tls.cert (--tls-cert)" : "tls.key (--tls-key)";
    const given = certFile === undefined ? "tls.key" : "tls.cert";
    throw new ConfigError(
      `Missing ${missing}: a certificate needs both cert and key`,
      sourceOf(given) === "flag",
    );
  }
  for (const [key, file] of [["tls.cert", certFile], ["tls.key", keyFile]] as const) {
    if (file === undefined) continue;
    try {
      Deno.readFileSync(file);
    } catch (err) {
      throw new ConfigError(
        `Cannot read ${key} file ${file}: ${(err as Error).message}`,
        false,
      );
    }
  }

  if (get("tls.acme") !== undefined && certFile !== undefined) {
    throw new ConfigError(
      "Give either --acme or --tls-cert/--tls-key (tls.acme or tls.cert), not both",
      sourceOf("tls.acme") === "flag",
    );
  }
  const acmeCaFile = get<string>("tls.acme_ca");
  if (acmeCaFile !== undefined) {
    try {
      Deno.readFileSync(acmeCaFile);
    } catch (err) {
      throw new ConfigError(
        `Cannot read tls.acme_ca file ${acmeCaFile}: ${(err as Error).message}`,
        false,
      );
    }
  }

  const mtaStsMaxAge = get<number>("mta_sts.max_age");
  if (mtaStsMaxAge !== undefined && mtaStsMaxAge > 31_557_600_000) {
    // RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).
    throw new ConfigError(
      "Invalid value for mta_sts.max_age: at most a year (31557600s)",
      sourceOf("mta_sts.max_age") === "flag",
    );
  }

  const backupDir = get<string>("backup.dir");
  const backupWithoutDir = ["backup.every", "backup.keep"].find((k) => merged.has(k));
  if (backupWithoutDir && backupDir === undefined) {
    throw new ConfigError(
      `${backupWithoutDir} needs backup.dir (POSTINO_BACKUP_DIR): where the backups go`,
      false,
    );
  }

  const relayUser = get<string>("relay_user");
  const passwordFile = get<string>("relay_password_file");
  if ((relayUser === undefined) !== (passwordFile === undefined)) {
    const given = relayUser === undefined ? "relay_password_file" : "relay_user";
    throw new ConfigError(
      "Relay AUTH needs both relay_user (--relay-user) and relay_password_file (--relay-password-file)",
      sourceOf(given) === "flag",
    );
  }
  let relayAuth: Config["relayAuth"];
  if (relayUser !== undefined && passwordFile !== undefined) {
    let password: string;
    try {
      password = Deno.readTextFileSync(passwordFile).replace(/\r?\n$/, "");
    } catch (err) {
      throw new ConfigError(
        `Cannot read relay_password_file ${passwordFile}: ${(err as Error).message}`,
        false,
      );
    }
    relayAuth = { user: relayUser, password };
  }

  const domains = [
    ...new Set([...(dev ? ["localhost"] : []), ...(get<string[]>("domains") ?? [])]),
  ];
  let hostname = get<string>("hostname");
  const hostnameConfigured = hostname !== undefined;
  if (!hostname) {
    const system = (sources.systemHostname ?? Deno.hostname)();
    hostname = dev ? "localhost" : normalizeDomainOr(system, "localhost");
  }

  return {
    dataDir: get<string>("data") ?? "./data",
    configFile,
    hostname,
    hostnameConfigured,
    domains,
    dev,
    listeners,
    tls: {
      certFile,
      keyFile,
      acme: get<string>("tls.acme"),
      acmeEmail: get<string>("tls.acme_email"),
      acmeCaFile,
    },
    relay: get<HostPort>("relay"),
    relayAuth,
    relayTls: get<Config["relayTls"]>("relay_tls") ?? (relayAuth ? "starttls" : "opportunistic"),
    dns: get<HostPort>("dns"),
    mxPort: get<number>("mx_port") ?? 25,
    maxMessageSize: get<number>("max_message_size") ?? MAX_MESSAGE_SIZE,
    postmaster: get<string>("postmaster"),
    timeouts: {
      smtpCommand: get<number>("timeouts.smtp_command") ?? 300_000,
      smtpData: get<number>("timeouts.smtp_data") ?? 600_000,
      pop3Idle: get<number>("timeouts.pop3_idle") ?? 600_000,
      imapIdle: get<number>("timeouts.imap_idle") ?? 1_800_000,
    },
    inbound: {
      checks: get<boolean>("inbound.checks") ?? true,
      spfFailReject: get<string>("inbound.spf_fail") === "reject",
      enforceDmarc: (get<string>("inbound.dmarc") ?? "enforce") === "enforce",
      dnsBudgetMs: get<number>("inbound.dns_budget") ?? 10_000,
    },
    queue: {
      maxAgeMs: get<number>("queue.max_age") ?? 5 * 86_400_000,
      concurrency: get<number>("queue.concurrency") ?? 20,
      perDomain: get<number>("queue.per_domain") ?? 4,
    },
    check: { dnsbl: get<string[]>("check.dnsbl") ?? ["zen.spamhaus.org", "bl.spamcop.net"] },
    spam: {
      pregreetMs: get<number>("spam.pregreet") ?? 0,
      dnsbl: get<string[]>("spam.dnsbl") ?? [],
      dnsblAction: get<Config["spam"]["dnsblAction"]>("spam.dnsbl_action") ?? "refuse",
      refuseScore: get<number>("spam.refuse"),
    },
    mtaSts: {
      mode: get<Config["mtaSts"]["mode"]>("mta_sts.mode") ?? "testing",
      maxAgeSeconds: Math.floor((mtaStsMaxAge ?? 604_800_000) / 1000),
    },
    limits: {
      connections: get<number>("limits.connections") ?? 500,
      connectionsPerIp: get<number>("limits.connections_per_ip") ?? 20,
      imapSessionsPerUser: get<number>("limits.imap_sessions_per_user") ?? 50,
      memoryBytes: get<number>("limits.memory") ?? 384 * 1024 * 1024,
      // A person, or a script of theirs, sends a few dozen messages in a busy hour; a spam run
      // with a stolen password sends thousands. 200 messages and 1000 recipients an hour leave
      // the first alone (a notice to a club of a few hundred fits) and stop the second within
      // the hour, before the server's address is on every blocklist.
      sendPerHour: get<number>("limits.send_per_hour") ?? 200,
      recipientsPerHour: get<number>("limits.recipients_per_hour") ?? 1000,
      quotaBytes: get<number>("limits.quota"),
      quotaMessages: get<number>("limits.quota_messages") || undefined,
    },
    backup: {
      dir: backupDir,
      everyMs: get<number>("backup.every") ?? 86_400_000,
      keep: get<number>("backup.keep") ?? 7,
    },
    retention: {
      trashMs: get<number>("retention.trash") ?? 30 * 86_400_000,
      junkMs: get<number>("retention.junk") ?? 30 * 86_400_000,
    },
    log: {
      level: get<LogLevel>("log.level") ?? "info",
      format: get<"text" | "json">("log.format") ?? "text",
      categories: get<Record<string, LogLevel>>("log.categories") ?? {},
    },
  };
}

function normalizeDomainOr(name: string, fallback: string): string {
  try {
    return normalizeDomain(name);
  } catch {
    return fallback;
  }
}
