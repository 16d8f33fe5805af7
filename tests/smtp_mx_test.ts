/**
 * The MX listener end to end: the real `postino serve` on a port-0 listener,
 * real clients (Python smtplib, swaks, curl, openssl s_client), and the store
 * read back to see what was delivered.
 */
import assert from "node:assert/strict";
import { type RunningPostino, startPostino, withStore } from "./support/server.ts";

const CLIENT_PY = new URL("./support/smtp_client.py", import.meta.url).pathname;
/** The real interpreter behind `python3` (a version manager's shim costs a third of a second). */
let python: Promise<string> | undefined;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const USERS = { "alice@localhost": "alice-secret", "bob@localhost": "bob-secret" };
const ALIASES = [["team@localhost", "alice@localhost"], ["team@localhost", "bob@localhost"]];

/** Starts postino with an MX listener and the users and aliases above. */
async function startServer(): Promise<RunningPostino> {
  const server = await startPostino({
    args: ["--dev", "--hostname", "mx.test", "--smtp", "127.0.0.1:0", "--domain", "example.com"],
  });
  try {
    const results = await Promise.all([
      ...Object.entries(USERS).map(([user, pw]) =>
        server.cli(["user", "add", user, "--password-stdin"], `${pw}\n`)
      ),
      server.cli(["user", "add", "carol@example.com", "--password-stdin"], "carol-secret\n"),
      ...ALIASES.map(([alias, target]) => server.cli(["alias", "add", alias, target])),
    ]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    return server;
  } catch (err) {
    await server[Symbol.asyncDispose]();
    throw err;
  }
}

/** Runs a command with a deadline; gives its exit code and output. */
async function run(cmd: string, args: string[], stdin?: Uint8Array | string, timeoutMs = 30_000) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(typeof stdin === "string" ? encoder.encode(stdin) : stdin);
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
  error?: {
    type: string;
    code?: number;
    message?: string;
    recipients?: Record<string, [number, string]>;
  };
  ehlo?: string[];
  tls?: [string, string];
}

