import assert from "node:assert/strict";
import { join } from "node:path";
import { type Config, ConfigError, formatHostPort, loadConfig, parseHostPort } from "./config.ts";

const MiB = 1024 ** 2;

/** Runs `fn` with a fresh temp dir that is removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-config-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface Inputs {
  flags?: Record<string, unknown>;
  env?: Record<string, string>;
  /** TOML text written to a file in the temp dir and passed as `--config`. */
  file?: string;
}

/** Replaces `{dir}` and `{file}` in strings, arrays and object values. */
function fill<T>(value: T, dir: string): T {
  if (typeof value === "string") {
    return value.replaceAll("{dir}", dir).replaceAll("{file}", join(dir, "postino.toml")) as T;
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, dir)) as T;
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, dir)])) as T;
  }
  return value;
}

/** loadConfig() on explicit inputs only: nothing of the real environment leaks in. */
function load(dir: string, inputs: Inputs): Config {
  const flags = { ...fill(inputs.flags ?? {}, dir) };
  if (inputs.file !== undefined) {
    const path = join(dir, "postino.toml");
    Deno.writeTextFileSync(path, fill(inputs.file, dir));
    flags.config = path;
  }
  return loadConfig({
    flags,
    env: fill(inputs.env ?? {}, dir),
    systemHostname: () => "system.example",
  });
}

// ---------------------------------------------------------------------------
// Defaults

Deno.test("loadConfig() gives the documented defaults with no input", () => {
  const config = loadConfig({ flags: {}, env: {}, systemHostname: () => "Mail.Example.COM." });
  const want: Config = {
    dataDir: "./data",
    configFile: undefined,
    hostname: "mail.example.com",
    hostnameConfigured: false,
    domains: [],
    dev: false,
    listeners: {
      smtp: { host: "", port: 25 },
      submission: { host: "", port: 587 },
      submissions: { host: "", port: 465 },
      pop3: { host: "", port: 110 },
      pop3s: { host: "", port: 995 },
      imap: { host: "", port: 143 },
      imaps: { host: "", port: 993 },
      http: { host: "", port: 80 },
      https: { host: "", port: 443 },
    },
    tls: {
      certFile: undefined,
      keyFile: undefined,
      acme: undefined,
      acmeEmail: undefined,
      acmeCaFile: undefined,
    },
    relay: undefined,
    dns: undefined,
    mxPort: 25,
    maxMessageSize: 25 * MiB,
    postmaster: undefined,
    log: { level: "info", format: "text", categories: {} },
    timeouts: { smtpCommand: 300_000, smtpData: 600_000, pop3Idle: 600_000, imapIdle: 1_800_000 },
    check: { dnsbl: ["zen.spamhaus.org", "bl.spamcop.net"] },
    spam: { pregreetMs: 0, dnsbl: [], dnsblAction: "refuse", refuseScore: undefined },
    mtaSts: { mode: "testing", maxAgeSeconds: 604_800 },
    limits: {
      connections: 500,
      connectionsPerIp: 20,
      imapSessionsPerUser: 50,
      memoryBytes: 384 * 1024 * 1024,
      sendPerHour: 200,
      recipientsPerHour: 1000,
      quotaBytes: undefined,
      quotaMessages: undefined,
    },
    backup: { dir: undefined, everyMs: 86_400_000, keep: 7 },
    retention: { trashMs: 30 * 86_400_000, junkMs: 30 * 86_400_000 },
    relayAuth: undefined,
    relayTls: "opportunistic",
    queue: { maxAgeMs: 5 * 86_400_000, concurrency: 20, perDomain: 4 },
    inbound: { checks: true, spfFailReject: false, enforceDmarc: true, dnsBudgetMs: 10_000 },
  };
  assert.deepEqual(config, want);
});

Deno.test("loadConfig() reads connection limits and refuses a bad one", () => {
  const config = loadConfig({
    flags: {},
    env: {
      POSTINO_MAX_CONNECTIONS: "50",
      POSTINO_MAX_CONNECTIONS_PER_IP: "3",
      POSTINO_IMAP_SESSIONS_PER_USER: "5",
      POSTINO_MEMORY_LIMIT: "512M",
      POSTINO_SEND_PER_HOUR: "20",
      POSTINO_RECIPIENTS_PER_HOUR: "0",
      POSTINO_QUOTA: "2G",
      POSTINO_QUOTA_MESSAGES: "10000",
    },
    systemHostname: () => "mx.test",
  });
  assert.deepEqual(config.limits, {
    connections: 50,
    connectionsPerIp: 3,
    imapSessionsPerUser: 5,
    memoryBytes: 512 * 1024 * 1024,
    sendPerHour: 20,
    recipientsPerHour: 0,
    quotaBytes: 2 * 1024 * 1024 * 1024,
    quotaMessages: 10000,
  });
  for (const bad of ["0", "-1", "many", "1.5"]) {
    assert.throws(
      () => loadConfig({ flags: {}, env: { POSTINO_MAX_CONNECTIONS: bad } }),
      (e: Error) => e.message.includes("POSTINO_MAX_CONNECTIONS") && !e.message.includes("\n"),
      bad,
    );
  }
  for (const bad of ["0", "lots", "-5M"]) {
    assert.throws(
      () => loadConfig({ flags: {}, env: { POSTINO_MEMORY_LIMIT: bad } }),
      (e: Error) => e.message.includes("POSTINO_MEMORY_LIMIT") && !e.message.includes("\n"),
      bad,
    );
  }
});

