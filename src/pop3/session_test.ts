/**
 * Pop3Session driven without ports: the session runs on one end of an
 * in-memory `duplexPair()` wrapped in a Connection, a scripted client on the
 * other (with real TLS for STLS), against a real store in a temp dir. Also
 * the exported helpers `dotStuff()` and `topLength()`.
 */
import assert from "node:assert/strict";
import { duplexPair } from "node:stream";
import { configure, type LogRecord } from "@logtape/logtape";
import { Authenticator } from "../auth/authenticator.ts";
import { hashPassword } from "../auth/password.ts";
import { LoginThrottle } from "../auth/throttle.ts";
import { loadConfig } from "../config.ts";
import { Connection } from "../net/connection.ts";
import { ensureDevCertificate } from "../net/dev_cert.ts";
import { secureContext, type TlsIdentity } from "../net/tls.ts";
import { addUser, ensureDomain, findUser } from "../store/accounts.ts";
import { openStore, type Store, storePath } from "../store/db.ts";
import { deliver, findMailbox, INBOX } from "../store/mailboxes.ts";
import { openMaildrop } from "../store/maildrop.ts";
import { MaildropLocks } from "./locks.ts";
import { dotStuff } from "../net/dot_stuff.ts";
import { Pop3Session, topLength, uniqueId } from "./session.ts";
import { ScriptedClient, STEP_TIMEOUT_MS } from "../../tests/support/scripted_client.ts";

/** No single step may wait longer than this. */
/**
 * The session streams and scans bodies in slices of a private size (256 KiB
 * when written); the boundary tests try every power of two up to 1 MiB.
 */
const BOUNDARIES = Array.from({ length: 9 }, (_, i) => 4096 * 2 ** i);
const MiB = 1024 * 1024;
const HOSTNAME = "pop.test";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);
const b64 = (text: string) => btoa(String.fromCharCode(...encoder.encode(text)));

const USERS = {
  alice: { address: "alice@localhost", password: "alice-secret" },
  bob: { address: "bob@localhost", password: "bob secret with spaces" },
};

// --- The scripted client ------------------------------------------------------------

/** The client end of the pair: sends bytes, reads lines and multi-line bodies, can start TLS. */
class Pop3Client extends ScriptedClient {
  /** Sends one command line. */
  cmd(line: string): void {
    this.send(`${line}\r\n`);
  }

  /** Reads one reply line (CRLF required), without the CRLF. */
  line(ms?: number): Promise<string> {
    return this.until(
      () => {
        const lf = this.buf.indexOf(0x0a);
        if (lf < 0) return undefined;
        const line = decoder.decode(this.buf.subarray(0, lf + 1));
        assert.ok(line.endsWith("\r\n"), `reply line without CRLF: ${JSON.stringify(line)}`);
        this.buf = this.buf.slice(lf + 1);
        return line.slice(0, -2);
      },
      "reply line",
      ms,
    );
  }

  /** Sends a command and reads its one-line reply. */
  async ask(line: string): Promise<string> {
    this.cmd(line);
    return await this.line();
  }

  /** Reads a multi-line body as sent (dot-stuffed), without the terminating ".\r\n". */
  multi(ms?: number): Promise<Uint8Array> {
    return this.until(
      () => {
        const b = this.buf;
        if (b.length >= 3 && b[0] === 0x2e && b[1] === 0x0d && b[2] === 0x0a) {
          this.buf = b.slice(3);
          return new Uint8Array();
        }
        for (let i = b.indexOf(0x0a); i >= 0 && i + 3 < b.length; i = b.indexOf(0x0a, i + 1)) {
          if (b[i + 1] === 0x2e && b[i + 2] === 0x0d && b[i + 3] === 0x0a) {
            const body = b.slice(0, i + 1);
            this.buf = b.slice(i + 4);
            return body;
          }
        }
        return undefined;
      },
      "multi-line body",
      ms,
    );
  }

  /** Sends a command, expects +OK, and gives the body lines (unstuffed, as text). */
  async list(line: string): Promise<{ status: string; lines: string[] }> {
    const status = await this.ask(line);
    assert.match(status, /^\+OK/, `${line}: ${status}`);
    const body = decoder.decode(unstuff(await this.multi()));
    return { status, lines: body === "" ? [] : body.slice(0, -2).split("\r\n") };
  }
}

/** Undoes RFC 1939 §3 byte-stuffing. */
function unstuff(wire: Uint8Array): Uint8Array {
  const out: number[] = [];
  let lineStart = true;
  for (const b of wire) {
    if (lineStart && b === 0x2e) {
      lineStart = false;
      continue;
    }
    out.push(b);
    lineStart = b === 0x0a;
  }
  return new Uint8Array(out);
}

// --- The server side --------------------------------------------------------------

let tlsIdentity: Promise<TlsIdentity> | undefined;

/** One development certificate for the whole file. */
function testTls(): Promise<TlsIdentity> {
  tlsIdentity ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "postino-pop3-cert-" });
    try {
      const pair = await ensureDevCertificate(dir, HOSTNAME);
      return {
        context: secureContext(pair.cert, pair.key),
        cert: pair.cert,
        key: pair.key,
        certFile: "",
        selfSigned: true,
      };
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  })();
  return tlsIdentity;
}

/** Error-level log records seen while a test runs (each fails it unless expected). */
const errorRecords: LogRecord[] = [];

