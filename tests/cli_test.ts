/**
 * Black-box tests of the `postino` command line: the real main.ts in a child
 * process, a temp data directory, and the exit status and output a user sees.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { verifyPassword } from "../src/auth/password.ts";
import { findUser } from "../src/store/accounts.ts";
import { openStore, storePath } from "../src/store/db.ts";
import { VERSION } from "../src/version.ts";
import { EC_KEY, openssl } from "./support/openssl.ts";
import { type CliResult, runCli, startPostino } from "./support/server.ts";

/** Runs `fn` with a fresh temp dir that is removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-cli-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The non-empty lines of `text`. */
function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

/** Asserts the exit status and exactly one clear error line on stderr, without a stack trace. */
function assertFails(result: CliResult, code: number, line: string | RegExp): void {
  const errors = lines(result.stderr);
  assert.equal(result.code, code, `exit status; stderr: ${result.stderr}`);
  assert.equal(errors.length, 1, `exactly one line on stderr: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
  assert.doesNotMatch(result.stderr, /Unexpected error/);
  if (typeof line === "string") assert.equal(errors[0], line);
  else assert.match(errors[0], line);
  assert.equal(result.stdout, "", "nothing on stdout");
}

/** Asserts success with nothing on stderr; gives stdout. */
function assertOk(result: CliResult): string {
  assert.equal(result.code, 0, `exit status; stderr: ${result.stderr}`);
  assert.equal(result.stderr, "");
  return result.stdout;
}

/** The stored password hash of `address` in the data dir, read through the store API. */
function storedHash(dataDir: string, address: string): string | undefined {
  const store = openStore(storePath(dataDir));
  try {
    return findUser(store, address)?.passwordHash;
  } finally {
    store.close();
  }
}

// ---------------------------------------------------------------------------
// Usage errors: exit 2

const usageErrors: [name: string, args: string[], line: string, withData?: boolean][] = [
  ["no command", [], "postino: Missing command (see 'postino --help')"],
  [
    "an unknown command",
    ["frobnicate"],
    "postino: Unknown command 'frobnicate' (see 'postino --help')",
  ],
  [
    "an unknown flag",
    ["user", "list", "--bogus"],
    "postino: Unknown option --bogus (see 'postino user list --help')",
    true,
  ],
  [
    "a missing argument",
    ["user", "add"],
    "postino: Missing argument (see 'postino user add --help')",
    true,
  ],
  [
    "an extra argument",
    ["user", "del", "a@example.com", "b@example.com"],
    "postino: Unexpected argument 'b@example.com' (see 'postino user del --help')",
    true,
  ],
  [
    "a missing user command",
    ["user"],
    "postino: Missing user command (see 'postino user --help')",
  ],
  [
    "an unknown domain command",
    ["domain", "rename", "a.example"],
    "postino: Unknown domain command 'rename' (see 'postino domain --help')",
    true,
  ],
  [
    "an alias without its target",
    ["alias", "add", "info@example.com"],
    "postino: Missing argument (see 'postino alias add --help')",
    true,
  ],
  [
    "--password-stdin on user list",
    ["user", "list", "--password-stdin"],
    "postino: Option --password-stdin is for add and passwd only",
    true,
  ],
  [
    "serve --smtp nonsense",
    ["serve", "--smtp", "nonsense"],
    `postino: Invalid value for --smtp: "nonsense" (expected ADDR:PORT or off) ` +
    `(see 'postino serve --help')`,
    true,
  ],
  [
    "serve --smtp without a value",
    ["serve", "--smtp"],
    "postino: Option --smtp needs a value (see 'postino serve --help')",
    true,
  ],
  [
    "serve --dev with a value",
    ["serve", "--dev=yes"],
    "postino: Option --dev takes no value (see 'postino serve --help')",
    true,
  ],
  [
    "serve with an argument",
    ["serve", "now"],
    "postino: Unexpected argument 'now' (see 'postino serve --help')",
    true,
  ],
  [
    "serve with a bad log level",
    ["serve", "--log-level", "loud"],
    `postino: Invalid value for --log-level: "loud" (expected debug|info|warning|error) ` +
    `(see 'postino serve --help')`,
    true,
  ],
  [
    "version with an unknown flag",
    ["version", "--bogus"],
    "postino: Unknown option --bogus (see 'postino version --help')",
  ],
  [
    "version with an argument",
    ["version", "now"],
    "postino: Unexpected argument 'now' (see 'postino version --help')",
  ],
  [
    "--version with an argument",
    ["--version", "now"],
    "postino: Unexpected argument 'now' (see 'postino version --help')",
  ],
  [
    "help for an unknown command",
    ["help", "frobnicate"],
    "postino: Unknown command 'frobnicate' (see 'postino --help')",
  ],
  [
    "help with two commands",
    ["help", "user", "domain"],
    "postino: Unexpected argument 'domain' (see 'postino --help')",
  ],
  [
    "queue del --json",
    ["queue", "del", "1", "--json"],
    "postino: Option --json is for list only",
    true,
  ],
];

for (const [name, args, line, withData] of usageErrors) {
  Deno.test(`postino exits 2 with one line for ${name}`, async () => {
    await withTempDir(async (dir) => {
      const result = await runCli(args, { dataDir: withData ? dir : undefined, cwd: dir });
      assertFails(result, 2, line);
    });
  });
}

// ---------------------------------------------------------------------------
// Failures: exit 1

Deno.test("postino user add exits 1 for a user in an unknown domain", async () => {
  await withTempDir(async (dir) => {
    const result = await runCli(["user", "add", "alice@nowhere.example", "--password-stdin"], {
      dataDir: dir,
      stdin: "secret\n",
    });
    assertFails(
      result,
      1,
      "postino: Domain nowhere.example is not a local domain; add it first with: " +
        "postino domain add nowhere.example",
    );
  });
});

const badUserAdds: [name: string, address: string, stdin: string | undefined, line: string][] = [
  ["an empty password on stdin", "alice@example.com", "\n", "postino: The password is empty"],
  ["no password at all on stdin", "alice@example.com", "", "postino: The password is empty"],
  [
    "a password with a line break inside",
    "alice@example.com",
    "one\ntwo\n",
    "postino: The password contains a NUL or line break",
  ],
  [
    "no terminal and no --password-stdin",
    "alice@example.com",
    undefined,
    "postino: No terminal to ask for a password; pass it with --password-stdin",
  ],
  [
    "an address without a domain",
    "alice",
    "secret\n",
    `postino: Invalid address (expected local@domain): "alice"`,
  ],
  [
    "an address with a bad local part",
    "a..b@example.com",
    "secret\n",
    `postino: Invalid local part in address: "a..b@example.com"`,
  ],
  [
    "an address with a bad domain",
    "alice@exa_mple.com",
    "secret\n",
    `postino: Invalid domain name: "exa_mple.com"`,
  ],
];

for (const [name, address, stdin, line] of badUserAdds) {
  Deno.test(`postino user add exits 1 for ${name}`, async () => {
    await withTempDir(async (dir) => {
      assertOk(await runCli(["domain", "add", "example.com"], { dataDir: dir }));
      const args = ["user", "add", address, ...(stdin === undefined ? [] : ["--password-stdin"])];
      assertFails(await runCli(args, { dataDir: dir, stdin }), 1, line);
      assert.equal(storedHash(dir, "alice@example.com"), undefined);
    });
  });
}

Deno.test("postino user add exits 1 cleanly the second time", async () => {
  await withTempDir(async (dir) => {
    assertOk(await runCli(["domain", "add", "example.com"], { dataDir: dir }));
    const add = ["user", "add", "alice@example.com", "--password-stdin"];
    assertOk(await runCli(add, { dataDir: dir, stdin: "first secret\n" }));
    const first = storedHash(dir, "alice@example.com");
    assertFails(
      await runCli(add, { dataDir: dir, stdin: "second secret\n" }),
      1,
      "postino: User alice@example.com already exists",
    );
    assert.equal(storedHash(dir, "alice@example.com"), first);
  });
});

const otherFailures: [name: string, args: string[], line: string][] = [
  [
    "user passwd for an unknown user",
    ["user", "passwd", "bob@example.com", "--password-stdin"],
    "postino: User bob@example.com does not exist",
  ],
  [
    "user del for an unknown user",
    ["user", "del", "bob@example.com"],
    "postino: User bob@example.com does not exist",
  ],
  [
    "domain add for a domain we have",
    ["domain", "add", "example.com"],
    "postino: Domain example.com already exists",
  ],
  [
    "domain add for a bad name",
    ["domain", "add", "bad_domain"],
    `postino: Invalid domain name: "bad_domain"`,
  ],
  [
    "domain del for an unknown domain",
    ["domain", "del", "nowhere.example"],
    "postino: Domain nowhere.example does not exist",
  ],
  [
    "alias del for an unknown alias",
    ["alias", "del", "info@example.com"],
    "postino: Alias info@example.com does not exist",
  ],
  [
    "alias add in an unknown domain",
    ["alias", "add", "info@nowhere.example", "alice@example.com"],
    "postino: Domain nowhere.example is not a local domain; add it first with: " +
    "postino domain add nowhere.example",
  ],
];

for (const [name, args, line] of otherFailures) {
  Deno.test(`postino exits 1 with one line for ${name}`, async () => {
    await withTempDir(async (dir) => {
      assertOk(await runCli(["domain", "add", "example.com"], { dataDir: dir }));
      assertFails(await runCli(args, { dataDir: dir, stdin: "secret\n" }), 1, line);
    });
  });
}

// ---------------------------------------------------------------------------
// Managing domains, users and aliases

Deno.test("postino domain, user and alias commands list what was added", async () => {
  await withTempDir(async (dir) => {
    const outputs: string[] = [];
    const run = async (args: string[], stdin?: string) => {
      const result = await runCli(args, { dataDir: dir, stdin });
      outputs.push(result.stdout, result.stderr);
      return assertOk(result);
    };
    assert.equal(await run(["domain", "add", "Example.COM"]), "Added domain example.com\n");
    assert.equal(
      await run(["domain", "add", "bücher.example"]),
      "Added domain xn--bcher-kva.example\n",
    );
    assert.equal(
      await run(["user", "add", "Alice@Example.COM", "--password-stdin"], "a long secret\n"),
      "Added user alice@example.com\n",
    );
    assert.equal(
      await run(["user", "add", "bob@bücher.example", "--password-stdin"], "another secret"),
      "Added user bob@xn--bcher-kva.example\n",
    );
    assert.equal(
      await run(["alias", "add", "info@example.com", "alice@example.com"]),
      "Added alias info@example.com -> alice@example.com\n",
    );
    assert.equal(
      await run(["alias", "add", "info@example.com", "bob@xn--bcher-kva.example"]),
      "Added alias info@example.com -> bob@xn--bcher-kva.example\n",
    );
    assert.equal(
      await run(["user", "list"]),
      // The first user ever added is an admin.
      "alice@example.com\t0 messages\t0 bytes\tadmin\nbob@xn--bcher-kva.example\t0 messages\t0 bytes\n",
    );
    assert.equal(
      await run(["domain", "list"]),
      "example.com\t1 users\t1 aliases\nxn--bcher-kva.example\t1 users\t0 aliases\n",
    );
    assert.equal(
      await run(["alias", "list"]),
      "info@example.com\talice@example.com\ninfo@example.com\tbob@xn--bcher-kva.example\n",
    );
    assert.equal(
      await run(["alias", "del", "info@example.com"]),
      "Deleted alias info@example.com\n",
    );
    assert.equal(await run(["alias", "list"]), "");

    // The hashes are in the store, but never in anything printed.
    assert.match(storedHash(dir, "alice@example.com") ?? "", /^\$scrypt\$/);
    for (const output of outputs) assert.ok(!output.includes("$scrypt$"), output);
  });
});

Deno.test("postino user admin and --admin decide who administers; the first user is one", async () => {
  await withTempDir(async (dir) => {
    const run = (args: string[], stdin?: string) => runCli(args, { dataDir: dir, stdin });
    const admins = async () =>
      lines(assertOk(await run(["user", "list"])))
        .filter((l) => l.endsWith("\tadmin"))
        .map((l) => l.split("\t")[0]);
    assertOk(await run(["domain", "add", "example.com"]));
    assertOk(await run(["user", "add", "a@example.com", "--password-stdin"], "pw\n"));
    assertOk(await run(["user", "add", "b@example.com", "--password-stdin"], "pw\n"));
    assertOk(await run(["user", "add", "c@example.com", "--password-stdin", "--admin"], "pw\n"));
    assert.deepEqual(await admins(), ["a@example.com", "c@example.com"]);
    assert.equal(
      assertOk(await run(["user", "admin", "b@example.com", "on"])),
      "b@example.com is now an admin\n",
    );
    assertOk(await run(["user", "admin", "a@example.com", "off"]));
    assert.deepEqual(await admins(), ["b@example.com", "c@example.com"]);
    // Deleting every user does not make the next one an admin: only the first ever is.
    for (const u of ["a", "b", "c"]) assertOk(await run(["user", "del", `${u}@example.com`]));
    assertOk(await run(["user", "add", "d@example.com", "--password-stdin"], "pw\n"));
    assert.deepEqual(await admins(), []);
    assertFails(
      await run(["user", "admin", "d@example.com", "maybe"]),
      2,
      "postino: Expected on or off, not 'maybe' (see 'postino user --help')",
    );
    assertFails(
      await run(["user", "admin", "nobody@example.com", "on"]),
      1,
      "postino: User nobody@example.com does not exist",
    );
    assertFails(
      await run(["user", "list", "--admin"]),
      2,
      "postino: Option --admin is for add only",
    );
  });
});

Deno.test("postino token create prints a token once; list and del manage them", async () => {
  await withTempDir(async (dir) => {
    const run = (args: string[]) => runCli(args, { dataDir: dir });
    assertOk(await run(["domain", "add", "example.com"]));
    assertOk(
      await runCli(["user", "add", "a@example.com", "--password-stdin"], {
        dataDir: dir,
        stdin: "pw\n",
      }),
    );
    const created = await run(["token", "create", "ci"]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^postino_[A-Za-z0-9_-]{43}\n$/);
    assert.match(created.stderr, /shown only this once/);
    const mine = await run(["token", "create", "mine", "--user", "A@Example.com"]);
    assert.equal(mine.code, 0, mine.stderr);
    assert.notEqual(mine.stdout, created.stdout);
    const listed = lines(assertOk(await run(["token", "list"])));
    assert.deepEqual(listed.map((l) => l.split("\t").slice(0, 2)), [
      ["ci", "admin"],
      ["mine", "a@example.com"],
    ]);
    // The secret is nowhere in the listing or the store.
    for (const secret of [created.stdout.trim(), mine.stdout.trim()]) {
      assert.ok(!listed.join("\n").includes(secret));
      const db = await Deno.readFile(join(dir, "postino.db"));
      assert.ok(!new TextDecoder("latin1").decode(db).includes(secret));
    }
    assertFails(await run(["token", "create", "ci"]), 1, "postino: Token ci already exists");
    assertFails(
      await run(["token", "create", "x", "--user", "nobody@example.com"]),
      1,
      "postino: User nobody@example.com does not exist",
    );
    assertFails(await run(["token", "create", "bad name!"]), 1, /Invalid token name/);
    assertFails(await run(["token", "list", "--user", "a@example.com"]), 2, /--user is for create/);
    assert.equal(assertOk(await run(["token", "del", "ci"])), "Deleted token ci\n");
    assertFails(await run(["token", "del", "ci"]), 1, "postino: Token ci does not exist");
    assert.deepEqual(lines(assertOk(await run(["token", "list"]))).map((l) => l.split("\t")[0]), [
      "mine",
    ]);
  });
});

Deno.test("postino user passwd changes the stored hash", async () => {
  await withTempDir(async (dir) => {
    assertOk(await runCli(["domain", "add", "example.com"], { dataDir: dir }));
    assertOk(
      await runCli(["user", "add", "alice@example.com", "--password-stdin"], {
        dataDir: dir,
        stdin: "old secret\n",
      }),
    );
    const before = storedHash(dir, "alice@example.com")!;
    const out = assertOk(
      await runCli(["user", "passwd", "ALICE@example.com", "--password-stdin"], {
        dataDir: dir,
        stdin: "new secret\n",
      }),
    );
    assert.equal(out, "Changed the password of alice@example.com\n");
    assert.ok(!out.includes("$scrypt$"));
    const after = storedHash(dir, "alice@example.com")!;
    assert.notEqual(after, before);
    assert.equal(await verifyPassword("new secret", after), true);
    assert.equal(await verifyPassword("old secret", after), false);
  });
});

Deno.test("postino user del removes the user", async () => {
  await withTempDir(async (dir) => {
    assertOk(await runCli(["domain", "add", "example.com"], { dataDir: dir }));
    assertOk(
      await runCli(["user", "add", "alice@example.com", "--password-stdin"], {
        dataDir: dir,
        stdin: "secret\n",
      }),
    );
    assert.equal(
      assertOk(await runCli(["user", "del", "alice@example.com"], { dataDir: dir })),
      "Deleted user alice@example.com and their mail\n",
    );
    assert.equal(assertOk(await runCli(["user", "list"], { dataDir: dir })), "");
    assert.equal(storedHash(dir, "alice@example.com"), undefined);
    // The domain is empty again, so it can go.
    assertOk(await runCli(["domain", "del", "example.com"], { dataDir: dir }));
  });
});

// ---------------------------------------------------------------------------
// Help and version

const helps: [args: string[], usage: RegExp][] = [
  [["--help"], /Usage: postino <command>/],
  [["help"], /Usage: postino <command>/],
  [["serve", "--help"], /Usage: postino serve \[options\]/],
  [["serve", "-h"], /--smtp ADDR:PORT/],
  [["user", "--help"], /postino user add ADDRESS/],
  [["user", "add", "--help"], /postino user add ADDRESS/],
  [["domain", "--help"], /postino domain add DOMAIN/],
  [["alias", "--help"], /postino alias add ALIAS TARGET/],
  [["help", "queue"], /postino queue list \[--json\][\s\S]*ID is the number/],
  [["version", "--help"], /Usage: postino version/],
  [["token", "--help"], /postino token create NAME \[--user ADDRESS\]/],
  [["user", "--help"], /postino user admin ADDRESS on\|off/],
];

for (const [args, usage] of helps) {
  Deno.test(`postino ${args.join(" ")} prints usage to stdout and exits 0`, async () => {
    await withTempDir(async (dir) => {
      const out = assertOk(await runCli(args, { cwd: dir }));
      assert.match(out, usage);
      assert.match(out, /Usage/);
    });
  });
}

Deno.test("postino --help names every protocol serve runs and every command", async () => {
  const out = assertOk(await runCli(["--help"]));
  assert.match(out, /serve\s+run the server \(SMTP, submission, POP3, IMAP\)/);
  for (const command of ["serve", "user", "domain", "alias", "dkim", "queue", "version"]) {
    assert.match(out, new RegExp(`^  ${command}\\s`, "m"), command);
  }
});

for (const args of [["version"], ["--version"]]) {
  Deno.test(`postino ${args[0]} prints the version`, async () => {
    await withTempDir(async (dir) => {
      assert.equal(assertOk(await runCli(args, { cwd: dir })), `postino ${VERSION}\n`);
    });
  });
}

// ---------------------------------------------------------------------------
// Where the data is

Deno.test("postino uses $POSTINO_DATA when --data is absent", async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, "from-env");
    const cwd = join(dir, "cwd");
    await Deno.mkdir(cwd);
    assertOk(
      await runCli(["domain", "add", "example.com"], { cwd, env: { POSTINO_DATA: data } }),
    );
    await Deno.stat(storePath(data));
    await assert.rejects(Deno.stat(join(cwd, "data")), Deno.errors.NotFound);
    assert.equal(
      assertOk(await runCli(["domain", "list"], { dataDir: data })),
      "example.com\t0 users\t0 aliases\n",
    );
    // --data wins over the variable.
    const other = join(dir, "from-flag");
    assert.equal(
      assertOk(
        await runCli(["domain", "list"], { dataDir: other, env: { POSTINO_DATA: data } }),
      ),
      "",
    );
  });
});

Deno.test("postino honours data = ... in the file given with --config", async () => {
  await withTempDir(async (dir) => {
    const data = join(dir, "from-config");
    const config = join(dir, "postino.toml");
    await Deno.writeTextFile(config, `data = ${JSON.stringify(data)}\n`);
    assertOk(await runCli(["domain", "add", "example.com", "--config", config], { cwd: dir }));
    await Deno.stat(storePath(data));
    assert.equal(
      assertOk(await runCli(["domain", "list", "--config", config], { cwd: dir })),
      "example.com\t0 users\t0 aliases\n",
    );
  });
});

Deno.test("postino exits 1 with one line for a config file with an unknown key", async () => {
  await withTempDir(async (dir) => {
    const config = join(dir, "postino.toml");
    await Deno.writeTextFile(config, `[listen]\nsmpt = ":25"\n`);
    assertFails(
      await runCli(["domain", "list", "--config", config], { cwd: dir }),
      1,
      `postino: Unknown key listen.smpt in ${config}`,
    );
  });
});

// ---------------------------------------------------------------------------
// serve

const LISTENER_FLAGS = ["smtp", "submission", "submissions", "pop3", "pop3s"];

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`postino serve --dev starts every listener and stops on ${signal}`, async () => {
    await using server = await startPostino({
      args: ["--dev", ...LISTENER_FLAGS.flatMap((name) => [`--${name}`, "127.0.0.1:0"])],
    });
    const logs = server.logs().join("\n");
    assert.match(logs, /ready/);
    for (const name of LISTENER_FLAGS) {
      const address = server.addresses[name];
      if (address) {
        assert.equal(address.hostname, "127.0.0.1");
        assert.ok(address.port > 0, `${name} was given a free port`);
        const conn = await Deno.connect({ hostname: address.hostname, port: address.port });
        conn.close();
      } else {
        // A protocol this build does not have yet is skipped with a warning.
        const warned = server.entries().some((e) =>
          e.level === "WARN" && e.properties.listener === name &&
          e.message.includes("not available")
        );
        assert.ok(warned, `${name} neither listening nor warned about:\n${logs}`);
      }
    }
    // The dev certificate was made in the data dir, and the domain localhost recorded.
    await Deno.stat(join(server.dataDir, "dev-cert.pem"));
    // Management commands work while the server runs on the same data.
    const added = await server.cli(["user", "add", "alice@localhost", "--password-stdin"], "pw\n");
    assert.equal(assertOk(added), "Added user alice@localhost\n");

    const { code, logs: all } = await server.stop(signal);
    assert.equal(code, 0, all.join("\n"));
    const messages = all.map((l) => {
      try {
        return JSON.parse(l).message as string;
      } catch {
        return l;
      }
    });
    assert.ok(messages.includes("Stopped"), all.join("\n"));
    assert.ok(messages.some((m) => m.includes(signal)), `the ${signal} was logged`);
  });
}

Deno.test("postino serve exits 1 with one line when a port is in use", async () => {
  // Whether this build serves SMTP at all decides what can be checked.
  let smtpServed: boolean;
  {
    await using probe = await startPostino({ args: ["--smtp", "127.0.0.1:0"] });
    smtpServed = "smtp" in probe.addresses;
    if (!smtpServed) {
      assert.ok(
        probe.entries().some((e) =>
          e.level === "WARN" && e.properties.listener === "smtp" &&
          e.message.includes("not available")
        ),
        `smtp neither listening nor warned about:\n${probe.logs().join("\n")}`,
      );
    }
  }
  if (!smtpServed) return;
  await withTempDir(async (dir) => {
    const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const { port } = taken.addr as Deno.NetAddr;
      const result = await runCli(
        ["serve", "--smtp", `127.0.0.1:${port}`, "--log-level", "error"],
        { dataDir: dir, timeoutMs: 20_000 },
      );
      assertFails(
        result,
        1,
        `postino: Cannot listen for smtp on 127.0.0.1:${port}: the address is in use`,
      );
    } finally {
      taken.close();
    }
  });
});

// ---------------------------------------------------------------------------
// serve refuses certificate files it cannot use

Deno.test("postino serve exits 1 naming the file when a certificate or key is unusable", async () => {
  await withTempDir(async (dir) => {
    for (const name of ["a", "b"]) {
      await openssl(
        dir,
        "req",
        "-x509",
        ...EC_KEY,
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.crt`,
        "-days",
        "2",
        "-subj",
        `/CN=${name}.example`,
      );
    }
    await Deno.writeTextFile(join(dir, "junk.pem"), "this is not PEM\n");
    const cases: [cert: string, key: string, line: string][] = [
      ["junk.pem", "a.key", `Certificate file ${join(dir, "junk.pem")} holds no PEM certificate`],
      ["a.crt", "junk.pem", `Key file ${join(dir, "junk.pem")} holds no PEM private key`],
      [
        "a.crt",
        "b.key",
        `Certificate file ${join(dir, "a.crt")} does not belong to the key in ${
          join(dir, "b.key")
        }`,
      ],
      ["a.key", "a.crt", `Certificate file ${join(dir, "a.key")} holds no PEM certificate`],
    ];
    for (const [cert, key, line] of cases) {
      const result = await runCli([
        "serve",
        "--smtp",
        "127.0.0.1:0",
        "--tls-cert",
        join(dir, cert),
        "--tls-key",
        join(dir, key),
      ], { dataDir: join(dir, "data"), timeoutMs: 20_000 });
      assertFails(result, 1, new RegExp(`^postino: ${RegExp.escape(line)}`));
    }
    // The good pair starts, so the refusals above are about the files.
    await using server = await startPostino({
      args: [
        "--smtp",
        "127.0.0.1:0",
        "--tls-cert",
        join(dir, "a.crt"),
        "--tls-key",
        join(dir, "a.key"),
      ],
    });
    assert.ok(server.addresses.smtp);
  });
});