Deno.test("loadConfig() reads spam.refuse as a score in (0, 1]", () => {
  const read = (value: string) =>
    loadConfig({ flags: {}, env: { POSTINO_SPAM_REFUSE: value }, systemHostname: () => "mx.test" })
      .spam.refuseScore;
  assert.equal(read("0.99"), 0.99);
  assert.equal(read("1"), 1);
  assert.equal(read(".5"), 0.5);
  for (const bad of ["0", "1.5", "-0.1", "high", "0.9x"]) {
    assert.throws(() => read(bad), (e: Error) => e.message.includes("POSTINO_SPAM_REFUSE"), bad);
  }
});

Deno.test("loadConfig() reads spam.dnsbl_action: refuse (the default) or junk", () => {
  const read = (env: Record<string, string>) =>
    loadConfig({ flags: {}, env, systemHostname: () => "mx.test" }).spam.dnsblAction;
  assert.equal(read({}), "refuse");
  assert.equal(read({ POSTINO_SPAM_DNSBL_ACTION: "junk" }), "junk");
  assert.equal(read({ POSTINO_SPAM_DNSBL_ACTION: "refuse" }), "refuse");
  for (const bad of ["reject", "score", "JUNK!"]) {
    assert.throws(
      () => read({ POSTINO_SPAM_DNSBL_ACTION: bad }),
      (e: Error) => e.message.includes("POSTINO_SPAM_DNSBL_ACTION"),
      bad,
    );
  }
});

Deno.test("loadConfig() reads retention as a duration, or off", () => {
  const read = (env: Record<string, string>) =>
    loadConfig({ flags: {}, env, systemHostname: () => "mx.test" }).retention;
  assert.deepEqual(read({}), { trashMs: 30 * 86_400_000, junkMs: 30 * 86_400_000 });
  assert.deepEqual(
    read({ POSTINO_RETENTION_TRASH: "7d", POSTINO_RETENTION_JUNK: "off" }),
    { trashMs: 7 * 86_400_000, junkMs: 0 },
  );
  assert.deepEqual(read({ POSTINO_RETENTION_TRASH: "0", POSTINO_RETENTION_JUNK: "12h" }), {
    trashMs: 0,
    junkMs: 12 * 3_600_000,
  });
  for (const bad of ["-1d", "forever", "1w"]) {
    assert.throws(
      () => read({ POSTINO_RETENTION_TRASH: bad }),
      (e: Error) => e.message.includes("POSTINO_RETENTION_TRASH"),
      bad,
    );
  }
});

const backupCases: [name: string, inputs: Inputs, want: Config["backup"]][] = [
  ["off by default", {}, { dir: undefined, everyMs: 86_400_000, keep: 7 }],
  [
    "a directory alone: daily, the newest 7",
    { env: { POSTINO_BACKUP_DIR: "/var/backups/postino" } },
    { dir: "/var/backups/postino", everyMs: 86_400_000, keep: 7 },
  ],
  [
    "every and keep from the file",
    { file: `[backup]\ndir = "/srv/b"\nevery = "12h"\nkeep = 14` },
    { dir: "/srv/b", everyMs: 12 * 3_600_000, keep: 14 },
  ],
  [
    "the environment over the file",
    {
      file: `[backup]\ndir = "/srv/b"\nevery = "12h"\nkeep = 14`,
      env: { POSTINO_BACKUP_DIR: "/env/b", POSTINO_BACKUP_EVERY: "90m", POSTINO_BACKUP_KEEP: "3" },
    },
    { dir: "/env/b", everyMs: 90 * 60_000, keep: 3 },
  ],
  [
    "a number of seconds (short ones are for tests)",
    { env: { POSTINO_BACKUP_DIR: "b", POSTINO_BACKUP_EVERY: "2" } },
    { dir: "b", everyMs: 2000, keep: 7 },
  ],
];