async function captureLogs(): Promise<void> {
  errorRecords.length = 0;
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

/** A store with alice and bob, shared by the sessions of one test. */
interface Fixture {
  dir: string;
  store: Store;
  locks: MaildropLocks;
  users: { alice: number; bob: number };
  ctx: ConstructorParameters<typeof Pop3Session>[1];
  /** Stores a message in a user's INBOX; gives its message id. */
  put(body: Uint8Array | string, user?: "alice" | "bob"): number;
  /** Messages in a user's INBOX, from the store. */
  count(user?: "alice" | "bob"): number;
  [Symbol.asyncDispose](): Promise<void>;
}

async function fixture(options: { tls?: boolean } = {}): Promise<Fixture> {
  await captureLogs();
  const dir = await Deno.makeTempDir({ prefix: "postino-pop3-session-test-" });
  const store = openStore(storePath(dir));
  ensureDomain(store, "localhost");
  for (const u of Object.values(USERS)) {
    addUser(store, u.address, await hashPassword(u.password, { ln: 4, r: 8, p: 1 }));
  }
  const users = {
    alice: findUser(store, USERS.alice.address)!.id,
    bob: findUser(store, USERS.bob.address)!.id,
  };
  const locks = new MaildropLocks();
  const config = loadConfig({
    flags: { data: dir, hostname: HOSTNAME },
    env: {},
    systemHostname: () => HOSTNAME,
  });
  const ctx = {
    config,
    store,
    tls: options.tls === false ? undefined : await testTls(),
    // No sleeping after failed logins here; throttle_test.ts covers the delays.
    authenticator: new Authenticator(store, new LoginThrottle(), () => Promise.resolve()),
    locks,
  };
  return {
    dir,
    store,
    locks,
    users,
    ctx,
    put(body, user = "alice") {
      return deliver(store, {
        body: typeof body === "string" ? bytes(body) : body,
        mailboxes: [{ userId: users[user] }],
      }).messageId;
    },
    count(user = "alice") {
      return openMaildrop(store, users[user])!.messages.length;
    },
    async [Symbol.asyncDispose]() {
      store.close();
      await Deno.remove(dir, { recursive: true });
      const errors = errorRecords.splice(0);
      assert.deepEqual(errors.map((r) => r.message.join("")), [], "error-level log records");
    },
  };
}

/** A running session with its client. */
interface Session {
  client: Pop3Client;
  conn: Connection;
  done: Promise<void>;
  greeting: string;
  [Symbol.asyncDispose](): Promise<void>;
}

let nextId = 0;

async function session(
  f: Fixture,
  options: { remote?: string; implicitTls?: boolean } = {},
): Promise<Session> {
  const [serverEnd, clientEnd] = duplexPair();
  const conn = new Connection(serverEnd, {
    id: `pop3-${++nextId}`,
    remoteAddress: options.remote ?? "127.0.0.1",
    remotePort: 40000 + nextId,
    localAddress: "192.0.2.110",
    localPort: 110,
    idleTimeoutMs: 10_000,
  });
  const client = new Pop3Client(clientEnd);
  if (options.implicitTls) {
    const handshake = conn.startTls(f.ctx.tls!.context);
    await client.startTls();
    await handshake;
  }
  const done = new Pop3Session(conn, f.ctx).run();
  const greeting = await client.line();
  return {
    client,
    conn,
    done,
    greeting,
    async [Symbol.asyncDispose]() {
      if (!client.closed) await client.end().catch(() => {});
      await ended({ done });
    },
  };
}

/** Waits (bounded) for a session to end. */
async function ended(s: { done: Promise<void> }): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) =>
    timer = setTimeout(() => reject(new Error("Session did not end")), STEP_TIMEOUT_MS)
  );
  await Promise.race([s.done, timeout]).finally(() => clearTimeout(timer));
}

/** Logs `user` in with USER/PASS; asserts +OK. */
async function login(c: Pop3Client, user: "alice" | "bob" = "alice"): Promise<string> {
  assert.match(await c.ask(`USER ${USERS[user].address}`), /^\+OK/);
  const r = await c.ask(`PASS ${USERS[user].password}`);
  assert.match(r, /^\+OK/);
  return r;
}

async function capa(c: Pop3Client): Promise<string[]> {
  return (await c.list("CAPA")).lines;
}

/** A message whose lines all end in CRLF. */
function message(subject: string, ...body: string[]): string {
  return `From: a@remote.example\r\nSubject: ${subject}\r\n\r\n${
    body.map((l) => `${l}\r\n`).join("")
  }`;
}

// --- Greeting, CAPA, and where credentials are allowed --------------------------------

Deno.test("Pop3Session greets, sets an idle timeout of at least 10 minutes, and says bye", async () => {
  await using f = await fixture();
  await using s = await session(f);
  assert.match(s.greeting, /^\+OK /);
  // RFC 1939 §3: the autologout timer is at least 10 minutes, by default.
  assert.ok(f.ctx.config.timeouts.pop3Idle >= 10 * 60_000, "default idle timeout");
  await s.client.expectQuiet(20);
  assert.equal(s.conn.idleTimeoutMs, f.ctx.config.timeouts.pop3Idle);
  assert.match(await s.client.ask("QUIT"), /^\+OK/);
  await s.client.expectClosed();
  await ended(s);
});

Deno.test("Pop3Session CAPA offers USER and SASL PLAIN from loopback, STLS before TLS", async () => {
  await using f = await fixture();
  for (const remote of ["127.0.0.1", "127.1.2.3", "::1"]) {
    await using s = await session(f, { remote });
    const caps = await capa(s.client);
    for (const cap of ["TOP", "UIDL", "USER", "SASL PLAIN", "STLS", "RESP-CODES", "PIPELINING"]) {
      assert.ok(caps.includes(cap), `${remote}: CAPA lacks ${cap}: ${caps}`);
    }
    assert.ok(caps.includes("EXPIRE NEVER"), `${caps}`);
    assert.ok(caps.some((c) => c.startsWith("IMPLEMENTATION ")), `${caps}`);
    await login(s.client);
    const after = await capa(s.client);
    for (const cap of ["USER", "SASL PLAIN", "STLS"]) assert.ok(!after.includes(cap), cap);
    for (const cap of ["TOP", "UIDL", "RESP-CODES", "PIPELINING"]) assert.ok(after.includes(cap));
    assert.match(await s.client.ask("QUIT"), /^\+OK/);
  }
});

