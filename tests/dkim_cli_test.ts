/**
 * Black-box tests of `postino dkim`: the real main.ts in a child process, a
 * temp data directory, and what a user sees. The printed DNS record is checked
 * the way a receiver would: python3-dkim (Debian's, nobody here wrote it)
 * verifies a message signed with the stored key against the record as printed.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { defaultSelector, signMessage } from "../src/security/dkim.ts";
import { openStore, storePath } from "../src/store/db.ts";
import { activeDkimKey } from "../src/store/dkim_keys.ts";
import { type CliResult, runCli } from "./support/server.ts";

const PYTHON = "/usr/bin/python3";
const VERIFY_PY = fileURLToPath(new URL("./support/dkim_verify.py", import.meta.url));

/** Runs `fn` with a fresh data dir that has the local domain example.com; removed afterwards. */
async function withData(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-dkim-cli-test-" });
  try {
    assertOk(await runCli(["domain", "add", "example.com"], { dataDir: dir }));
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

/** A record as `dkim keygen` printed it. */
interface PrintedRecord {
  name: string;
  value: string;
  /** The quoted strings of the zone-file line, unquoted. */
  strings: string[];
}

/** Reads the record out of `dkim keygen`'s output, checking that its two forms agree. */
function parseRecord(stdout: string): PrintedRecord {
  const field = (label: string) => {
    const m = new RegExp(`^${label}: +(.+)$`, "m").exec(stdout);
    assert.ok(m, `a ${label} line in:\n${stdout}`);
    return m[1];
  };
  const name = field("Name");
  assert.equal(field("Type"), "TXT");
  const value = field("Value");
  const zone = new RegExp(`^${name.replace(/\./g, "\\.")}\\. IN TXT ((?:"[^"]*" ?)+)$`, "m")
    .exec(stdout);
  assert.ok(zone, `a zone file line for ${name} in:\n${stdout}`);
  const strings = [...zone[1].matchAll(/"([^"]*)"/g)].map((m) => m[1]);
  for (const s of strings) assert.ok(s.length <= 255, `a string of ${s.length} octets`);
  assert.equal(strings.join(""), value, "the zone file strings join to the value");
  return { name, value, strings };
}

/** Signs a message with `domain`'s active key from the store in `dir`. */
async function signWithStoredKey(dir: string, domain: string): Promise<Uint8Array> {
  const store = openStore(storePath(dir));
  let key;
  try {
    key = activeDkimKey(store, domain);
  } finally {
    store.close();
  }
  assert.ok(key, `${domain} has an active key`);
  const message = new TextEncoder().encode(
    `From: Alice <alice@${domain}>\r\nTo: bob@example.org\r\nSubject: Grüße\r\n` +
      "Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\nHallo, schöne Grüße!\r\n",
  );
  return await signMessage(message, key);
}

/** python3-dkim's verdict on `message` when the DNS holds only `record`, given as zone-file strings. */
async function dkimpy(message: Uint8Array, record: PrintedRecord): Promise<string> {
  const file = await Deno.makeTempFile({ prefix: "postino-dkim-", suffix: ".eml" });
  try {
    await Deno.writeFile(file, message);
    const { code, stdout, stderr } = await new Deno.Command(PYTHON, {
      args: [VERIFY_PY, file, record.name, record.strings.join("")],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    assert.ok(code === 0 || code === 1, `dkim_verify.py failed: ${decoder.decode(stderr)}`);
    return decoder.decode(stdout).trim();
  } finally {
    await Deno.remove(file);
  }
}

// ---------------------------------------------------------------------------
// keygen

const keygens: [
  name: string,
  args: string[],
  selector: string | undefined,
  algorithm: string,
  recordPrefix: string,
  strings: number,
][] = [
  ["an RSA key by default", [], undefined, "rsa", "v=DKIM1; k=rsa; p=MII", 2],
  [
    "an Ed25519 key with a chosen selector",
    ["--algorithm", "ed25519", "--selector", "Mail2026"],
    "mail2026",
    "ed25519",
    "v=DKIM1; k=ed25519; p=",
    1,
  ],
  [
    "an RSA key with a dotted selector",
    ["--selector", "eu.2026", "--algorithm", "RSA"],
    "eu.2026",
    "rsa",
    "v=DKIM1; k=rsa; p=MII",
    2,
  ],
];

for (const [name, args, selector, algorithm, recordPrefix, strings] of keygens) {
  Deno.test(`postino dkim keygen makes ${name} whose printed record python3-dkim accepts`, async () => {
    await withData(async (dir) => {
      const before = defaultSelector();
      const out = assertOk(
        await runCli(["dkim", "keygen", "example.com", ...args], { dataDir: dir }),
      );
      const chosen = selector ?? (out.includes(before) ? before : defaultSelector());
      assert.equal(
        lines(out)[0],
        `Created ${algorithm} DKIM key ${chosen} for example.com; publish this DNS record:`,
      );
      const record = parseRecord(out);
      assert.equal(record.name, `${chosen}._domainkey.example.com`);
      assert.ok(record.value.startsWith(recordPrefix), record.value);
      assert.equal(record.strings.length, strings);

      const signed = await signWithStoredKey(dir, "example.com");
      assert.equal(await dkimpy(signed, record), "pass");
      // The same message after a change in transit does not pass.
      const tampered = new TextEncoder().encode(
        new TextDecoder().decode(signed).replace("Hallo", "Hello"),
      );
      assert.match(await dkimpy(tampered, record), /^fail: body hash mismatch/);
    });
  });
}

Deno.test("postino dkim keygen takes an IDN and publishes under its A-label", async () => {
  await withData(async (dir) => {
    assertOk(await runCli(["domain", "add", "bücher.example"], { dataDir: dir }));
    const out = assertOk(
      await runCli([
        "dkim",
        "keygen",
        "BÜCHER.example",
        "--selector",
        "s1",
        "--algorithm",
        "ed25519",
      ], {
        dataDir: dir,
      }),
    );
    const record = parseRecord(out);
    assert.equal(record.name, "s1._domainkey.xn--bcher-kva.example");
    assert.equal(
      await dkimpy(await signWithStoredKey(dir, "xn--bcher-kva.example"), record),
      "pass",
    );
  });
});

Deno.test("postino dkim keygen exits 1 with one line for a second key of the same selector", async () => {
  await withData(async (dir) => {
    const first = assertOk(
      await runCli(["dkim", "keygen", "example.com", "--selector", "s1"], { dataDir: dir }),
    );
    assertFails(
      await runCli(
        ["dkim", "keygen", "example.com", "--selector", "s1", "--algorithm", "ed25519"],
        { dataDir: dir },
      ),
      1,
      "postino: DKIM key s1 of example.com already exists; choose another with --selector",
    );
    // The first key is still the one that signs, and still matches its record.
    assert.equal(
      await dkimpy(await signWithStoredKey(dir, "example.com"), parseRecord(first)),
      "pass",
    );
    assert.equal(lines(assertOk(await runCli(["dkim", "list"], { dataDir: dir }))).length, 1);
  });
});

const failures: [name: string, args: string[], code: number, line: string][] = [
  [
    "a domain that is not local",
    ["dkim", "keygen", "nowhere.example"],
    1,
    "postino: Domain nowhere.example is not a local domain; add it first with: " +
    "postino domain add nowhere.example",
  ],
  [
    "an invalid domain",
    ["dkim", "keygen", "bad domain"],
    1,
    'postino: Invalid domain name: "bad domain"',
  ],
  [
    "an unknown algorithm",
    ["dkim", "keygen", "example.com", "--algorithm", "dsa"],
    2,
    "postino: Unknown DKIM algorithm 'dsa'; use rsa or ed25519 (see 'postino dkim --help')",
  ],
  [
    "an invalid selector",
    ["dkim", "keygen", "example.com", "--selector", "my key"],
    2,
    "postino: Invalid selector 'my key': use letters, digits, hyphens and dots " +
    "(see 'postino dkim --help')",
  ],
  [
    "a missing domain",
    ["dkim", "keygen"],
    2,
    "postino: Missing argument (see 'postino dkim keygen --help')",
  ],
  [
    "a missing selector value",
    ["dkim", "keygen", "example.com", "--selector"],
    2,
    "postino: Option --selector needs a value (see 'postino dkim keygen --help')",
  ],
  [
    "an unknown subcommand",
    ["dkim", "rotate"],
    2,
    "postino: Unknown dkim command 'rotate' (see 'postino dkim --help')",
  ],
  [
    "keygen options given to list",
    ["dkim", "list", "--algorithm", "rsa"],
    2,
    "postino: Option --algorithm is for keygen only (see 'postino dkim --help')",
  ],
];

for (const [name, args, code, line] of failures) {
  Deno.test(`postino dkim exits ${code} with one line for ${name}`, async () => {
    await withData(async (dir) => {
      assertFails(await runCli(args, { dataDir: dir }), code, line);
      assert.equal(assertOk(await runCli(["dkim", "list"], { dataDir: dir })), "");
    });
  });
}

// ---------------------------------------------------------------------------
// list and help

Deno.test("postino dkim list shows domain, selector, algorithm, creation time and state", async () => {
  await withData(async (dir) => {
    assert.equal(assertOk(await runCli(["dkim", "list"], { dataDir: dir })), "");
    assertOk(await runCli(["domain", "add", "example.org"], { dataDir: dir }));
    const started = Date.now();
    for (
      const args of [
        ["example.org", "--selector", "b", "--algorithm", "ed25519"],
        ["example.com", "--selector", "a"],
        ["example.com", "--selector", "c", "--algorithm", "ed25519"],
      ]
    ) {
      assertOk(await runCli(["dkim", "keygen", ...args], { dataDir: dir }));
    }
    const rows = lines(assertOk(await runCli(["dkim", "list"], { dataDir: dir }))).map((l) =>
      l.split("\t")
    );
    assert.deepEqual(
      rows.map(([domain, selector, algorithm, , state]) => [
        domain,
        selector,
        algorithm,
        state,
      ]),
      [
        ["example.com", "a", "rsa", "active"],
        ["example.com", "c", "ed25519", "active"],
        ["example.org", "b", "ed25519", "active"],
      ],
    );
    for (const row of rows) {
      assert.equal(row.length, 5);
      assert.match(row[3], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const created = Date.parse(row[3]);
      assert.ok(created >= started - 1000 && created <= Date.now(), row[3]);
    }
  });
});

const helps: [args: string[], usage: RegExp][] = [
  [["dkim", "--help"], /postino dkim keygen DOMAIN \[--selector S\] \[--algorithm rsa\|ed25519\]/],
  [["dkim", "keygen", "--help"], /default 'postino' and the UTC year\s+and month/],
  [["dkim", "list", "-h"], /postino dkim list/],
  [["--help"], /^ {2}dkim {6}\S/m],
];

for (const [args, usage] of helps) {
  Deno.test(`postino ${args.join(" ")} prints usage to stdout and exits 0`, async () => {
    const out = assertOk(await runCli(args));
    assert.match(out, usage);
  });
}
