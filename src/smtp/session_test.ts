/**
 * SmtpSession driven without ports: the session runs on one end of an
 * in-memory `duplexPair()` wrapped in a Connection, a scripted client on the
 * other (with real TLS for STARTTLS), against a real store in a temp dir.
 *
 * Every file in tests/dialogs/ is played as one test; the format is described
 * in tests/dialogs/README.md. A few checks that are easier in code follow.
 */
import assert from "node:assert/strict";
import { duplexPair } from "node:stream";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { Authenticator } from "../auth/authenticator.ts";
import { hashPassword } from "../auth/password.ts";
import { LoginThrottle } from "../auth/throttle.ts";
import { loadConfig } from "../config.ts";
import { Connection } from "../net/connection.ts";
import { ensureDevCertificate } from "../net/dev_cert.ts";
import { secureContext, type TlsIdentity } from "../net/tls.ts";
import { addAlias, addUser, ensureDomain } from "../store/accounts.ts";
import { CommitQueue } from "../store/commit_queue.ts";
import { openStore, type Store, storePath } from "../store/db.ts";
import { type SmtpRole, SmtpSession } from "./session.ts";
import { ScriptedClient, show, STEP_TIMEOUT_MS } from "../../tests/support/scripted_client.ts";

const HOSTNAME = "mx.test";
const DIALOGS = new URL("../../tests/dialogs/", import.meta.url);
/** No single step may wait longer than this. */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// --- The scripted client ------------------------------------------------------

/** One server reply: its code and its lines without CRLF. */
interface Reply {
  code: number;
  lines: string[];
}

/** The client end of the pair: sends bytes, reads whole replies, can start TLS. */
class WireClient extends ScriptedClient {
  /** Reads one complete reply (all lines up to `NNN <text>`). */
  reply(ms = STEP_TIMEOUT_MS): Promise<Reply> {
    return this.until(() => this.#take(), "a reply", ms);
  }

  #take(): Reply | undefined {
    const lines: string[] = [];
    let pos = 0;
    for (;;) {
      const lf = this.buf.indexOf(0x0a, pos);
      if (lf < 0) return undefined;
      const line = decoder.decode(this.buf.subarray(pos, lf + 1));
      assert.ok(line.endsWith("\r\n"), `reply line without CRLF: ${show(line)}`);
      const m = /^(\d{3})([ -])(.*)\r\n$/s.exec(line);
      assert.ok(m, `malformed reply line: ${show(line)}`);
      lines.push(line.slice(0, -2));
      pos = lf + 1;
      if (m[2] === " ") {
        this.buf = this.buf.slice(pos);
        return { code: Number(m[1]), lines };
      }
    }
  }
}

// --- The server side ----------------------------------------------------------

const PASSWORDS: Record<string, string> = {
  "alice@localhost": "alice-secret",
  "bob@localhost": "bob-secret",
  "carol@example.com": "carol-secret",
};
const ALIASES: [string, string][] = [
  ["team@localhost", "alice@localhost"],
  ["team@localhost", "bob@localhost"],
  ["sales@localhost", "team@localhost"],
  ["sales@localhost", "carol@example.com"],
  ["fwd@localhost", "someone@remote.example"],
];

let tlsIdentity: Promise<TlsIdentity> | undefined;

/** One development certificate for the whole file, kept in memory. */
function testTls(): Promise<TlsIdentity> {
  tlsIdentity ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "postino-session-cert-" });
    try {
      const pair = await ensureDevCertificate(dir, HOSTNAME);
      const context = secureContext(pair.cert, pair.key);
      return { context, cert: pair.cert, key: pair.key, certFile: pair.certFile, selfSigned: true };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return tlsIdentity;
}

/** Settings a dialog may change with `@name value` lines. */
interface DialogOptions {
  role: SmtpRole;
  remote: string;
  maxMessageSize?: string;
  postmaster?: string;
  implicitTls: boolean;
  noTls: boolean;
  /** Log records at error level are expected (else they fail the dialog). */
  allowErrors: boolean;
  /**
   * Pins every idle timeout of the connection to this many milliseconds (the
   * session's own assignments are ignored), so timeouts can be tested.
   */
  pinnedTimeoutMs?: number;
}