Deno.test("Pop3Session refuses plaintext credentials from a remote address until STLS", async () => {
  await using f = await fixture();
  f.put(message("one", "body"));
  await using s = await session(f, { remote: "192.0.2.7" });
  const c = s.client;
  const caps = await capa(c);
  assert.ok(caps.includes("STLS"), `${caps}`);
  assert.ok(!caps.includes("USER"), "no USER over plaintext");
  assert.ok(!caps.some((x) => x.startsWith("SASL")), "no SASL over plaintext");
  for (
    const cmd of [
      `USER ${USERS.alice.address}`,
      `PASS ${USERS.alice.password}`,
      `AUTH PLAIN ${b64(`\0${USERS.alice.address}\0${USERS.alice.password}`)}`,
      "AUTH PLAIN",
    ]
  ) {
    const r = await c.ask(cmd);
    assert.match(r, /^-ERR \[AUTH\] .*STLS/, `${cmd}: ${r}`);
  }
  assert.match(await c.ask("STAT"), /^-ERR/, "still not logged in");
  assert.match(await c.ask("STLS"), /^\+OK/);
  await c.startTls();
  const secure = await capa(c);
  assert.ok(s.conn.tls, "the session's connection is TLS now");
  assert.ok(secure.includes("USER") && secure.includes("SASL PLAIN"), `${secure}`);
  assert.ok(!secure.includes("STLS"), "no STLS once TLS is on");
  assert.match(await c.ask("STLS"), /^-ERR/, "no second STLS");
  await login(c);
  assert.match(await c.ask("STAT"), /^\+OK 1 \d+$/);
  assert.match(await c.ask("QUIT"), /^\+OK/);
});

Deno.test("Pop3Session forgets a USER given before STLS", async () => {
  await using f = await fixture();
  await using s = await session(f);
  const c = s.client;
  assert.match(await c.ask(`USER ${USERS.alice.address}`), /^\+OK/);
  assert.match(await c.ask("STLS"), /^\+OK/);
  await c.startTls();
  assert.match(await c.ask(`PASS ${USERS.alice.password}`), /^-ERR/);
  await login(c);
});

Deno.test("Pop3Session without a certificate offers no STLS and refuses it", async () => {
  await using f = await fixture({ tls: false });
  await using remote = await session(f, { remote: "198.51.100.2" });
  const caps = await capa(remote.client);
  assert.ok(!caps.includes("STLS") && !caps.includes("USER"), `${caps}`);
  assert.match(await remote.client.ask("STLS"), /^-ERR/);
  assert.match(await remote.client.ask(`USER ${USERS.alice.address}`), /^-ERR \[AUTH\]/);
  await using local = await session(f);
  const localCaps = await capa(local.client);
  assert.ok(!localCaps.includes("STLS") && localCaps.includes("USER"), `${localCaps}`);
  await login(local.client);
});

Deno.test("Pop3Session on implicit TLS allows credentials from anywhere and offers no STLS", async () => {
  await using f = await fixture();
  await using s = await session(f, { remote: "203.0.113.9", implicitTls: true });
  assert.match(s.greeting, /^\+OK/);
  const caps = await capa(s.client);
  assert.ok(caps.includes("USER") && caps.includes("SASL PLAIN"), `${caps}`);
  assert.ok(!caps.includes("STLS"));
  await login(s.client, "bob");
  assert.match(await s.client.ask("QUIT"), /^\+OK/);
});

// --- Logins --------------------------------------------------------------------------

Deno.test("Pop3Session USER/PASS: the password is the rest of the line, spaces and all", async () => {
  await using f = await fixture();
  await using s = await session(f);
  const c = s.client;
  assert.match(await c.ask("PASS x"), /^-ERR/, "PASS needs USER first");
  assert.match(await c.ask("USER"), /^-ERR/, "USER needs a name");
  assert.match(await c.ask("USER   "), /^-ERR/);
  assert.match(await c.ask(`USER ${USERS.bob.address}`), /^\+OK/);
  assert.match(await c.ask("PASS bob secret"), /^-ERR \[AUTH\]/, "a prefix is not the password");
  assert.match(
    await c.ask(`PASS ${USERS.bob.password}`),
    /^-ERR/,
    "USER is forgotten after a PASS",
  );
  assert.match(await c.ask(`USER ${USERS.bob.address}`), /^\+OK/);
  assert.match(await c.ask(`PASS ${USERS.bob.password}`), /^\+OK/);
  assert.match(await c.ask("USER x"), /^-ERR/, "no USER after login");
});

Deno.test("Pop3Session USER never reveals whether the user exists", async () => {
  await using f = await fixture();
  await using s = await session(f);
  const c = s.client;
  const known = await c.ask(`USER ${USERS.alice.address}`);
  const unknownPass = await c.ask("PASS wrong");
  const unknown = await c.ask("USER nobody@localhost");
  assert.equal(unknown, known);
  assert.equal(await c.ask("PASS wrong"), unknownPass);
  assert.match(unknownPass, /^-ERR \[AUTH\] /);
});