for (const [name, inputs, want] of backupCases) {
  Deno.test(`loadConfig() reads [backup]: ${name}`, async () => {
    await withTempDir((dir) => assert.deepEqual(load(dir, inputs).backup, want));
  });
}

Deno.test("loadConfig() reads timeouts as seconds or with a unit", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/postino.toml`;
    Deno.writeTextFileSync(
      file,
      '[timeouts]\nsmtp_command = "10m"\nsmtp_data = 90\nimap_idle = "45m"\n',
    );
    const config = loadConfig({
      flags: { config: file },
      env: { POSTINO_POP3_IDLE_TIMEOUT: "1h" },
      systemHostname: () => "mx.test",
    });
    assert.deepEqual(config.timeouts, {
      smtpCommand: 600_000,
      smtpData: 90_000,
      pop3Idle: 3_600_000,
      imapIdle: 2_700_000,
    });
    assert.throws(
      () => loadConfig({ flags: {}, env: { POSTINO_SMTP_DATA_TIMEOUT: "soon" } }),
      (e: Error) => e.message.includes("POSTINO_SMTP_DATA_TIMEOUT") && e.message.includes("soon"),
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("loadConfig() falls back to localhost for an unusable system host name", () => {
  const config = loadConfig({ flags: {}, env: {}, systemHostname: () => "bad_host name" });
  assert.equal(config.hostname, "localhost");
});

Deno.test("loadConfig() skips empty environment variables", () => {
  const config = loadConfig({
    flags: {},
    env: { POSTINO_DATA: "", POSTINO_SMTP: "" },
    systemHostname: () => "system.example",
  });
  assert.equal(config.dataDir, "./data");
  assert.deepEqual(config.listeners.smtp, { host: "", port: 25 });
});

// ---------------------------------------------------------------------------
// Precedence: defaults < file < env < flags

interface PrecedenceCase {
  key: string;
  /** TOML text setting the key. */
  file: string;
  env: Record<string, string>;
  flags: Record<string, unknown>;
  read: (c: Config) => unknown;
  /** The value from defaults, file, env and flags, in that order. */
  want: [unknown, unknown, unknown, unknown];
}

const precedence: PrecedenceCase[] = [
  {
    key: "data",
    file: `data = "/from/file"`,
    env: { POSTINO_DATA: "/from/env" },
    flags: { data: "/from/flag" },
    read: (c) => c.dataDir,
    want: ["./data", "/from/file", "/from/env", "/from/flag"],
  },
  {
    key: "hostname",
    file: `hostname = "File.Example"`,
    env: { POSTINO_HOSTNAME: "env.example" },
    flags: { hostname: "flag.example" },
    read: (c) => c.hostname,
    want: ["system.example", "file.example", "env.example", "flag.example"],
  },
  {
    key: "domains",
    file: `domains = ["file.example", "bücher.example"]`,
    env: { POSTINO_DOMAINS: "env.example, other.example" },
    flags: { domain: ["flag.example"] },
    read: (c) => c.domains,
    want: [
      [],
      ["file.example", "xn--bcher-kva.example"],
      ["env.example", "other.example"],
      ["flag.example"],
    ],
  },
  {
    key: "listen.smtp",
    file: `[listen]\nsmtp = "127.0.0.1:1025"`,
    env: { POSTINO_SMTP: "127.0.0.1:1026" },
    flags: { smtp: "127.0.0.1:1027" },
    read: (c) => c.listeners.smtp,
    want: [
      { host: "", port: 25 },
      { host: "127.0.0.1", port: 1025 },
      { host: "127.0.0.1", port: 1026 },
      { host: "127.0.0.1", port: 1027 },
    ],
  },
  {
    key: "mx_port",
    file: `mx_port = 2525`,
    env: { POSTINO_MX_PORT: "2526" },
    flags: { "mx-port": "2527" },
    read: (c) => c.mxPort,
    want: [25, 2525, 2526, 2527],
  },
  {
    key: "max_message_size",
    file: `max_message_size = "1M"`,
    env: { POSTINO_MAX_MESSAGE_SIZE: "2M" },
    flags: { "max-message-size": "3M" },
    read: (c) => c.maxMessageSize,
    want: [25 * MiB, 1 * MiB, 2 * MiB, 3 * MiB],
  },
  {
    key: "relay",
    file: `relay = "file.example:25"`,
    env: { POSTINO_RELAY: "env.example:587" },
    flags: { relay: "[::1]:2525" },
    read: (c) => c.relay,
    want: [
      undefined,
      { host: "file.example", port: 25 },
      { host: "env.example", port: 587 },
      { host: "::1", port: 2525 },
    ],
  },
  {
    key: "postmaster",
    file: `postmaster = "Root@File.Example"`,
    env: { POSTINO_POSTMASTER: "root@env.example" },
    flags: { postmaster: "root@flag.example" },
    read: (c) => c.postmaster,
    want: [undefined, "root@file.example", "root@env.example", "root@flag.example"],
  },
  {
    key: "limits.send_per_hour",
    file: `[limits]\nsend_per_hour = 50`,
    env: { POSTINO_SEND_PER_HOUR: "0" },
    flags: {},
    read: (c) => c.limits.sendPerHour,
    want: [200, 50, 0, 0],
  },
  {
    key: "limits.recipients_per_hour",
    file: `[limits]\nrecipients_per_hour = 0`,
    env: { POSTINO_RECIPIENTS_PER_HOUR: "250" },
    flags: {},
    read: (c) => c.limits.recipientsPerHour,
    want: [1000, 0, 250, 250],
  },
  {
    key: "log.level",
    file: `[log]\nlevel = "warning"`,
    env: { POSTINO_LOG_LEVEL: "error" },
    flags: { "log-level": "debug" },
    read: (c) => c.log.level,
    want: ["info", "warning", "error", "debug"],
  },
  {
    key: "log.format",
    file: `[log]\nformat = "json"`,
    env: { POSTINO_LOG_FORMAT: "text" },
    flags: { "log-format": "json" },
    read: (c) => c.log.format,
    want: ["text", "json", "text", "json"],
  },
];

for (const c of precedence) {
  Deno.test(`loadConfig() takes ${c.key} from defaults < file < env < flags`, async () => {
    await withTempDir((dir) => {
      const layers: Inputs[] = [
        {},
        { file: c.file },
        { file: c.file, env: c.env },
        { file: c.file, env: c.env, flags: c.flags },
      ];
      layers.forEach((inputs, i) => {
        assert.deepEqual(c.read(load(dir, inputs)), c.want[i], `layer ${i}`);
      });
      // Flags win over the environment without a file too.
      assert.deepEqual(c.read(load(dir, { env: c.env, flags: c.flags })), c.want[3]);
    });
  });
}

Deno.test("loadConfig() reads the file named by POSTINO_CONFIG", async () => {
  await withTempDir((dir) => {
    const path = join(dir, "env.toml");
    Deno.writeTextFileSync(path, `data = "/from/env/file"`);
    const config = loadConfig({
      flags: {},
      env: { POSTINO_CONFIG: path },
      systemHostname: () => "system.example",
    });
    assert.equal(config.dataDir, "/from/env/file");
    assert.equal(config.configFile, path);
  });
});

Deno.test("loadConfig() prefers --config to POSTINO_CONFIG", async () => {
  await withTempDir((dir) => {
    const config = load(dir, {
      file: `data = "/from/flag/file"`,
      env: { POSTINO_CONFIG: join(dir, "missing.toml") },
    });
    assert.equal(config.dataDir, "/from/flag/file");
  });
});

Deno.test("loadConfig() does not let an absent --dev override dev = true in the file", async () => {
  await withTempDir((dir) => {
    assert.equal(load(dir, { file: "dev = true", flags: { dev: false } }).dev, true);
    assert.equal(load(dir, { env: { POSTINO_DEV: "yes" } }).dev, true);
    assert.equal(load(dir, { file: "dev = true", env: { POSTINO_DEV: "off" } }).dev, false);
  });
});

Deno.test("loadConfig() reads per-category log levels from the file", async () => {
  await withTempDir((dir) => {
    const config = load(dir, { file: `[log.categories]\nsmtp = "debug"\n"smtp.data" = "error"` });
    assert.deepEqual({ ...config.log.categories }, { smtp: "debug", "smtp.data": "error" });
  });
});

// ---------------------------------------------------------------------------
// Listeners

const DEV_LISTENERS = {
  smtp: { host: "127.0.0.1", port: 2525 },
  submission: { host: "127.0.0.1", port: 2587 },
  submissions: { host: "127.0.0.1", port: 2465 },
  pop3: { host: "127.0.0.1", port: 2110 },
  pop3s: { host: "127.0.0.1", port: 2995 },
  imap: { host: "127.0.0.1", port: 2143 },
  imaps: { host: "127.0.0.1", port: 2993 },
  http: { host: "127.0.0.1", port: 8025 },
};

Deno.test("loadConfig() starts the dev listeners on loopback with --dev", async () => {
  await withTempDir((dir) => {
    const config = load(dir, { flags: { dev: true } });
    assert.deepEqual(config.listeners, DEV_LISTENERS);
    assert.equal(config.hostname, "localhost");
    assert.deepEqual(config.domains, ["localhost"]);
  });
});

Deno.test("loadConfig() reads the ACME settings and refuses them beside certificate files", async () => {
  await withTempDir((dir) => {
    const config = load(dir, {
      flags: { acme: "letsencrypt-staging", "acme-email": "Me@Example.com" },
    });
    assert.equal(config.tls.acme, "https://acme-staging-v02.api.letsencrypt.org/directory");
    assert.equal(config.tls.acmeEmail, "me@example.com");
    assert.equal(
      load(dir, { env: { POSTINO_ACME: "https://127.0.0.1:14000/dir" } }).tls.acme,
      "https://127.0.0.1:14000/dir",
    );
    assert.throws(() => load(dir, { flags: { acme: "lets-encrypt" } }), /--acme: "lets-encrypt"/);
    Deno.writeTextFileSync(`${dir}/c.pem`, "x");
    assert.throws(
      () =>
        load(dir, {
          flags: { acme: "letsencrypt", "tls-cert": `${dir}/c.pem`, "tls-key": `${dir}/c.pem` },
        }),
      /either --acme or --tls-cert/,
    );
    assert.throws(() => load(dir, { flags: { "acme-ca": `${dir}/missing.pem` } }), /acme_ca/);
  });
});

Deno.test("loadConfig() reads the blocklists check uses", async () => {
  await withTempDir((dir) => {
    assert.deepEqual(
      load(dir, { env: { POSTINO_CHECK_DNSBL: "bl.example.test, Other.Example" } }).check.dnsbl,
      ["bl.example.test", "other.example"],
    );
    assert.deepEqual(load(dir, {}).check.dnsbl, ["zen.spamhaus.org", "bl.spamcop.net"]);
    assert.deepEqual(load(dir, { file: "[check]\ndnsbl = []\n" }).check.dnsbl, []);
    assert.deepEqual(
      load(dir, {
        file: '[check]\ndnsbl = ["file.example"]\n',
        env: { POSTINO_CHECK_DNSBL: "env.example" },
      }).check.dnsbl,
      ["env.example"],
    );
    assert.throws(() => load(dir, { file: '[check]\ndnsbl = ["bad zone"]\n' }), /DNS zone names/);
  });
});

Deno.test("loadConfig() reads the MTA-STS settings and refuses a max_age over a year", async () => {
  await withTempDir((dir) => {
    const config = load(dir, {
      env: { POSTINO_MTA_STS_MODE: "enforce", POSTINO_MTA_STS_MAX_AGE: "30d" },
    });
    assert.deepEqual(config.mtaSts, { mode: "enforce", maxAgeSeconds: 30 * 86_400 });
    assert.throws(
      () => load(dir, { env: { POSTINO_MTA_STS_MODE: "strict" } }),
      /Invalid value for POSTINO_MTA_STS_MODE: "strict" \(expected testing\|enforce\|none\)/,
    );
    assert.throws(
      () => load(dir, { env: { POSTINO_MTA_STS_MAX_AGE: "400d" } }),
      /mta_sts\.max_age: at most a year/,
    );
  });
});

Deno.test("loadConfig() adds localhost before the given domains with --dev", async () => {
  await withTempDir((dir) => {
    const config = load(dir, { flags: { dev: true, domain: ["Example.COM", "localhost"] } });
    assert.deepEqual(config.domains, ["localhost", "example.com"]);
  });
});

const listenerCases: [name: string, inputs: Inputs, want: Config["listeners"]][] = [
  [
    "exactly the one listener given",
    { flags: { smtp: "127.0.0.1:0" } },
    { smtp: { host: "127.0.0.1", port: 0 } },
  ],
  [
    "exactly the listener given, even with --dev",
    { flags: { dev: true, pop3: "127.0.0.1:0" } },
    { pop3: { host: "127.0.0.1", port: 0 } },
  ],
  [
    "a listener that is not a default one when given",
    { flags: { imap: "127.0.0.1:143" } },
    { imap: { host: "127.0.0.1", port: 143 } },
  ],
  ["an IPv6 address in brackets", { flags: { smtp: "[::1]:25" } }, {
    smtp: { host: "::1", port: 25 },
  }],
  ["all interfaces for :PORT", { flags: { smtp: ":25" } }, { smtp: { host: "", port: 25 } }],
  ["a host name", { flags: { smtp: "localhost:25" } }, { smtp: { host: "localhost", port: 25 } }],
  [
    "no listener turned off, the others given",
    { flags: { smtp: "off", pop3: ":110" } },
    { pop3: { host: "", port: 110 } },
  ],
  ["none when every given listener is off", { flags: { smtp: "OFF" } }, {}],
  [
    "listeners from file and environment together",
    { file: `[listen]\nsmtp = ":2525"`, env: { POSTINO_POP3: "127.0.0.1:2110" } },
    { smtp: { host: "", port: 2525 }, pop3: { host: "127.0.0.1", port: 2110 } },
  ],
  [
    "none when a flag turns off the file's only listener",
    { file: `[listen]\nsmtp = ":25"`, flags: { smtp: "off" } },
    {},
  ],
];

for (const [name, inputs, want] of listenerCases) {
  Deno.test(`loadConfig() starts ${name}`, async () => {
    await withTempDir((dir) => {
      assert.deepEqual(load(dir, inputs).listeners, want);
    });
  });
}

// ---------------------------------------------------------------------------
// Sizes

const sizes: [input: string | number, want: number][] = [
  ["25M", 25 * MiB],
  ["10k", 10 * 1024],
  ["1G", 1024 ** 3],
  ["26214400", 26214400],
  ["1", 1],
  ["10 KiB", 10 * 1024],
  ["2mb", 2 * MiB],
  ["3Gb", 3 * 1024 ** 3],
];

for (const [input, want] of sizes) {
  Deno.test(`loadConfig() reads the size ${JSON.stringify(input)} as ${want} bytes`, async () => {
    await withTempDir((dir) => {
      assert.equal(load(dir, { flags: { "max-message-size": input } }).maxMessageSize, want);
      assert.equal(
        load(dir, { env: { POSTINO_MAX_MESSAGE_SIZE: String(input) } }).maxMessageSize,
        want,
      );
    });
  });
}

Deno.test("loadConfig() reads a plain number of bytes from the file", async () => {
  await withTempDir((dir) => {
    assert.equal(load(dir, { file: "max_message_size = 1234" }).maxMessageSize, 1234);
  });
});

// ---------------------------------------------------------------------------
// Errors

interface ErrorCase {
  name: string;
  inputs: Inputs;
  /** The whole message; a RegExp where the end comes from the OS or the TOML parser. */
  message: string | RegExp;
  usage: boolean;
}

const errorCases: ErrorCase[] = [
  {
    name: "a port above 65535 in a flag",
    inputs: { flags: { smtp: "127.0.0.1:65536" } },
    message: `Invalid value for --smtp: "127.0.0.1:65536" (expected ADDR:PORT or off)`,
    usage: true,
  },
  {
    name: "nonsense in a listener flag",
    inputs: { flags: { smtp: "nonsense" } },
    message: `Invalid value for --smtp: "nonsense" (expected ADDR:PORT or off)`,
    usage: true,
  },
  {
    name: "a listener without a port",
    inputs: { flags: { submission: "127.0.0.1" } },
    message: `Invalid value for --submission: "127.0.0.1" (expected ADDR:PORT or off)`,
    usage: true,
  },
  {
    name: "nonsense in a listener variable",
    inputs: { env: { POSTINO_SUBMISSION: "nonsense" } },
    message: `Invalid value for POSTINO_SUBMISSION: "nonsense" (expected ADDR:PORT or off)`,
    usage: false,
  },
  {
    name: "nonsense in a listener key of the file",
    inputs: { file: `[listen]\npop3 = "nonsense"` },
    message: `Invalid value for listen.pop3 in {file}: "nonsense" (expected ADDR:PORT or off)`,
    usage: false,
  },
  {
    name: "a number for a listener in the file",
    inputs: { file: `[listen]\nsmtp = 25` },
    message: `Invalid value for listen.smtp in {file}: 25 (expected a string)`,
    usage: false,
  },
  {
    name: "mx port 0 in a flag",
    inputs: { flags: { "mx-port": "0" } },
    message: `Invalid value for --mx-port: "0" (expected a port from 1 to 65535)`,
    usage: true,
  },
  {
    name: "an mx port above 65535 in the file",
    inputs: { file: "mx_port = 70000" },
    message: `Invalid value for mx_port in {file}: 70000 (expected a port from 1 to 65535)`,
    usage: false,
  },
  {
    name: "an mx port with letters in a variable",
    inputs: { env: { POSTINO_MX_PORT: "25a" } },
    message: `Invalid value for POSTINO_MX_PORT: "25a" (expected a port from 1 to 65535)`,
    usage: false,
  },
  {
    name: "an unknown top-level key",
    inputs: { file: `smpt = ":25"` },
    message: "Unknown key smpt in {file}",
    usage: false,
  },
  {
    name: "an unknown nested key",
    inputs: { file: `[listen]\nsmpt = ":25"` },
    message: "Unknown key listen.smpt in {file}",
    usage: false,
  },
  {
    name: "an unknown table",
    inputs: { file: `[mail]\nsize = 1` },
    message: "Unknown key mail in {file}",
    usage: false,
  },
  {
    name: "an unknown key in the tls table",
    inputs: { file: `[tls]\ncertificate = "/x.pem"` },
    message: "Unknown key tls.certificate in {file}",
    usage: false,
  },
  {
    name: "a table where a value belongs",
    inputs: { file: `[data]\ndir = "/x"` },
    message: `Invalid value for data in {file}: {"dir":"/x"} (expected a string)`,
    usage: false,
  },
  {
    name: "a config file that cannot be read",
    inputs: { flags: { config: "{dir}/missing.toml" } },
    message: /^Cannot read config file \S+\/missing\.toml: .+$/,
    usage: false,
  },
  {
    name: "a config file that is not TOML",
    inputs: { file: "data = \n" },
    message: /^Cannot parse config file \S+\/postino\.toml: .+$/,
    usage: false,
  },
  {
    name: "a certificate file that cannot be read",
    inputs: { flags: { "tls-cert": "{dir}/missing-cert.pem", "tls-key": "{file}" }, file: "" },
    message: /^Cannot read tls\.cert file \S+\/missing-cert\.pem: .+$/,
    usage: false,
  },
  {
    name: "a key file that cannot be read",
    inputs: { env: { POSTINO_TLS_CERT: "{file}", POSTINO_TLS_KEY: "{dir}/nope.pem" }, file: "" },
    message: /^Cannot read tls\.key file \S+\/nope\.pem: .+$/,
    usage: false,
  },
  {
    name: "a certificate flag without a key",
    inputs: { flags: { "tls-cert": "{file}" }, file: "" },
    message: "Missing tls.key (--tls-key): a certificate needs both cert and key",
    usage: true,
  },
  {
    name: "a key variable without a certificate",
    inputs: { env: { POSTINO_TLS_KEY: "{file}" }, file: "" },
    message: "Missing tls.cert (--tls-cert): a certificate needs both cert and key",
    usage: false,
  },
  {
    name: "a certificate in the file without a key",
    inputs: { file: `[tls]\ncert = "{file}"` },
    message: "Missing tls.key (--tls-key): a certificate needs both cert and key",
    usage: false,
  },
  {
    name: "a postmaster flag without a domain",
    inputs: { flags: { postmaster: "postmaster" } },
    message: `Invalid value for --postmaster: "postmaster" (expected an address local@domain)`,
    usage: true,
  },
  {
    name: "a postmaster variable without a domain",
    inputs: { env: { POSTINO_POSTMASTER: "root" } },
    message: `Invalid value for POSTINO_POSTMASTER: "root" (expected an address local@domain)`,
    usage: false,
  },
  {
    name: "a size with an unknown unit",
    inputs: { flags: { "max-message-size": "25X" } },
    message:
      `Invalid value for --max-message-size: "25X" (expected a size such as 25M or 26214400)`,
    usage: true,
  },
  {
    name: "a size of zero",
    inputs: { flags: { "max-message-size": "0" } },
    message: `Invalid value for --max-message-size: "0" (expected a size such as 25M or 26214400)`,
    usage: true,
  },
  {
    name: "a fractional size",
    inputs: { env: { POSTINO_MAX_MESSAGE_SIZE: "1.5M" } },
    message:
      `Invalid value for POSTINO_MAX_MESSAGE_SIZE: "1.5M" (expected a size such as 25M or 26214400)`,
    usage: false,
  },
  {
    name: "a negative size in the file",
    inputs: { file: "max_message_size = -1" },
    message: `Invalid value for max_message_size in {file}: -1 (expected bytes)`,
    usage: false,
  },
  {
    name: "an unknown log level flag",
    inputs: { flags: { "log-level": "verbose" } },
    message: `Invalid value for --log-level: "verbose" (expected debug|info|warning|error)`,
    usage: true,
  },
  {
    name: "an unknown log level variable",
    inputs: { env: { POSTINO_LOG_LEVEL: "trace" } },
    message: `Invalid value for POSTINO_LOG_LEVEL: "trace" (expected debug|info|warning|error)`,
    usage: false,
  },
  {
    name: "an unknown log level for a category",
    inputs: { file: `[log.categories]\nsmtp = "loud"` },
    message:
      `Invalid value for log.categories in {file}: "loud" (expected debug|info|warning|error)`,
    usage: false,
  },
  {
    name: "an unknown log format",
    inputs: { flags: { "log-format": "xml" } },
    message: `Invalid value for --log-format: "xml" (expected text|json)`,
    usage: true,
  },
  {
    name: "a bad host name",
    inputs: { flags: { hostname: "bad host" } },
    message: `Invalid value for --hostname: "bad host" (expected a fully qualified host name)`,
    usage: true,
  },
  {
    name: "a bad domain among good ones",
    inputs: { flags: { domain: ["ok.example", "bad_domain"] } },
    message: `Invalid value for --domain: ["ok.example","bad_domain"] (expected domain names)`,
    usage: true,
  },
  {
    name: "a bad boolean variable",
    inputs: { env: { POSTINO_DEV: "maybe" } },
    message: `Invalid value for POSTINO_DEV: "maybe" (expected true or false)`,
    usage: false,
  },
  {
    name: "a relay without a port",
    inputs: { flags: { relay: "smarthost.example" } },
    message: `Invalid value for --relay: "smarthost.example" (expected HOST:PORT)`,
    usage: true,
  },
  {
    name: "a negative send limit in the file",
    inputs: { file: "[limits]\nsend_per_hour = -1" },
    message:
      `Invalid value for limits.send_per_hour in {file}: -1 (expected a whole number, 0 for no limit)`,
    usage: false,
  },
  {
    name: "a fractional send limit in the file",
    inputs: { file: "[limits]\nsend_per_hour = 2.5" },
    message:
      `Invalid value for limits.send_per_hour in {file}: 2.5 (expected a whole number, 0 for no limit)`,
    usage: false,
  },
  {
    name: "a recipients limit that is not a number in a variable",
    inputs: { env: { POSTINO_RECIPIENTS_PER_HOUR: "lots" } },
    message:
      `Invalid value for POSTINO_RECIPIENTS_PER_HOUR: "lots" (expected a whole number, 0 for no limit)`,
    usage: false,
  },
  {
    name: "backup.every without backup.dir",
    inputs: { env: { POSTINO_BACKUP_EVERY: "1h" } },
    message: "backup.every needs backup.dir (POSTINO_BACKUP_DIR): where the backups go",
    usage: false,
  },
  {
    name: "backup.keep without backup.dir in the file",
    inputs: { file: `[backup]\nkeep = 3` },
    message: "backup.keep needs backup.dir (POSTINO_BACKUP_DIR): where the backups go",
    usage: false,
  },
  {
    name: "a backup interval that is not a duration",
    inputs: { env: { POSTINO_BACKUP_DIR: "/b", POSTINO_BACKUP_EVERY: "daily" } },
    message:
      `Invalid value for POSTINO_BACKUP_EVERY: "daily" (expected a duration such as 300s, 5m, 1h or 5d)`,
    usage: false,
  },
  {
    name: "keeping no backup",
    inputs: { file: `[backup]\ndir = "/b"\nkeep = 0` },
    message: `Invalid value for backup.keep in {file}: 0 (expected a whole number of at least 1)`,
    usage: false,
  },
  {
    name: "a DNS server that is not HOST:PORT in the file",
    inputs: { file: `dns = "127.0.0.1"` },
    message: `Invalid value for dns in {file}: "127.0.0.1" (expected HOST:PORT)`,
    usage: false,
  },
];

for (const c of errorCases) {
  Deno.test(`loadConfig() rejects ${c.name}`, async () => {
    await withTempDir((dir) => {
      assert.throws(() => load(dir, c.inputs), (err: unknown) => {
        assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
        assert.equal(err.name, "ConfigError");
        assert.doesNotMatch(err.message, /\n/, "one line");
        if (typeof c.message === "string") assert.equal(err.message, fill(c.message, dir));
        else assert.match(err.message, c.message);
        assert.equal(err.usage, c.usage, "usage");
        return true;
      });
    });
  });
}

// ---------------------------------------------------------------------------
// parseHostPort() and formatHostPort()

const hostPorts: [input: string, want: ReturnType<typeof parseHostPort>][] = [
  ["127.0.0.1:25", { host: "127.0.0.1", port: 25 }],
  ["[::1]:25", { host: "::1", port: 25 }],
  [":25", { host: "", port: 25 }],
  ["mail.example.com:0", { host: "mail.example.com", port: 0 }],
  [" 127.0.0.1:65535 ", { host: "127.0.0.1", port: 65535 }],
  ["127.0.0.1:65536", undefined],
  ["127.0.0.1", undefined],
  ["::1:25", undefined],
  ["[::1]", undefined],
  ["127.0.0.1:-1", undefined],
  ["127.0.0.1:123456", undefined],
  ["a b:25", undefined],
  ["", undefined],
];

for (const [input, want] of hostPorts) {
  Deno.test(`parseHostPort() reads ${JSON.stringify(input)}`, () => {
    assert.deepEqual(parseHostPort(input), want);
  });
}

Deno.test("formatHostPort() brackets IPv6 hosts only", () => {
  assert.equal(formatHostPort({ host: "::1", port: 25 }), "[::1]:25");
  assert.equal(formatHostPort({ host: "127.0.0.1", port: 2525 }), "127.0.0.1:2525");
  assert.equal(formatHostPort({ host: "", port: 25 }), ":25");
});
