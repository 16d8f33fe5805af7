/**
 * Submission (STARTTLS, RFC 6409) and submissions (implicit TLS, RFC 8314)
 * end to end: the real `postino serve`, real clients (Python smtplib, swaks,
 * curl), AUTH PLAIN and LOGIN, sender ownership, and relay into the queue.
 */
import assert from "node:assert/strict";
import { openStore, type Store, storePath } from "../src/store/db.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

const CLIENT_PY = new URL("./support/smtp_client.py", import.meta.url).pathname;
/** The real interpreter behind `python3` (a version manager's shim costs a third of a second). */
let python: Promise<string> | undefined;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const ALICE = { user: "alice@localhost", password: "alice-secret" };

/** Starts postino with submission, submissions and MX listeners, two users and an alias. */
async function startServer(): Promise<RunningPostino> {
  const server = await startPostino({
    args: [
      "--dev",
      "--hostname",
      "mx.test",
      "--smtp",
      "127.0.0.1:0",
      "--submission",
      "127.0.0.1:0",
      "--submissions",
      "127.0.0.1:0",
    ],
  });
  try {
    const results = await Promise.all([
      server.cli(["user", "add", "alice@localhost", "--password-stdin"], "alice-secret\n"),
      server.cli(["user", "add", "bob@localhost", "--password-stdin"], "bob-secret\n"),
      server.cli(["alias", "add", "sales@localhost", "alice@localhost"]),
    ]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    return server;
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
}

/** Runs a command with a deadline; gives its exit code and output. */
async function run(cmd: string, args: string[], stdin?: string, timeoutMs = 30_000) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(encoder.encode(stdin));
    await w.close();
  }
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const out = await child.output();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

interface SmtplibResult {
  ok: boolean;
  refused?: Record<string, [number, string]>;
  error?: { type: string; code?: number; message?: string };
  ehlo?: string[];
  tls?: [string, string];
}

/** Sends through Python's smtplib (tests/support/smtp_client.py). */
async function smtplib(job: Record<string, unknown>): Promise<SmtplibResult> {
  const { message, ...rest } = job;
  const full = {
    host: "127.0.0.1",
    ...rest,
    ...(message === undefined ? {} : { message_b64: btoa(message as string) }),
  };
  python ??= run("python3", ["-c", "import sys; print(sys.executable)"]).then((r) =>
    r.stdout.trim() || "python3"
  );
  const r = await run(await python, [CLIENT_PY], JSON.stringify(full));
  assert.equal(r.code, 0, `smtp_client.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Opens the server's store next to it (a second SQLite connection), runs `fn`, closes. */
function withStore<T>(server: RunningPostino, fn: (store: Store) => T): T {
  const store = openStore(storePath(server.dataDir));
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/** The bodies in the INBOX of `address`, oldest first, as text. */
function inbox(server: RunningPostino, address: string): string[] {
  return withStore(server, (store) =>
    store.all<{ body: Uint8Array }>(
      `SELECT m.body FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
       JOIN users u ON u.id = b.user_id JOIN messages m ON m.id = e.message_id
       WHERE u.address = ? AND b.name = 'INBOX' ORDER BY e.uid`,
      address,
    ).map((r) => decoder.decode(r.body)));
}

function count(server: RunningPostino, table: string): number {
  return withStore(server, (s) => s.get<{ n: number }>(`SELECT count(*) n FROM ${table}`)!.n);
}

/** Queue entries of a recipient, with the envelope sender and the queued body. */
function queued(server: RunningPostino, recipient: string) {
  return withStore(server, (s) =>
    s.all<{ sender: string; body: Uint8Array; status: string }>(
      `SELECT q.sender, m.body, r.status FROM queue_recipients r
       JOIN queue q ON q.id = r.queue_id JOIN messages m ON m.id = q.message_id
       WHERE r.recipient = ?`,
      recipient,
    ).map((r) => ({ ...r, body: decoder.decode(r.body) })));
}

const MESSAGE = "From: alice@localhost\r\nSubject: submitted\r\n\r\nHello.\r\n";

Deno.test("submission listeners require TLS and AUTH and accept real clients", async (t) => {
  await using server = await startServer();
  const submission = server.addresses.submission.port;
  const submissions = server.addresses.submissions.port;
  const mx = server.addresses.smtp.port;

  await t.step(
    "submission offers no AUTH before STARTTLS and refuses MAIL without it",
    async () => {
      const login = await smtplib({ port: submission, security: "plain", ...ALICE });
      assert.ok(login.ehlo?.includes("starttls"));
      assert.ok(!login.ehlo?.includes("auth"), `AUTH offered in plaintext: ${login.ehlo}`);
      assert.equal(login.error?.type, "SMTPNotSupportedError");
      const forced = await smtplib({
        port: submission,
        security: "plain",
        ...ALICE,
        mechanism: "PLAIN",
      });
      assert.equal(forced.error?.code, 538, JSON.stringify(forced.error));
      const mail = await smtplib({
        port: submission,
        security: "plain",
        sender: "alice@localhost",
        recipients: ["bob@localhost"],
        message: MESSAGE,
      });
      assert.equal(mail.error?.type, "SMTPSenderRefused");
      assert.equal(mail.error?.code, 530);
      assert.match(mail.error?.message ?? "", /^5\.7\.0 /);
    },
  );

  await t.step("submission after STARTTLS still wants AUTH before MAIL", async () => {
    const r = await smtplib({
      port: submission,
      security: "starttls",
      sender: "alice@localhost",
      recipients: ["bob@localhost"],
      message: MESSAGE,
    });
    assert.ok(r.ehlo?.includes("auth"), `${r.ehlo}`);
    assert.ok(!r.ehlo?.includes("starttls"));
    assert.equal(r.error?.code, 530);
  });

  await t.step("submissions (implicit TLS) wants AUTH before MAIL", async () => {
    const r = await smtplib({
      port: submissions,
      security: "ssl",
      sender: "alice@localhost",
      recipients: ["bob@localhost"],
      message: MESSAGE,
    });
    assert.ok(r.tls, "TLS from the first byte");
    assert.equal(r.error?.code, 530);
  });

  for (const mechanism of ["PLAIN", "LOGIN"]) {
    await t.step(`smtplib AUTH ${mechanism} over STARTTLS delivers locally`, async () => {
      const before = inbox(server, "bob@localhost").length;
      const r = await smtplib({
        port: submission,
        security: "starttls",
        ...ALICE,
        mechanism,
        sender: "alice@localhost",
        recipients: ["bob@localhost"],
        message: MESSAGE,
      });
      assert.equal(r.ok, true, JSON.stringify(r.error));
      const box = inbox(server, "bob@localhost");
      assert.equal(box.length, before + 1);
      const [version, cipher] = r.tls!;
      assert.match(box.at(-1)!, /^Return-Path: <alice@localhost>\r\n/);
      assert.ok(box.at(-1)!.includes(`with ESMTPSA id `), box.at(-1));
      assert.ok(box.at(-1)!.includes(`(using ${version} with cipher ${cipher})`), box.at(-1));
      assert.ok(box.at(-1)!.endsWith(`\r\n${MESSAGE}`));
    });

    await t.step(`smtplib AUTH ${mechanism} over implicit TLS delivers locally`, async () => {
      const before = inbox(server, "bob@localhost").length;
      const r = await smtplib({
        port: submissions,
        security: "ssl",
        ...ALICE,
        mechanism,
        sender: "alice@localhost",
        recipients: ["bob@localhost"],
        message: MESSAGE,
      });
      assert.equal(r.ok, true, JSON.stringify(r.error));
      assert.equal(inbox(server, "bob@localhost").length, before + 1);
      assert.match(inbox(server, "bob@localhost").at(-1)!, /with ESMTPSA id \w+\r\n\t\(using TLS/);
    });
  }

  await t.step("swaks AUTH LOGIN over STARTTLS and AUTH PLAIN over implicit TLS", async () => {
    const before = inbox(server, "bob@localhost").length;
    const common = ["--from", "alice@localhost", "--to", "bob@localhost", "--body", "via swaks"];
    const login = await run("swaks", [
      "--server",
      `127.0.0.1:${submission}`,
      "--tls",
      "--auth",
      "LOGIN",
      "--auth-user",
      ALICE.user,
      "--auth-password",
      ALICE.password,
      ...common,
    ]);
    assert.equal(login.code, 0, login.stdout);
    assert.match(login.stdout, /<~ +235 2\.7\.0 /);
    const plain = await run("swaks", [
      "--server",
      `127.0.0.1:${submissions}`,
      "--tls-on-connect",
      "--auth",
      "PLAIN",
      "--auth-user",
      ALICE.user,
      "--auth-password",
      ALICE.password,
      ...common,
    ]);
    assert.equal(plain.code, 0, plain.stdout);
    assert.equal(inbox(server, "bob@localhost").length, before + 2);
  });

  await t.step("curl smtps:// and smtp:// --ssl-reqd with --user send", async () => {
    const before = inbox(server, "bob@localhost").length;
    const file = await Deno.makeTempFile({ prefix: "postino-submission-curl-" });
    try {
      await Deno.writeTextFile(file, MESSAGE);
      for (const url of [`smtps://127.0.0.1:${submissions}`, `smtp://127.0.0.1:${submission}`]) {
        const r = await run("curl", [
          "--silent",
          "--show-error",
          "--max-time",
          "20",
          "--ssl-reqd",
          "-k",
          url,
          "--user",
          `${ALICE.user}:${ALICE.password}`,
          "--mail-from",
          "alice@localhost",
          "--mail-rcpt",
          "bob@localhost",
          "--upload-file",
          file,
        ]);
        assert.equal(r.code, 0, `${url}: ${r.stderr}`);
      }
    } finally {
      await Deno.remove(file);
    }
    assert.equal(inbox(server, "bob@localhost").length, before + 2);
  });

  await t.step("a wrong password gets 535 with every client", async () => {
    const before = count(server, "messages");
    for (const mechanism of ["PLAIN", "LOGIN"]) {
      const r = await smtplib({
        port: submissions,
        security: "ssl",
        user: ALICE.user,
        password: "wrong",
        mechanism,
        sender: "alice@localhost",
        recipients: ["bob@localhost"],
        message: MESSAGE,
      });
      assert.equal(r.error?.type, "SMTPAuthenticationError", JSON.stringify(r.error));
      assert.equal(r.error?.code, 535);
      assert.match(r.error?.message ?? "", /^5\.7\.8 /);
    }
    const swaks = await run("swaks", [
      "--server",
      `127.0.0.1:${submission}`,
      "--tls",
      "--auth",
      "PLAIN",
      "--auth-user",
      "nobody@localhost",
      "--auth-password",
      "x",
      "--from",
      "nobody@localhost",
      "--to",
      "bob@localhost",
    ]);
    assert.notEqual(swaks.code, 0);
    assert.match(swaks.stdout, /<~\* +535 5\.7\.8 /);
    assert.equal(count(server, "messages"), before);
    // Failed logins are logged (stderr is read in the background, so wait for the third).
    await server.waitForLog(() =>
      server.entries().filter((e) => /failed login/.test(e.message)).length >= 3
    );
  });

  await t.step("sending as another user's address gets 553", async () => {
    for (const sender of ["bob@localhost", "bob+x@localhost", "ceo@remote.example"]) {
      const r = await smtplib({
        port: submissions,
        security: "ssl",
        ...ALICE,
        sender,
        recipients: ["bob@localhost"],
        message: MESSAGE,
      });
      assert.equal(r.error?.type, "SMTPSenderRefused", `${sender}: ${JSON.stringify(r)}`);
      assert.equal(r.error?.code, 553);
      assert.match(r.error?.message ?? "", /^5\.7\.1 /);
    }
    for (const sender of ["sales@localhost", "alice+tag@localhost"]) {
      const r = await smtplib({
        port: submissions,
        security: "ssl",
        ...ALICE,
        sender,
        recipients: ["bob@localhost"],
        message: MESSAGE,
      });
      assert.equal(r.ok, true, `${sender}: ${JSON.stringify(r.error)}`);
    }
  });

  await t.step(
    "relay to a remote domain after AUTH lands in the queue, not a mailbox",
    async () => {
      const entries = count(server, "mailbox_entries");
      const r = await smtplib({
        port: submission,
        security: "starttls",
        ...ALICE,
        sender: "alice@localhost",
        recipients: ["friend@remote.example"],
        message: MESSAGE,
      });
      assert.equal(r.ok, true, JSON.stringify(r.error));
      assert.equal(count(server, "mailbox_entries"), entries);
      const [q] = queued(server, "friend@remote.example");
      assert.equal(q.sender, "alice@localhost");
      assert.equal(q.status, "pending");
      assert.match(q.body, /^Received: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test/);
      assert.doesNotMatch(q.body, /Return-Path:/, "Return-Path is for final delivery only");
      assert.ok(q.body.endsWith(`\r\n${MESSAGE}`));
    },
  );

  await t.step("a local and a remote recipient: one stored copy, one queued copy", async () => {
    const messages = count(server, "messages");
    const entries = count(server, "mailbox_entries");
    const queue = count(server, "queue");
    const before = inbox(server, "bob@localhost").length;
    const r = await smtplib({
      port: submissions,
      security: "ssl",
      ...ALICE,
      sender: "alice@localhost",
      recipients: ["bob@localhost", "pal@elsewhere.example"],
      message: MESSAGE,
    });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.equal(count(server, "mailbox_entries"), entries + 1);
    assert.equal(inbox(server, "bob@localhost").length, before + 1);
    assert.equal(count(server, "queue"), queue + 1);
    assert.equal(count(server, "messages"), messages + 2, "the local copy and the queued copy");
    const [q] = queued(server, "pal@elsewhere.example");
    assert.equal(q.sender, "alice@localhost");
    assert.match(inbox(server, "bob@localhost").at(-1)!, /^Return-Path: <alice@localhost>\r\n/);
  });

  await t.step("MX does not offer AUTH before TLS and does not relay", async () => {
    const r = await smtplib({
      port: mx,
      security: "plain",
      sender: "alice@localhost",
      recipients: ["friend@remote.example"],
      message: MESSAGE,
    });
    assert.ok(!r.ehlo?.includes("auth"));
    assert.equal(
      (r.error as { recipients?: Record<string, [number]> })?.recipients?.[
        "friend@remote.example"
      ]?.[0],
      554,
    );
  });

  await t.step("the server stops with exit status 0 and logged no errors", async () => {
    const { code } = await server.stop();
    assert.equal(code, 0);
    const errors = server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
    assert.deepEqual(errors.map((e) => e.message), []);
  });
});