Deno.test("Pop3Session AUTH PLAIN with an initial response, after a continuation, and refusals", async (t) => {
  await using f = await fixture();
  const alice = `\0${USERS.alice.address}\0${USERS.alice.password}`;
  const table: [string, string[], RegExp[]][] = [
    ["initial response", [`AUTH PLAIN ${b64(alice)}`], [/^\+OK/]],
    ["lower-case mechanism", [`auth plain ${b64(alice)}`], [/^\+OK/]],
    ["continuation", ["AUTH PLAIN", b64(alice)], [/^\+ ?$/, /^\+OK/]],
    ["own authzid", [`AUTH PLAIN ${b64(`${USERS.alice.address}${alice}`)}`], [/^\+OK/]],
    ["other authzid", [`AUTH PLAIN ${b64(`${USERS.bob.address}${alice}`)}`], [/^-ERR \[AUTH\]/]],
    ["wrong password", [`AUTH PLAIN ${b64(`\0${USERS.alice.address}\0nope`)}`], [
      /^-ERR \[AUTH\]/,
    ]],
    ["cancelled", ["AUTH PLAIN", "*"], [/^\+ ?$/, /^-ERR/]],
    ["not base64", ["AUTH PLAIN %%%%"], [/^-ERR/]],
    ["not base64 after continuation", ["AUTH PLAIN", "%%%%"], [/^\+ ?$/, /^-ERR/]],
    ["empty initial response", ["AUTH PLAIN ="], [/^-ERR/]],
    ["one NUL only", [`AUTH PLAIN ${b64(`\0${USERS.alice.address}`)}`], [/^-ERR/]],
    ["unknown mechanism", ["AUTH LOGIN"], [/^-ERR/]],
    ["too many arguments", [`AUTH PLAIN ${b64(alice)} x`], [/^-ERR/]],
  ];
  for (const [name, lines, replies] of table) {
    await t.step(name, async () => {
      await using s = await session(f);
      for (const [i, line] of lines.entries()) {
        assert.match(await s.client.ask(line), replies[i], `${name}: ${line}`);
      }
      const loggedIn = replies.at(-1)!.source.startsWith("^\\+OK");
      assert.match(await s.client.ask("STAT"), loggedIn ? /^\+OK/ : /^-ERR/, name);
    });
  }
});

Deno.test("Pop3Session AUTH with no mechanism lists PLAIN", async () => {
  await using f = await fixture();
  await using s = await session(f);
  const { lines } = await s.client.list("AUTH");
  assert.deepEqual(lines, ["PLAIN"]);
});

Deno.test("Pop3Session AUTH continuation: a too-long line, and a client that goes away", async () => {
  await using f = await fixture();
  {
    await using s = await session(f);
    assert.match(await s.client.ask("AUTH PLAIN"), /^\+ ?$/);
    assert.match(await s.client.ask("A".repeat(10_000)), /^-ERR/);
    assert.match(await s.client.ask("STAT"), /^-ERR/, "the session goes on, logged out");
  }
  {
    await using s = await session(f);
    assert.match(await s.client.ask("AUTH PLAIN"), /^\+ ?$/);
    s.client.drop();
    await ended(s);
  }
});

Deno.test("Pop3Session: a user without an INBOX gets [SYS/PERM] and holds no lock", async () => {
  await using f = await fixture();
  f.store.run("DELETE FROM mailboxes WHERE id = ?", findMailbox(f.store, f.users.alice, INBOX)!);
  await using s = await session(f);
  assert.match(await s.client.ask(`USER ${USERS.alice.address}`), /^\+OK/);
  assert.match(await s.client.ask(`PASS ${USERS.alice.password}`), /^-ERR \[SYS\/PERM\]/);
  assert.equal(f.locks.isLocked(f.users.alice), false);
});

// --- TRANSACTION ---------------------------------------------------------------------

Deno.test("Pop3Session RETR reads ahead, and any order still gives each message its body", async () => {
  await using f = await fixture();
  // Forty small messages (more than one read-ahead window) and one too big to read ahead.
  const bodies = Array.from({ length: 40 }, (_, i) => message(`m${i + 1}`, `body ${i + 1}`));
  bodies.splice(20, 0, message("big", "x".repeat(300 * 1024)));
  for (const b of bodies) f.put(b);
  await using s = await session(f);
  const c = s.client;
  await login(c);
  const order = [
    ...bodies.map((_, i) => i + 1), // in order, through the big one
    3,
    2,
    1,
    41,
    17,
    18,
    40,
    21,
    5,
    19,
    20,
    22, // back, jumps and neighbours of the big one
  ];
  for (const n of order) {
    c.cmd(`RETR ${n}`);
    assert.match(await c.line(), /^\+OK/);
    assert.equal(decoder.decode(unstuff(await c.multi())), bodies[n - 1], `RETR ${n}`);
  }
});