/** A fresh store with the fixture's domains, users and aliases. */
async function fixtureStore(dir: string): Promise<Store> {
  const store = openStore(storePath(dir));
  ensureDomain(store, "localhost");
  ensureDomain(store, "example.com");
  for (const [address, password] of Object.entries(PASSWORDS)) {
    addUser(store, address, await hashPassword(password, { ln: 4, r: 8, p: 1 }));
  }
  for (const [address, target] of ALIASES) addAlias(store, address, target);
  return store;
}

/** Log records of level error or above, collected while a session runs. */
const errorRecords: LogRecord[] = [];

async function captureLogs(): Promise<void> {
  await configure({
    reset: true,
    sinks: {
      collect: (r: LogRecord) => {
        if (r.level === "error" || r.level === "fatal") errorRecords.push(r);
      },
    },
    loggers: [
      { category: ["postino"], lowestLevel: "error", sinks: ["collect"] },
      { category: ["logtape", "meta"], lowestLevel: "fatal", sinks: [] },
    ],
  });
}

/** A running session with its client, store and temp dir. */
interface Harness {
  client: WireClient;
  conn: Connection;
  store: Store;
  done: Promise<void>;
  dispose(): Promise<void>;
}

async function startSession(options: DialogOptions): Promise<Harness> {
  const dir = await Deno.makeTempDir({ prefix: "postino-session-test-" });
  const store = await fixtureStore(dir);
  const flags: Record<string, unknown> = { data: dir, hostname: HOSTNAME };
  if (options.maxMessageSize) flags["max-message-size"] = options.maxMessageSize;
  if (options.postmaster) flags.postmaster = options.postmaster;
  const config = loadConfig({ flags, env: {}, systemHostname: () => HOSTNAME });
  const identity = options.noTls ? undefined : await testTls();
  const ctx = {
    config,
    store,
    tls: identity,
    // No sleeping after failed logins here; throttle_test.ts covers the delays.
    authenticator: new Authenticator(store, new LoginThrottle(), () => Promise.resolve()),
    commits: new CommitQueue(store),
  };
  const commits = ctx.commits;
  const [serverEnd, clientEnd] = duplexPair();
  const conn = new Connection(serverEnd, {
    id: "dialog",
    remoteAddress: options.remote,
    remotePort: 40000,
    localAddress: "192.0.2.25",
    localPort: options.role === "mx" ? 25 : 587,
    idleTimeoutMs: 10_000,
  });
  if (options.pinnedTimeoutMs !== undefined) {
    const ms = options.pinnedTimeoutMs;
    Object.defineProperty(conn, "idleTimeoutMs", { get: () => ms, set: () => {} });
  }
  const client = new WireClient(clientEnd);
  let done: Promise<void>;
  if (options.implicitTls) {
    // As the listener does for submissions: the handshake comes before the session.
    const handshake = conn.startTls(identity!.context);
    await client.startTls();
    await handshake;
  }
  done = new SmtpSession(conn, ctx, options.role).run();
  done = done.then(() => {});
  return {
    client,
    conn,
    store,
    done,
    async dispose() {
      try {
        if (!client.closed) await client.end().catch(() => {});
        let timer: ReturnType<typeof setTimeout> | undefined;
        const timeout = new Promise<never>((_, reject) =>
          timer = setTimeout(() => reject(new Error("Session did not end")), STEP_TIMEOUT_MS)
        );
        await Promise.race([done, timeout]).finally(() => clearTimeout(timer));
      } finally {
        await commits.close();
        store.close();
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

// --- Dialog files -------------------------------------------------------------

/** Turns `\r \n \t \\ \xHH` and `{{N*text}}` into bytes. */
function dialogBytes(text: string): Uint8Array {
  const expanded = text.replace(/\{\{(\d+)\*(.*?)\}\}/g, (_, n, s) => s.repeat(Number(n)));
  const out: number[] = [];
  for (let i = 0; i < expanded.length; i++) {
    const c = expanded[i];
    if (c !== "\\") {
      const cp = expanded.codePointAt(i)!;
      if (cp > 0xffff) i++;
      out.push(...encoder.encode(String.fromCodePoint(cp)));
      continue;
    }
    const e = expanded[++i];
    if (e === "r") out.push(13);
    else if (e === "n") out.push(10);
    else if (e === "t") out.push(9);
    else if (e === "\\") out.push(92);
    else if (e === "x") {
      out.push(parseInt(expanded.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new Error(`Unknown escape \\${e} in ${show(text)}`);
  }
  return new Uint8Array(out);
}

interface Step {
  line: number;
  repeat: number;
  kind: string;
  arg: string;
}

function parseDialog(text: string): { options: DialogOptions; steps: Step[] } {
  const options: DialogOptions = {
    role: "mx",
    remote: "192.0.2.1",
    implicitTls: false,
    noTls: false,
    allowErrors: false,
  };
  const steps: Step[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "" || line.startsWith("#")) return;
    const directive = /^@([a-z-]+)(?: (.*))?$/.exec(line);
    if (directive) {
      const [, name, value = ""] = directive;
      if (name === "role") options.role = value as SmtpRole;
      else if (name === "remote") options.remote = value;
      else if (name === "max-message-size") options.maxMessageSize = value;
      else if (name === "postmaster") options.postmaster = value;
      else if (name === "implicit-tls") options.implicitTls = true;
      else if (name === "no-tls") options.noTls = true;
      else if (name === "allow-errors") options.allowErrors = true;
      else throw new Error(`line ${i + 1}: unknown directive @${name}`);
      return;
    }
    const m = /^(?:\*(\d+) )?(c ->|c =>|c <-|c <~|c <\+|c <!|c tls|c closed|c end|c quiet|s) ?(.*)$/
      .exec(line);
    if (!m) throw new Error(`line ${i + 1}: cannot parse ${show(line)}`);
    steps.push({ line: i + 1, repeat: Number(m[1] ?? 1), kind: m[2], arg: m[3] });
  });
  return { options, steps };
}

/** Checks RFC 2034/3463: replies carry an enhanced code of the same class. */
function checkEnhanced(r: Reply, first: boolean): void {
  const exempt = first || r.code === 354 || r.code === 334 ||
    (r.code === 250 && r.lines[0].slice(4).startsWith(HOSTNAME));
  if (exempt) return;
  for (const line of r.lines) {
    const m = /^\d{3}[ -](\d)\.\d{1,3}\.\d{1,3} \S/.exec(line);
    assert.ok(m, `reply without an enhanced status code: ${show(line)}`);
    assert.equal(m[1], String(r.code)[0], `enhanced code of another class: ${show(line)}`);
  }
}

/** Store queries of `s` steps. */
function storeCheck(store: Store, arg: string): void {
  const [what, ...rest] = arg.split(" ");
  const lastBody = (address: string): Uint8Array => {
    const row = store.get<{ body: Uint8Array }>(
      `SELECT m.body FROM messages m
       JOIN mailbox_entries e ON e.message_id = m.id
       JOIN mailboxes b ON b.id = e.mailbox_id
       JOIN users u ON u.id = b.user_id
       WHERE u.address = ? AND b.name = 'INBOX' ORDER BY e.uid DESC LIMIT 1`,
      address,
    );
    assert.ok(row, `no message for ${address}`);
    return row.body;
  };
  switch (what) {
    case "count": {
      const [table, n] = rest;
      assert.ok(
        ["messages", "mailbox_entries", "queue", "queue_recipients"].includes(table),
        `unknown table ${table}`,
      );
      const got = store.get<{ n: number }>(`SELECT count(*) n FROM ${table}`)!.n;
      assert.equal(got, Number(n), `rows in ${table}`);
      break;
    }
    case "inbox": {
      const [address, n] = rest;
      const got = store.get<{ n: number }>(
        `SELECT count(*) n FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
         JOIN users u ON u.id = b.user_id WHERE u.address = ? AND b.name = 'INBOX'`,
        address,
      )!.n;
      assert.equal(got, Number(n), `messages in the INBOX of ${address}`);
      break;
    }
    case "body": {
      // s body ADDRESS REGEX: the newest message of ADDRESS matches REGEX.
      const [address, ...re] = rest;
      const body = decoder.decode(lastBody(address));
      assert.match(body, new RegExp(re.join(" "), "m"), `body of ${address}: ${show(body)}`);
      break;
    }
    case "tail": {
      // s tail ADDRESS ESCAPED: the newest message of ADDRESS ends with exactly these bytes.
      const [address, ...text] = rest;
      const expected = dialogBytes(text.join(" "));
      const body = lastBody(address);
      assert.deepEqual(
        body.subarray(body.length - expected.length),
        expected,
        `body of ${address}: ${show(decoder.decode(body))}`,
      );
      break;
    }
    case "queued": {
      // s queued RECIPIENT SENDER: one pending queue entry for RECIPIENT from SENDER.
      const [recipient, sender = ""] = rest;
      const rows = store.all<{ sender: string; body: Uint8Array }>(
        `SELECT q.sender, m.body FROM queue_recipients r JOIN queue q ON q.id = r.queue_id
         JOIN messages m ON m.id = q.message_id WHERE r.recipient = ? AND r.status = 'pending'`,
        recipient,
      );
      assert.equal(rows.length, 1, `queue entries for ${recipient}`);
      assert.equal(rows[0].sender, sender === "<>" ? "" : sender);
      const body = decoder.decode(rows[0].body);
      assert.doesNotMatch(body, /^Return-Path:/m, "a queued copy has no Return-Path");
      assert.match(body, /^Received: /, "a queued copy has a Received header");
      break;
    }
    default:
      throw new Error(`unknown store check ${what}`);
  }
}

async function playDialog(name: string, text: string): Promise<void> {
  const { options, steps } = parseDialog(text);
  errorRecords.length = 0;
  const h = await startSession(options);
  let last: Reply | undefined;
  let first = true;
  try {
    for (const step of steps) {
      const where = `${name}:${step.line}`;
      const args = Array.from(
        { length: step.repeat },
        (_, i) => step.arg.replaceAll("{i}", `${i}`),
      );
      try {
        switch (step.kind) {
          case "c ->":
            await h.client.send(dialogBytes(args.map((a) => `${a}\\r\\n`).join("")));
            break;
          case "c =>":
            await h.client.send(dialogBytes(args.join("")));
            break;
          case "c <-":
          case "c <~":
            for (const arg of args) {
              last = await h.client.reply();
              checkEnhanced(last, first);
              first = false;
              const text = last.lines.join("\n");
              if (step.kind === "c <-") {
                assert.ok(
                  last.lines.at(-1)!.startsWith(arg),
                  `expected a reply starting ${show(arg)}, got ${show(text)}`,
                );
              } else {
                assert.match(text, new RegExp(arg, "m"));
              }
            }
            break;
          case "c <+":
            assert.ok(last, "no reply read yet");
            assert.match(last.lines.join("\n"), new RegExp(step.arg, "m"));
            break;
          case "c <!":
            assert.ok(last, "no reply read yet");
            assert.doesNotMatch(last.lines.join("\n"), new RegExp(step.arg, "m"));
            break;
          case "c tls":
            await h.client.startTls();
            break;
          case "c closed":
            await h.client.expectClosed();
            break;
          case "c end":
            await h.client.end();
            await h.done;
            break;
          case "c quiet":
            await h.client.expectQuiet(Number(step.arg || 100));
            break;
          case "s":
            storeCheck(h.store, step.arg);
            break;
        }
      } catch (err) {
        throw new Error(`${where}: ${(err as Error).message}`, { cause: err });
      }
    }
    // Nothing may be left unanswered or answered twice.
    try {
      if (h.client.closed) assert.equal(h.client.pending, "", "unread output");
      else await h.client.expectQuiet(20);
    } catch (err) {
      throw new Error(`${name}: after the last step: ${(err as Error).message}`);
    }
  } finally {
    await h.dispose();
  }
  if (!options.allowErrors) {
    assert.deepEqual(
      errorRecords.map((r) => r.message.join("")),
      [],
      `${name}: the session logged errors`,
    );
  }
}

const files = [...Deno.readDirSync(DIALOGS)]
  .filter((e) => e.isFile && e.name.endsWith(".txt"))
  .map((e) => e.name)
  .sort();

Deno.test("tests/dialogs holds dialogs", () => {
  assert.ok(files.length >= 20, `only ${files.length} dialogs`);
});

for (const file of files) {
  const text = Deno.readTextFileSync(new URL(file, DIALOGS));
  const ignore = /^# IGNORE: /m.test(text);
  Deno.test({
    name: `SmtpSession plays the dialog ${file}`,
    ignore,
    async fn() {
      await captureLogs();
      try {
        await playDialog(file, text);
      } finally {
        await reset();
      }
    },
  });
}

// --- Checks in code -----------------------------------------------------------

Deno.test("dialogBytes() turns dialog escapes into bytes", () => {
  assert.deepEqual(
    dialogBytes("a\\r\\n\\x00\\xff\\t\\\\"),
    new Uint8Array([97, 13, 10, 0, 255, 9, 92]),
  );
  assert.deepEqual(decoder.decode(dialogBytes("{{3*ab}}c")), "abababc");
  assert.deepEqual(dialogBytes("é"), encoder.encode("é"));
});

Deno.test("SmtpSession answers a burst of pipelined commands in order", async () => {
  const h = await startSession({
    role: "mx",
    remote: "192.0.2.1",
    implicitTls: false,
    noTls: false,
    allowErrors: false,
  });
  try {
    await h.client.reply();
    const commands = ["EHLO burst.test"];
    for (let i = 0; i < 30; i++) {
      commands.push("MAIL FROM:<sender@remote.example>", `RCPT TO:<alice+${i}@localhost>`);
      commands.push(i % 3 === 0 ? "RCPT TO:<nobody@localhost>" : "NOOP", "RSET");
    }
    await h.client.send(encoder.encode(commands.map((c) => `${c}\r\n`).join("")));
    const codes = [];
    for (let i = 0; i < commands.length; i++) codes.push((await h.client.reply()).code);
    const expected = [250];
    for (let i = 0; i < 30; i++) expected.push(250, 250, i % 3 === 0 ? 550 : 250, 250);
    assert.deepEqual(codes, expected);
    await h.client.expectQuiet(20);
  } finally {
    await h.dispose();
  }
});

Deno.test("SmtpSession reports its state as the transaction advances", async () => {
  const [serverEnd, clientEnd] = duplexPair();
  const dir = await Deno.makeTempDir({ prefix: "postino-session-test-" });
  const store = await fixtureStore(dir);
  try {
    const config = loadConfig({ flags: { data: dir }, env: {}, systemHostname: () => HOSTNAME });
    const conn = new Connection(serverEnd, {
      id: "state",
      remoteAddress: "192.0.2.1",
      remotePort: 1,
      localAddress: "192.0.2.25",
      localPort: 25,
    });
    const commits = new CommitQueue(store);
    const session = new SmtpSession(conn, {
      config,
      store,
      authenticator: new Authenticator(store),
      commits,
    }, "mx");
    const client = new WireClient(clientEnd);
    const done = session.run();
    await client.reply();
    const states = [session.state];
    const commands = [
      "EHLO a.test\r\n",
      "MAIL FROM:<>\r\n",
      "RCPT TO:<alice@localhost>\r\n",
      "BDAT 3\r\nabc",
      "BDAT 2 LAST\r\nde",
      "RSET\r\n",
    ];
    for (const cmd of commands) {
      await client.send(encoder.encode(cmd));
      const r = await client.reply();
      assert.ok(r.code < 400, r.lines.join("\n"));
      states.push(session.state);
    }
    assert.deepEqual(states, [
      "connected",
      "greeted",
      "mail",
      "rcpt",
      "bdat",
      "greeted",
      "greeted",
    ]);
    await client.end();
    await done;
    await commits.close();
  } finally {
    store.close();
    await Deno.remove(dir, { recursive: true });
  }
});

const MX: DialogOptions = {
  role: "mx",
  remote: "192.0.2.1",
  implicitTls: false,
  noTls: false,
  allowErrors: false,
};

/** Runs `fn` on a fresh session with log capture; fails on logged errors unless allowed. */
async function withSession(
  options: Partial<DialogOptions>,
  fn: (h: Harness) => Promise<void>,
): Promise<LogRecord[]> {
  await captureLogs();
  errorRecords.length = 0;
  try {
    const h = await startSession({ ...MX, ...options });
    try {
      await fn(h);
    } finally {
      await h.dispose();
    }
    return [...errorRecords];
  } finally {
    await reset();
  }
}

/** Sends CRLF-terminated lines. */
function lines(...commands: string[]): Uint8Array {
  return encoder.encode(commands.map((c) => `${c}\r\n`).join(""));
}

Deno.test("SmtpSession closes an idle connection with 421 4.4.2", async () => {
  const errors = await withSession({ pinnedTimeoutMs: 150 }, async (h) => {
    await h.client.reply();
    await h.client.send(lines("EHLO idle.test"));
    await h.client.reply();
    const r = await h.client.reply();
    assert.match(r.lines[0], /^421 4\.4\.2 /);
    await h.client.expectClosed();
  });
  assert.deepEqual(errors.map((r) => r.message.join("")), []);
});

Deno.test("SmtpSession ends with 421 4.3.2 on shutdown, after the message in progress", async () => {
  const errors = await withSession({}, async (h) => {
    await h.client.reply();
    await h.client.send(lines("EHLO bye.test", "MAIL FROM:<a@remote.example>"));
    await h.client.send(lines("RCPT TO:<alice@localhost>", "DATA"));
    for (const code of [250, 250, 250, 354]) assert.equal((await h.client.reply()).code, code);
    await h.client.send(encoder.encode("Subject: last\r\n\r\nfirst half\r\n"));
    await new Promise((r) => setTimeout(r, 20));
    h.conn.shutdown();
    await h.client.send(encoder.encode("second half\r\n.\r\n"));
    assert.match((await h.client.reply()).lines[0], /^250 2\.0\.0 /);
    assert.match((await h.client.reply()).lines[0], /^421 4\.3\.2 /);
    await h.client.expectClosed();
    storeCheck(h.store, "tail alice@localhost first half\\r\\nsecond half\\r\\n");
  });
  assert.deepEqual(errors.map((r) => r.message.join("")), []);
});

Deno.test({
  name: "SmtpSession times out in DATA with 421 4.4.2 and logs no error",
  async fn() {
    const errors = await withSession({ pinnedTimeoutMs: 150 }, async (h) => {
      await h.client.reply();
      await h.client.send(lines("EHLO slow.test", "MAIL FROM:<a@remote.example>"));
      await h.client.send(lines("RCPT TO:<alice@localhost>", "DATA"));
      for (const code of [250, 250, 250, 354]) assert.equal((await h.client.reply()).code, code);
      await h.client.send(encoder.encode("Subject: slow\r\n\r\nand then nothing"));
      assert.match((await h.client.reply()).lines[0], /^421 4\.4\.2 /);
      await h.client.expectClosed();
    });
    assert.deepEqual(errors.map((r) => r.message.join("")), []);
  },
});

Deno.test({
  name: "SmtpSession times out in an AUTH exchange with 421 4.4.2 and logs no error",
  async fn() {
    const errors = await withSession(
      { role: "submission", implicitTls: true, pinnedTimeoutMs: 300 },
      async (h) => {
        await h.client.reply();
        await h.client.send(lines("EHLO slow.test", "AUTH LOGIN"));
        await h.client.reply();
        assert.match((await h.client.reply()).lines[0], /^334 /);
        assert.match((await h.client.reply()).lines[0], /^421 4\.4\.2 /);
        await h.client.expectClosed();
      },
    );
    assert.deepEqual(errors.map((r) => r.message.join("")), []);
  },
});

// A failed STARTTLS handshake is tested over real TCP (tests/smtp_load_test.ts): over an
// in-memory duplexPair, Deno's TLSSocket throws an uncaught TypeError (_flushEncOut of null)
// when the handshake fails, which a net.Socket does not.