/** Sends through Python's smtplib (tests/support/smtp_client.py). */
async function smtplib(job: Record<string, unknown>): Promise<SmtplibResult> {
  const { message, ...rest } = job;
  const body = message === undefined
    ? undefined
    : typeof message === "string"
    ? encoder.encode(message)
    : message as Uint8Array;
  const full = {
    host: "127.0.0.1",
    ...rest,
    ...(body ? { message_b64: btoa(String.fromCharCode(...body)) } : {}),
  };
  python ??= run("python3", ["-c", "import sys; print(sys.executable)"]).then((r) =>
    r.stdout.trim() || "python3"
  );
  const r = await run(await python, [CLIENT_PY], JSON.stringify(full));
  assert.equal(r.code, 0, `smtp_client.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** The bodies in the INBOX of `address`, oldest first. */
function inbox(server: RunningPostino, address: string): Uint8Array[] {
  return withStore(server, (store) =>
    store.all<{ body: Uint8Array }>(
      `SELECT m.body FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
       JOIN users u ON u.id = b.user_id JOIN messages m ON m.id = e.message_id
       WHERE u.address = ? AND b.name = 'INBOX' ORDER BY e.uid`,
      address,
    ).map((r) => r.body));
}

function count(server: RunningPostino, table: string): number {
  return withStore(server, (s) => s.get<{ n: number }>(`SELECT count(*) n FROM ${table}`)!.n);
}

/** The newest message of `address`, after checking that exactly one arrived since `before`. */
function newest(server: RunningPostino, address: string, before: number): Uint8Array {
  const box = inbox(server, address);
  assert.equal(box.length, before + 1, `messages of ${address}`);
  return box[box.length - 1];
}

/** Splits a stored message into its trace headers and the rest as sent. */
function splitTrace(body: Uint8Array): { trace: string; rest: Uint8Array } {
  // Return-Path, then Received with its folded lines, as the server prepends them.
  const text = decoder.decode(body);
  const m = /^Return-Path: <[^>]*>\r\nReceived: (?:[^\r]*\r\n\t)*[^\r]*\r\n/.exec(text);
  assert.ok(m, `no trace headers: ${JSON.stringify(text.slice(0, 400))}`);
  const head = encoder.encode(m[0]).length;
  return { trace: m[0], rest: body.subarray(head) };
}

function bytesOf(text: string): Uint8Array {
  return encoder.encode(text);
}

Deno.test("MX listener delivers mail from real clients into local mailboxes", async (t) => {
  await using server = await startServer();
  const port = server.addresses.smtp.port;
  const mx = { port, security: "plain" };

  await t.step("smtplib delivers to a local user with Return-Path and Received", async () => {
    const message = "From: sender@remote.example\r\nTo: alice@localhost\r\n" +
      "Subject: hello\r\n\r\nHello Alice.\r\n";
    const r = await smtplib({
      ...mx,
      sender: "sender@remote.example",
      recipients: ["alice@localhost"],
      message,
    });
    assert.deepEqual(r.error, undefined);
    assert.deepEqual(r.refused, {});
    for (const ext of ["pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes"]) {
      assert.ok(r.ehlo?.includes(ext), `EHLO lacks ${ext}: ${r.ehlo}`);
    }
    assert.ok(r.ehlo?.includes("starttls"));
    assert.ok(!r.ehlo?.includes("auth"), "no AUTH before TLS");
    const body = newest(server, "alice@localhost", 0);
    const { trace, rest } = splitTrace(body);
    assert.match(trace, /^Return-Path: <sender@remote\.example>\r\n/);
    assert.match(
      trace,
      /\r\nReceived: from client\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test \(Postino\) with ESMTP id \w+\r\n\tfor <alice@localhost>;\r\n\t\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\r\n$/,
    );
    assert.doesNotMatch(trace, /using TLS/, "no TLS was used");
    assert.deepEqual(rest, bytesOf(message));
  });

  await t.step("smtplib with STARTTLS: Received names the TLS version and cipher", async () => {
    const before = inbox(server, "bob@localhost").length;
    const message = "Subject: over tls\r\n\r\nsecret\r\n";
    const r = await smtplib({
      port,
      security: "starttls",
      sender: "s@remote.example",
      recipients: ["bob@localhost"],
      message,
    });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    const [version, cipher] = r.tls!;
    const { trace, rest } = splitTrace(newest(server, "bob@localhost", before));
    assert.ok(
      trace.includes(`with ESMTPS id`) &&
        trace.includes(`(using ${version} with cipher ${cipher})`),
      trace,
    );
    assert.deepEqual(rest, bytesOf(message));
  });

  await t.step("swaks with --tls delivers and the Received header shows TLS", async () => {
    const before = inbox(server, "alice@localhost").length;
    const r = await run("swaks", [
      "--server",
      `127.0.0.1:${port}`,
      "--tls",
      "--helo",
      "swaks.test",
      "--from",
      "swaks@remote.example",
      "--to",
      "alice@localhost",
      "--header",
      "Subject: via swaks",
      "--body",
      "swaks body",
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const body = decoder.decode(newest(server, "alice@localhost", before));
    assert.match(body, /Received: from swaks\.test \(\[127\.0\.0\.1\]\)\r\n\tby mx\.test/);
    assert.match(body, /\(using TLSv1\.[23] with cipher [A-Z0-9_-]+\)/);
    assert.match(body, /\r\nSubject: via swaks\r\n/);
    assert.match(body, /\r\n\r\nswaks body\r\n/);
  });

  await t.step("swaks --pipeline delivers to a plus-address and an alias", async () => {
    const aliceBefore = inbox(server, "alice@localhost").length;
    const bobBefore = inbox(server, "bob@localhost").length;
    const r = await run("swaks", [
      "--server",
      `127.0.0.1:${port}`,
      "--pipeline",
      "--from",
      "list@remote.example",
      "--to",
      "alice+news@localhost,team@localhost",
      "--body",
      "pipelined",
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /<- +250 2\.0\.0 OK: queued as/);
    // alice once (plus-address and alias member), bob once, one body for both.
    const alice = decoder.decode(newest(server, "alice@localhost", aliceBefore));
    const bob = decoder.decode(newest(server, "bob@localhost", bobBefore));
    assert.equal(alice, bob);
    assert.match(alice, /\r\n\r\npipelined\r\n/);
    const shared = withStore(server, (s) =>
      s.get<{ n: number }>(
        `SELECT count(DISTINCT e.message_id) n FROM mailbox_entries e
         WHERE e.message_id = (SELECT max(id) FROM messages)`,
      )!.n);
    assert.equal(shared, 1);
  });

  await t.step("curl smtp:// with --ssl-reqd delivers over STARTTLS", async () => {
    const before = inbox(server, "bob@localhost").length;
    const message = "From: curl@remote.example\r\nSubject: via curl\r\n\r\ncurl body\r\n";
    const file = await Deno.makeTempFile({ prefix: "postino-mx-curl-" });
    try {
      await Deno.writeTextFile(file, message);
      const r = await run("curl", [
        "--silent",
        "--show-error",
        "--max-time",
        "20",
        "--ssl-reqd",
        "-k",
        `smtp://127.0.0.1:${port}`,
        "--mail-from",
        "curl@remote.example",
        "--mail-rcpt",
        "bob@localhost",
        "--upload-file",
        file,
      ]);
      assert.equal(r.code, 0, r.stderr);
    } finally {
      await Deno.remove(file);
    }
    const { trace, rest } = splitTrace(newest(server, "bob@localhost", before));
    assert.match(trace, /with ESMTPS id \w+\r\n\t\(using TLSv1\.[23] with cipher /);
    assert.deepEqual(rest, bytesOf(message));
  });

  await t.step("unknown local users get 550 and are not stored", async () => {
    const before = count(server, "messages");
    const r = await smtplib({
      ...mx,
      sender: "s@remote.example",
      recipients: ["nobody@localhost", "nobody+tag@localhost"],
      message: "Subject: x\r\n\r\nx\r\n",
    });
    assert.equal(r.error?.type, "RecipientsRefused");
    for (const rcpt of ["nobody@localhost", "nobody+tag@localhost"]) {
      const refusal: [number, string] = r.error!.recipients![rcpt];
      assert.equal(refusal[0], 550);
      assert.match(refusal[1], /^5\.1\.1 /);
    }
    assert.equal(count(server, "messages"), before);
  });

  await t.step("relay to a remote domain is denied without AUTH", async () => {
    const before = count(server, "messages");
    const r = await smtplib({
      ...mx,
      sender: "s@remote.example",
      recipients: ["victim@remote.example", "alice@localhost"],
      message: "Subject: relay?\r\n\r\nx\r\n",
    });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.equal(r.refused!["victim@remote.example"][0], 554);
    assert.match(r.refused!["victim@remote.example"][1], /^5\.7\.1 /);
    assert.equal(count(server, "queue"), 0, "nothing queued for the remote recipient");
    assert.equal(count(server, "messages"), before + 1, "the local recipient still gets it");
    const swaks = await run("swaks", [
      "--server",
      `127.0.0.1:${port}`,
      "--from",
      "s@remote.example",
      "--to",
      "victim@remote.example",
    ]);
    assert.notEqual(swaks.code, 0);
    assert.match(swaks.stdout, /<\*\* +554 5\.7\.1 /);
    assert.equal(count(server, "queue_recipients"), 0);
  });

  await t.step("three local recipients share one stored body", async () => {
    const before = count(server, "messages");
    const r = await smtplib({
      ...mx,
      sender: "s@remote.example",
      recipients: ["alice@localhost", "bob@localhost", "carol@example.com"],
      message: "Subject: three\r\n\r\nfor three\r\n",
    });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.equal(count(server, "messages"), before + 1);
    const ids = withStore(server, (s) =>
      s.all<{ message_id: number }>(
        "SELECT message_id FROM mailbox_entries WHERE message_id = (SELECT max(id) FROM messages)",
      ));
    assert.equal(ids.length, 3);
    assert.match(decoder.decode(inbox(server, "carol@example.com")[0]), /\r\n\r\nfor three\r\n$/);
  });

  await t.step("the null sender is accepted (bounces)", async () => {
    const before = inbox(server, "carol@example.com").length;
    const r = await smtplib({
      ...mx,
      sender: "",
      recipients: ["carol@example.com"],
      message: "Subject: bounce\r\n\r\nundeliverable\r\n",
    });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    const body = decoder.decode(newest(server, "carol@example.com", before));
    assert.match(body, /^Return-Path: <>\r\n/);
  });

  await t.step("8-bit and UTF-8 content round-trips byte for byte", async () => {
    const before = inbox(server, "alice@localhost").length;
    const head = bytesOf(
      "From: =?utf-8?q?S=C3=A9nder?= <s@remote.example>\r\nSubject: Grüße ✉ 東京\r\n" +
        "X-Raw: Ünïcödé\r\n\r\nDüsseldorf, 東京, 📬\r\n",
    );
    const raw = new Uint8Array([0x80, 0xfe, 0xff, 0xe9, 0x00, 0x7f, 0x09, 0x0d, 0x0a]);
    const message = new Uint8Array([...head, ...raw]);
    const r = await smtplib({
      ...mx,
      sender: "sénder@remote.example",
      recipients: ["alice@localhost"],
      mail_options: ["SMTPUTF8", "BODY=8BITMIME"],
      message,
    });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    const { trace, rest } = splitTrace(newest(server, "alice@localhost", before));
    assert.match(trace, /^Return-Path: <sénder@remote\.example>\r\n/);
    assert.match(trace, / with UTF8SMTP id /);
    assert.deepEqual(rest, message);
  });

  await t.step("a UTF-8 local part that is no user is refused with 550", async () => {
    const r = await smtplib({
      ...mx,
      sender: "s@remote.example",
      recipients: ["ålice@localhost"],
      mail_options: ["SMTPUTF8"],
      message: "Subject: x\r\n\r\nx\r\n",
    });
    assert.equal(r.error?.recipients?.["ålice@localhost"]?.[0], 550);
  });

  await t.step("lines starting with a dot round-trip byte for byte", async () => {
    const before = inbox(server, "bob@localhost").length;
    // smtplib dot-stuffs on the way out; the server must undo it exactly.
    const message = bytesOf(
      "Subject: dots\r\n\r\n.\r\n..\r\n.hidden\r\n. space\r\n...three\r\nend.\r\n.",
    );
    const r = await smtplib({
      ...mx,
      sender: "s@remote.example",
      recipients: ["bob@localhost"],
      message,
    });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    const { rest } = splitTrace(newest(server, "bob@localhost", before));
    // smtplib ends a message that lacks a final CRLF with one.
    assert.deepEqual(rest, new Uint8Array([...message, 0x0d, 0x0a]));
  });

  await t.step("openssl s_client -starttls smtp talks to the MX listener", async () => {
    const before = inbox(server, "alice@localhost").length;
    const script = [
      "EHLO openssl.test",
      "MAIL FROM:<o@remote.example>",
      "RCPT TO:<alice@localhost>",
      "RCPT TO:<nobody@localhost>",
      "DATA",
      "Subject: openssl",
      "",
      "via openssl",
      ".",
      "QUIT",
      "",
    ].join("\n");
    const r = await run("openssl", [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-starttls",
      "smtp",
      "-crlf",
      "-quiet",
      "-ign_eof",
    ], script);
    const replies = r.stdout.split(/\r?\n/).filter((l) => /^\d{3} /.test(l));
    assert.deepEqual(replies.map((l) => l.slice(0, 9)), [
      "250 HELP",
      "250 2.1.0",
      "250 2.1.5",
      "550 5.1.1",
      "354 End d",
      "250 2.0.0",
      "221 2.0.0",
    ], r.stdout + r.stderr);
    const body = decoder.decode(newest(server, "alice@localhost", before));
    assert.match(body, /\(using TLSv1\.[23] with cipher /);
    assert.match(body, /\r\nSubject: openssl\r\n\r\nvia openssl\r\n$/);
  });

  await t.step("the server still runs and stops with exit status 0", async () => {
    assert.equal(server.running, true);
    const { code } = await server.stop();
    assert.equal(code, 0);
    const errors = server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
    assert.deepEqual(errors.map((e) => e.message), []);
  });

  await t.step("each connection logged its open, accepted messages and close with one id", () => {
    const entries = server.entries();
    const accepted = entries.filter((e) => /accepted/.test(e.message) && e.properties.msg);
    assert.ok(accepted.length >= 10, `${accepted.length} accepted lines`);
    for (const a of accepted) {
      // Queue id, sender, recipients and size are in the line (property names may change).
      const { id, msg, from, size } = a.properties;
      assert.match(String(msg), /^[0-9A-Z]+$/);
      assert.equal(typeof from, "string");
      assert.ok(Number(size) > 0, JSON.stringify(a.properties));
      assert.match(a.message, /@localhost|@example\.com/, "the recipients are named");
      const mine = entries.filter((e) => e.properties.id === id).map((e) => e.message);
      assert.equal(mine.filter((m) => m.includes("connect from") && !m.includes("dis")).length, 1);
      assert.equal(mine.filter((m) => m.includes("disconnect from")).length, 1);
    }
    const tls = accepted.filter((a) => String(a.properties.tls ?? "").includes("TLS"));
    assert.ok(tls.length >= 3, "accepted lines name TLS when it was used");
  });
});