Deno.test("Pop3Session STAT, LIST, UIDL, RETR, TOP, DELE, RSET and QUIT", async () => {
  await using f = await fixture();
  const bodies = [
    message("one", "1a", "1b", "1c"),
    message("two", ".dot", "..two", "."),
    message("three", "3a"),
  ];
  for (const b of bodies) f.put(b);
  f.put(message("bob's"), "bob");
  const sizes = bodies.map((b) => bytes(b).length);
  const total = sizes.reduce((a, b) => a + b, 0);
  const drop = openMaildrop(f.store, f.users.alice)!;
  const ids = drop.messages.map((_, i) => uniqueId(drop, i));
  assert.deepEqual(ids, drop.messages.map((m) => `${drop.uidvalidity}.${m.uid}`));

  {
    await using s = await session(f);
    const c = s.client;
    assert.match(await c.ask("STAT"), /^-ERR/, "STAT before login");
    assert.match(await login(c), new RegExp(`3 messages \\(${total} octets\\)`));
    assert.equal(await c.ask("STAT"), `+OK 3 ${total}`);
    assert.deepEqual((await c.list("LIST")).lines, sizes.map((n, i) => `${i + 1} ${n}`));
    assert.equal(await c.ask("LIST 2"), `+OK 2 ${sizes[1]}`);
    assert.deepEqual((await c.list("UIDL")).lines, ids.map((id, i) => `${i + 1} ${id}`));
    assert.equal(await c.ask("UIDL 3"), `+OK 3 ${ids[2]}`);

    for (const [i, body] of bodies.entries()) {
      c.cmd(`RETR ${i + 1}`);
      assert.match(await c.line(), /^\+OK/);
      const wire = await c.multi();
      assert.equal(decoder.decode(unstuff(wire)), body);
      assert.equal(unstuff(wire).length, sizes[i], "LIST size is what RETR sends");
    }
    // RFC 1939 §3: lines starting with "." go out with one more.
    c.cmd("RETR 2");
    await c.line();
    assert.match(decoder.decode(await c.multi()), /\r\n\r\n\.\.dot\r\n\.\.\.two\r\n\.\.\r\n$/);

    // TOP: headers, the blank line, n body lines.
    const head = "From: a@remote.example\r\nSubject: one\r\n\r\n";
    for (
      const [n, want] of [[0, head], [1, `${head}1a\r\n`], [3, bodies[0]], [9, bodies[0]]] as const
    ) {
      c.cmd(`TOP 1 ${n}`);
      assert.match(await c.line(), /^\+OK/);
      assert.equal(decoder.decode(unstuff(await c.multi())), want, `TOP 1 ${n}`);
    }
    c.cmd("TOP 2 1");
    await c.line();
    assert.match(decoder.decode(await c.multi()), /\r\n\r\n\.\.dot\r\n$/, "TOP is dot-stuffed too");

    assert.match(await c.ask("NOOP"), /^\+OK/);
    assert.match(await c.ask("DELE 1"), /^\+OK/);
    assert.match(await c.ask("DELE 1"), /^-ERR/, "deleted already");
    assert.match(await c.ask("RETR 1"), /^-ERR/);
    assert.match(await c.ask("TOP 1 0"), /^-ERR/);
    assert.match(await c.ask("LIST 1"), /^-ERR/);
    assert.match(await c.ask("UIDL 1"), /^-ERR/);
    assert.equal(await c.ask("STAT"), `+OK 2 ${total - sizes[0]}`);
    assert.deepEqual((await c.list("LIST")).lines, [`2 ${sizes[1]}`, `3 ${sizes[2]}`]);
    assert.deepEqual((await c.list("UIDL")).lines, [`2 ${ids[1]}`, `3 ${ids[2]}`]);
    assert.match(await c.ask("RSET"), /^\+OK/);
    assert.equal(await c.ask("STAT"), `+OK 3 ${total}`);
    assert.match(await c.ask("DELE 3"), /^\+OK/);
    assert.match(await c.ask("DELE 1"), /^\+OK/);
    assert.equal(f.count(), 3, "DELE only marks");
    assert.match(await c.ask("QUIT"), /^\+OK/);
    await c.expectClosed();
    await ended(s);
  }
  const left = openMaildrop(f.store, f.users.alice)!;
  assert.deepEqual(left.messages.map((m) => m.uid), [drop.messages[1].uid], "QUIT removed 1 and 3");
  assert.equal(f.count("bob"), 1, "bob's maildrop untouched");
  assert.equal(f.locks.isLocked(f.users.alice), false);

  // The remaining message is now number 1 and keeps its unique id.
  await using s = await session(f);
  await login(s.client);
  assert.deepEqual((await s.client.list("UIDL")).lines, [`1 ${ids[1]}`]);
});

Deno.test("Pop3Session: bad arguments and unknown commands get -ERR and the session goes on", async () => {
  await using f = await fixture();
  f.put(message("one", "a"));
  f.put(message("two", "b"));
  {
    await using s = await session(f);
    for (const cmd of ["NOOP", "RSET", "DELE 1", "LIST", "XYZZY", "", "TOP 1 1", "UIDL"]) {
      assert.match(await s.client.ask(cmd), /^-ERR/, `before login: ${cmd}`);
    }
    await login(s.client);
  }
  const bad = [
    "LIST 0",
    "LIST x",
    "LIST 1 2",
    "LIST 3",
    "RETR",
    "RETR 0",
    "RETR 3",
    "TOP 1",
    "TOP 1 -1",
    "TOP x 1",
    "UIDL 00",
    "DELE 3",
    "NOOP 1",
    "STAT 1",
    "STLS",
    "AUTH PLAIN",
    "LISTX",
  ];
  await using s = await session(f);
  const c = s.client;
  await login(c);
  for (const cmd of bad) assert.match(await c.ask(cmd), /^-ERR /, cmd);
  assert.match(await c.ask("STAT"), /^\+OK 2 /);
  assert.match(await c.ask("list 2"), /^\+OK 2 \d+$/, "keywords are case-insensitive");
  assert.match(await c.ask("QUIT"), /^\+OK/);
  assert.equal(f.count(), 2);
});

Deno.test("Pop3Session closes after too many errors, removing nothing", async () => {
  await using f = await fixture();
  f.put(message("one", "a"));
  await using s = await session(f);
  const c = s.client;
  await login(c);
  assert.match(await c.ask("DELE 1"), /^\+OK/);
  let last = "";
  for (let i = 0; i < 100 && !c.closed; i++) {
    c.cmd("BOGUS");
    last = await c.line().catch(() => "(closed)");
    if (/too many/i.test(last)) break;
  }
  assert.match(last, /^-ERR .*[Tt]oo many errors/);
  await c.expectClosed();
  await ended(s);
  assert.equal(f.count(), 1);
  assert.equal(f.locks.isLocked(f.users.alice), false);
});

Deno.test("Pop3Session answers an over-long line with -ERR and goes on", async () => {
  await using f = await fixture();
  await using s = await session(f);
  assert.match(await s.client.ask(`USER ${"x".repeat(50_000)}`), /^-ERR/);
  await login(s.client);
});

Deno.test("Pop3Session pipelined commands are answered in order", async () => {
  await using f = await fixture();
  f.put(message("one", "a"));
  await using s = await session(f);
  const c = s.client;
  c.send(
    `USER ${USERS.alice.address}\r\nPASS ${USERS.alice.password}\r\nSTAT\r\nDELE 1\r\nSTAT\r\n` +
      "RSET\r\nUIDL 1\r\nQUIT\r\n",
  );
  assert.match(await c.line(), /^\+OK/);
  assert.match(await c.line(), /^\+OK/);
  assert.match(await c.line(), /^\+OK 1 /);
  assert.match(await c.line(), /^\+OK/);
  assert.equal(await c.line(), "+OK 0 0");
  assert.match(await c.line(), /^\+OK/);
  assert.match(await c.line(), /^\+OK 1 \d+\.\d+$/);
  assert.match(await c.line(), /^\+OK/);
  await c.expectClosed();
  assert.equal(f.count(), 1);
});

Deno.test("Pop3Session RETR of an empty message and of one without a final CRLF", async () => {
  await using f = await fixture();
  f.put(new Uint8Array());
  f.put("Subject: x\r\n\r\nno newline");
  await using s = await session(f);
  const c = s.client;
  await login(c);
  assert.deepEqual((await c.list("LIST")).lines, ["1 0", "2 24"]);
  c.cmd("RETR 1");
  assert.match(await c.line(), /^\+OK/);
  assert.equal(await c.line(), ".", "just the terminator");
  c.cmd("RETR 2");
  assert.match(await c.line(), /^\+OK/);
  // The terminator must start a line, so a CRLF comes first (RFC 1939 §3).
  assert.equal(decoder.decode(await c.multi()), "Subject: x\r\n\r\nno newline\r\n");
  c.cmd("TOP 1 0");
  assert.match(await c.line(), /^\+OK/);
  assert.equal(await c.line(), ".");
});

Deno.test("Pop3Session stuffs dots at every possible slice boundary", async () => {
  await using f = await fixture();
  // For each boundary B: a message whose octet B starts a line with ".", and
  // one where the CRLF before a "." line is split across B.
  const make = (crAt: number) => {
    const head = "Subject: big\r\n\r\n";
    const filler = "a".repeat(76) + "\r\n";
    let text = head;
    text += filler.repeat(Math.floor((crAt - head.length) / filler.length));
    text += "b".repeat(crAt - text.length) + "\r\n";
    text += ".after the boundary\r\n" + filler.repeat(3) + ".\r\n..\r\nend\r\n";
    return text;
  };
  const bodies: string[] = [];
  for (const b of BOUNDARIES) {
    const dotAt = make(b - 2); // "\r\n" ends at B - 1, "." at B
    const split = make(b - 1); // "\r" at B - 1, "\n" at B, "." at B + 1
    assert.equal(dotAt[b], ".");
    assert.equal(split.slice(b - 1, b + 2), "\r\n.");
    bodies.push(dotAt, split);
  }
  for (const body of bodies) f.put(body);
  await using s = await session(f);
  const c = s.client;
  await login(c);
  for (const [i, body] of bodies.entries()) {
    c.cmd(`RETR ${i + 1}`);
    assert.equal(await c.line(), `+OK ${body.length} octets`);
    const wire = decoder.decode(await c.multi(20_000));
    assert.equal(wire.length, body.length + 3, `message ${i + 1}: three lines start with a dot`);
    assert.ok(wire.includes("\r\n..after the boundary\r\n"), `message ${i + 1}`);
    assert.equal(decoder.decode(unstuff(bytes(wire))), body);
  }
  // TOP of the same messages, cut right after the "." line.
  for (const [i, body] of bodies.entries()) {
    const head = body.indexOf("\r\n\r\n") + 4;
    const lines = body.slice(head, body.indexOf(".after")).split("\r\n").length;
    c.cmd(`TOP ${i + 1} ${lines}`);
    assert.match(await c.line(), /^\+OK/);
    const wire = decoder.decode(await c.multi(20_000));
    assert.ok(wire.endsWith("\r\n..after the boundary\r\n"), `TOP ${i + 1} ${lines}`);
  }
});

// --- Locks, drops, timeouts and shutdown ----------------------------------------------

Deno.test("Pop3Session locks the maildrop: [IN-USE] until the holder quits or drops", async () => {
  await using f = await fixture();
  f.put(message("one", "a"));
  f.put(message("two", "b"));
  await using first = await session(f);
  await login(first.client);
  assert.match(await first.client.ask("DELE 1"), /^\+OK/);
  assert.equal(f.locks.isLocked(f.users.alice), true);

  await using second = await session(f);
  assert.match(await second.client.ask(`USER ${USERS.alice.address}`), /^\+OK/);
  assert.match(await second.client.ask(`PASS ${USERS.alice.password}`), /^-ERR \[IN-USE\]/);
  const plain = b64(`\0${USERS.alice.address}\0${USERS.alice.password}`);
  assert.match(await second.client.ask(`AUTH PLAIN ${plain}`), /^-ERR \[IN-USE\]/);
  assert.match(await second.client.ask("STAT"), /^-ERR/, "not logged in");

  await using bob = await session(f);
  await login(bob.client, "bob"); // other users are not affected

  assert.match(await first.client.ask("QUIT"), /^\+OK/);
  await ended(first);
  assert.equal(f.locks.isLocked(f.users.alice), false);
  await login(second.client);
  assert.match(await second.client.ask("STAT"), /^\+OK 1 /, "the first session's QUIT removed one");
  assert.match(await second.client.ask("DELE 1"), /^\+OK/);

  second.client.drop(); // no QUIT: nothing removed, lock released
  await ended(second);
  assert.equal(f.locks.isLocked(f.users.alice), false);
  assert.equal(f.count(), 1);
  await using third = await session(f);
  await login(third.client);
});

Deno.test("Pop3Session: a dropped connection removes nothing and releases the lock", async () => {
  await using f = await fixture();
  f.put(message("one", "a"));
  await using s = await session(f);
  await login(s.client);
  assert.match(await s.client.ask("DELE 1"), /^\+OK/);
  await s.client.end(); // the client half-closes without QUIT
  await ended(s);
  assert.equal(f.count(), 1);
  assert.equal(f.locks.isLocked(f.users.alice), false);
});

Deno.test("Pop3Session: an idle timeout says so, removes nothing and releases the lock", async () => {
  await using f = await fixture();
  f.put(message("one", "a"));
  f.ctx.config.timeouts.pop3Idle = 300;
  await using s = await session(f);
  await login(s.client);
  assert.match(await s.client.ask("DELE 1"), /^\+OK/);
  assert.match(await s.client.line(2_000), /^-ERR \[SYS\/TEMP\]/);
  await s.client.expectClosed();
  await ended(s);
  assert.equal(f.count(), 1);
  assert.equal(f.locks.isLocked(f.users.alice), false);
});

Deno.test("Pop3Session: a server shutdown says so, removes nothing and releases the lock", async () => {
  await using f = await fixture();
  f.put(message("one", "a"));
  await using s = await session(f);
  await login(s.client);
  assert.match(await s.client.ask("DELE 1"), /^\+OK/);
  await s.client.expectQuiet(50);
  s.conn.shutdown();
  assert.match(await s.client.line(), /^-ERR \[SYS\/TEMP\]/);
  await s.client.expectClosed();
  await ended(s);
  assert.equal(f.count(), 1);
  assert.equal(f.locks.isLocked(f.users.alice), false);
});

Deno.test("Pop3Session: QUIT in AUTHORIZATION ends the session and removes nothing", async () => {
  await using f = await fixture();
  f.put(message("one", "a"));
  await using s = await session(f);
  assert.match(await s.client.ask("QUIT"), /^\+OK/);
  await s.client.expectClosed();
  assert.equal(f.count(), 1);
});

Deno.test("Pop3Session: QUIT removes all marked messages in one transaction, or none", async () => {
  await using f = await fixture();
  for (const n of [1, 2, 3]) f.put(message(`m${n}`, "x"));
  // The store refuses to delete uid 3, after uid 1 went in the same transaction.
  f.store.run(
    `CREATE TRIGGER test_refuse BEFORE DELETE ON mailbox_entries WHEN OLD.uid = 3
     BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`,
  );
  {
    await using s = await session(f);
    await login(s.client);
    assert.match(await s.client.ask("DELE 1"), /^\+OK/);
    assert.match(await s.client.ask("DELE 3"), /^\+OK/);
    assert.match(await s.client.ask("QUIT"), /^-ERR \[SYS\/TEMP\]/);
    await s.client.expectClosed();
    await ended(s);
  }
  assert.equal(f.count(), 3, "nothing removed when one removal fails");
  assert.equal(f.locks.isLocked(f.users.alice), false);
  assert.equal(errorRecords.length, 1, "the failure is logged");
  errorRecords.length = 0;
  f.store.run("DROP TRIGGER test_refuse");
  await using s = await session(f);
  await login(s.client);
  assert.match(await s.client.ask("DELE 1"), /^\+OK/);
  assert.match(await s.client.ask("DELE 3"), /^\+OK/);
  assert.match(await s.client.ask("QUIT"), /^\+OK/);
  assert.deepEqual(openMaildrop(f.store, f.users.alice)!.messages.map((m) => m.uid), [2]);
});

Deno.test("Pop3Session with an empty maildrop", async () => {
  await using f = await fixture();
  await using s = await session(f);
  const c = s.client;
  assert.match(await login(c), /0 messages \(0 octets\)/);
  assert.equal(await c.ask("STAT"), "+OK 0 0");
  assert.deepEqual((await c.list("LIST")).lines, []);
  assert.deepEqual((await c.list("UIDL")).lines, []);
  for (const cmd of ["LIST 1", "UIDL 1", "RETR 1", "TOP 1 0", "DELE 1"]) {
    assert.match(await c.ask(cmd), /^-ERR/, cmd);
  }
  assert.match(await c.ask("RSET"), /^\+OK/);
  assert.match(await c.ask("QUIT"), /^\+OK/);
});

Deno.test("Pop3Session: message numbers and sizes are fixed at login", async () => {
  await using f = await fixture();
  f.put(message("one", "a"));
  await using s = await session(f);
  const c = s.client;
  await login(c);
  const stat = await c.ask("STAT");
  f.put(message("late", "b"));
  assert.equal(await c.ask("STAT"), stat);
  assert.match(await c.ask("LIST 2"), /^-ERR/);
  assert.match(await c.ask("DELE 1"), /^\+OK/);
  assert.match(await c.ask("QUIT"), /^\+OK/);
  await ended(s);
  const left = openMaildrop(f.store, f.users.alice)!;
  assert.equal(left.messages.length, 1, "the late message stays");
});

// --- dotStuff() and topLength() ----------------------------------------------------------

/** The reference: doubles a "." at the start of every line. */
function naiveStuff(input: Uint8Array, atLineStart = true): Uint8Array {
  const out: number[] = [];
  let lineStart = atLineStart;
  for (const b of input) {
    if (lineStart && b === 0x2e) out.push(0x2e);
    out.push(b);
    lineStart = b === 0x0a;
  }
  return new Uint8Array(out);
}

Deno.test("dotStuff() doubles a dot at the start of every line", () => {
  const table: [string, boolean, string][] = [
    ["", true, ""],
    ["", false, ""],
    ["abc", true, "abc"],
    [".", true, ".."],
    [".", false, "."],
    [".abc\r\n", true, "..abc\r\n"],
    [".abc\r\n", false, ".abc\r\n"],
    ["a\r\n.b\r\n", false, "a\r\n..b\r\n"],
    ["a\r\n.\r\n", true, "a\r\n..\r\n"],
    ["a\r\n..\r\n", true, "a\r\n...\r\n"],
    ["a\n.b\n.c", true, "a\n..b\n..c"],
    ["a.b\r\n x.\r\n", true, "a.b\r\n x.\r\n"],
    ["a\r\n", true, "a\r\n"],
    ["\r\n.", true, "\r\n.."],
    ["\n", true, "\n"],
    ["\r.\r\n", true, "\r.\r\n"], // a bare CR does not start a line
    ["...", true, "...."],
  ];
  for (const [input, atLineStart, want] of table) {
    const got = decoder.decode(dotStuff(bytes(input), atLineStart));
    assert.equal(got, want, `${JSON.stringify(input)} at line start ${atLineStart}`);
  }
});

Deno.test("dotStuff() over slices equals stuffing the whole, for random input", () => {
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = [0x2e, 0x2e, 0x0a, 0x0d, 0x61, 0x20, 0xe9];
  for (let round = 0; round < 300; round++) {
    const input = Uint8Array.from(
      { length: Math.floor(random() * 200) },
      () => alphabet[Math.floor(random() * alphabet.length)],
    );
    const whole = dotStuff(input, true);
    assert.deepEqual([...whole], [...naiveStuff(input)], `round ${round}`);
    // Slices, each told whether it starts a line, as the session streams them.
    const parts: number[] = [];
    let atLineStart = true;
    for (let o = 0; o < input.length;) {
      const n = 1 + Math.floor(random() * 20);
      const slice = input.subarray(o, o + n);
      parts.push(...dotStuff(slice, atLineStart));
      atLineStart = slice[slice.length - 1] === 0x0a;
      o += n;
    }
    assert.deepEqual(parts, [...whole], `round ${round} in slices`);
  }
});

Deno.test("dotStuff() leaves its input alone", () => {
  const input = bytes(".a\r\n.b\r\n");
  const copy = input.slice();
  dotStuff(input, true);
  assert.deepEqual(input, copy);
});

Deno.test("topLength() counts the headers, the blank line and n body lines", () => {
  const len = (text: string, lines: number) => {
    return topLength(bytes(text), lines);
  };
  const msg = "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n"; // headers+blank: 14, lines of 4
  const table: [string, string, number, number][] = [
    ["zero lines", msg, 0, 14],
    ["one line", msg, 1, 18],
    ["two lines", msg, 2, 22],
    ["all lines", msg, 3, 26],
    ["beyond the body", msg, 4, 26],
    ["far beyond", msg, 999_999_999, 26],
    ["no blank line", "A: 1\r\nB: 2\r\n", 0, 12],
    ["no blank line, lines", "A: 1\r\nB: 2\r\n", 5, 12],
    ["no headers", "\r\nbody\r\n", 0, 2],
    ["no headers, a line", "\r\nbody\r\n", 1, 8],
    ["folded header", "Subject: a\r\n b\r\n\r\nx\r\n", 0, 18],
    ["blank lines in the body count", "H: v\r\n\r\nl1\r\n\r\nl3\r\n", 2, 14],
    ["body without final CRLF", "A: 1\r\n\r\nx\r\ny", 1, 11],
    ["body without final CRLF, all", "A: 1\r\n\r\nx\r\ny", 2, 12],
    ["empty message", "", 0, 0],
    ["empty message, lines", "", 3, 0],
    ["bare LF", "A: 1\n\nb\nc\n", 1, 8],
  ];
  for (const [name, text, lines, want] of table) {
    assert.equal(len(text, lines), want, name);
  }
});

Deno.test("topLength() counts body lines across slices", () => {
  const head = "Subject: big\r\n\r\n";
  const line = "x".repeat(98) + "\r\n"; // 100 octets
  const count = Math.ceil((2.5 * MiB) / 100);
  const text = head + line.repeat(count);
  const body = bytes(text);
  for (const n of [0, 1, 10_000, 10_486, 20_000, count - 1, count, count + 1]) {
    const want = Math.min(head.length + n * 100, body.length);
    assert.equal(topLength(body, n), want, `${n} lines`);
  }
});

Deno.test("topLength() finds the blank line wherever it falls (LF at any boundary)", () => {
  for (const b of BOUNDARIES) {
    // The headers end with "\r\n" at B - 2, the blank line is "\r\n" at B.
    const headers = hugeHeaders(b);
    const text = `${headers}\r\nbody 1\r\nbody 2\r\n`;
    const body = bytes(text);
    assert.equal(topLength(body, 0), headers.length + 2, `B = ${b}`);
    assert.equal(topLength(body, 1), headers.length + 10, `B = ${b}`);
  }
});

/** Headers of exactly `length` octets, ending in CRLF, with one long header line. */
function hugeHeaders(length: number): string {
  const head = "Subject: huge header\r\nX-Big: ";
  return head + "y".repeat(length - head.length - 2) + "\r\n";
}

Deno.test({
  name: "topLength() finds the blank line when its CRLF straddles a slice boundary",
  fn: () => {
    for (const b of BOUNDARIES) {
      const headers = hugeHeaders(b - 1); // the blank line's CR at B - 1, its LF at B
      const text = `${headers}\r\nbody 1\r\nbody 2\r\n`;
      assert.equal(text.slice(b - 1, b + 1), "\r\n");
      const body = bytes(text);
      assert.equal(topLength(body, 0), headers.length + 2, `B = ${b}`);
      assert.equal(topLength(body, 1), headers.length + 10, `B = ${b}`);
    }
  },
});
