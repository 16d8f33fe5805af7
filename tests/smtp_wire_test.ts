/**
 * Wire-level attacks and limits against the real `postino serve` over TCP:
 * STARTTLS command injection, SMTP smuggling, pipelining in one write,
 * message size limits and cross-protocol requests. The client is a raw
 * `Deno.connect` socket (upgraded with `Deno.startTls`), so every byte on
 * the wire is the test's choice; smtplib checks the SIZE limit as a real
 * client would meet it.
 */
import assert from "node:assert/strict";
import { openStore, storePath } from "../src/store/db.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

const CLIENT_PY = new URL("./support/smtp_client.py", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** No single read may wait longer than this. */
const READ_TIMEOUT_MS = 10_000;

interface Reply {
  code: number;
  lines: string[];
}

/** A raw SMTP client on a TCP (or TLS) connection, with bounded reads. */
class RawClient {
  #conn: Deno.Conn | Deno.TlsConn;
  #buf = new Uint8Array();
  #eof = false;
  #read: Promise<number | null> | undefined;
  #chunk = new Uint8Array(64 * 1024);

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<RawClient> {
    return new RawClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Reads more input; false on timeout (the read stays pending for the next call). */
  async #fill(ms: number): Promise<boolean> {
    if (this.#eof) return false;
    this.#read ??= this.#conn.read(this.#chunk).catch(() => null);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => timer = setTimeout(() => r("timeout"), ms));
    const n = await Promise.race([this.#read, timeout]).finally(() => clearTimeout(timer));
    if (n === "timeout") return false;
    this.#read = undefined;
    if (n === null) {
      this.#eof = true;
      return false;
    }
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(this.#chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  get closed(): boolean {
    return this.#eof;
  }

  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    for (let off = 0; off < bytes.length;) off += await this.#conn.write(bytes.subarray(off));
  }

  #take(): Reply | undefined {
    const lines: string[] = [];
    let pos = 0;
    for (;;) {
      const lf = this.#buf.indexOf(0x0a, pos);
      if (lf < 0) return undefined;
      const line = decoder.decode(this.#buf.subarray(pos, lf + 1));
      const m = /^(\d{3})([ -])(.*)\r\n$/s.exec(line);
      assert.ok(m, `malformed reply line ${JSON.stringify(line)}`);
      lines.push(line.slice(0, -2));
      pos = lf + 1;
      if (m[2] === " ") {
        this.#buf = this.#buf.slice(pos);
        return { code: Number(m[1]), lines };
      }
    }
  }

  /** The next complete reply. */
  async reply(): Promise<Reply> {
    const deadline = Date.now() + READ_TIMEOUT_MS;
    for (;;) {
      const r = this.#take();
      if (r) return r;
      if (this.#eof || Date.now() >= deadline) {
        throw new Error(`No reply; closed=${this.#eof}; unread ${JSON.stringify(this.pending)}`);
      }
      await this.#fill(deadline - Date.now());
    }
  }

  /** The last line of the next reply ("250 2.1.0 Sender OK"). */
  async line(): Promise<string> {
    return (await this.reply()).lines.at(-1)!;
  }

  get pending(): string {
    return decoder.decode(this.#buf);
  }

  /**
   * Waits for `expected` replies (bounded), then keeps reading until the server
   * closes or stays quiet for `quietMs`, so extra replies are seen too. Gives
   * the last line of every reply.
   */
  async drain(expected: number, quietMs = 200): Promise<string[]> {
    const out: string[] = [];
    const deadline = Date.now() + READ_TIMEOUT_MS;
    const take = () => {
      let r;
      while ((r = this.#take())) out.push(r.lines.at(-1)!);
    };
    for (;;) {
      take();
      if (this.#eof || Date.now() >= deadline) return out;
      const wait = out.length < expected ? deadline - Date.now() : quietMs;
      if (!await this.#fill(wait) && out.length >= expected) {
        take();
        return out;
      }
    }
  }

  /** Upgrades to TLS, trusting `caCert`; no read may be pending. */
  async startTls(caCert: string): Promise<void> {
    assert.equal(this.#read, undefined, "a read is pending");
    assert.equal(this.pending, "", "unread input before the handshake");
    this.#conn = await Deno.startTls(this.#conn as Deno.TcpConn, {
      hostname: "localhost",
      caCerts: [caCert],
    });
  }

  /** Closes the socket and lets a pending read finish. */
  async close(): Promise<void> {
    try {
      this.#conn.close();
    } catch {
      // already closed
    }
    await this.#read?.catch(() => {});
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

function count(server: RunningPostino, sql: string, ...params: string[]): number {
  const store = openStore(storePath(server.dataDir));
  try {
    return store.get<{ n: number }>(sql, ...params)!.n;
  } finally {
    store.close();
  }
}

function messages(server: RunningPostino): number {
  return count(server, "SELECT count(*) n FROM messages");
}

function inboxOf(server: RunningPostino, address: string): number {
  return count(
    server,
    `SELECT count(*) n FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
     JOIN users u ON u.id = b.user_id WHERE u.address = ?`,
    address,
  );
}

/** Connects, reads the greeting, says EHLO. */
async function greeted(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  assert.match(await c.line(), /^220 mx\.test /);
  await c.write("EHLO wire.test\r\n");
  assert.equal((await c.reply()).code, 250);
  return c;
}

const SMUGGLED = "MAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n" +
  "From: ceo@localhost\r\nSubject: smuggled\r\n\r\npay me\r\n.\r\n";

const VECTORS: { name: string; end: string; reply: RegExp; hangUp: boolean }[] = [
  { name: "<LF>.<LF>", end: "\n.\n", reply: /^521 5\.5\.2 /, hangUp: true },
  { name: "<CRLF>.<LF>", end: "\r\n.\n", reply: /^521 5\.5\.2 /, hangUp: true },
  { name: "<LF>.<CRLF>", end: "\n.\r\n", reply: /^550 5\.6\.0 /, hangUp: false },
  { name: "<CR>.<CR>", end: "\r.\r", reply: /^550 5\.6\.0 /, hangUp: false },
  { name: "<CR>.<CRLF>", end: "\r.\r\n", reply: /^550 5\.6\.0 /, hangUp: false },
  { name: "<CRLF>.<CR>", end: "\r\n.\r", reply: /^550 5\.6\.0 /, hangUp: false },
];

Deno.test("SMTP on the wire resists injection and smuggling and enforces limits", async (t) => {
  await using server = await startPostino({
    args: [
      "--dev",
      "--hostname",
      "mx.test",
      "--smtp",
      "127.0.0.1:0",
      "--max-message-size",
      "100k",
    ],
  });
  for (const u of ["alice@localhost", "bob@localhost"]) {
    const r = await server.cli(["user", "add", u, "--password-stdin"], "secret-pw\n");
    assert.equal(r.code, 0, r.stderr);
  }
  const port = server.addresses.smtp.port;
  const caCert = await Deno.readTextFile(`${server.dataDir}/dev-cert.pem`);

  await t.step("STARTTLS injection: commands sent with STARTTLS are never answered", async () => {
    const c = await greeted(port);
    try {
      await c.write("STARTTLS\r\nRSET\r\nMAIL FROM:<evil@remote.example>\r\n");
      assert.match(await c.line(), /^220 2\.0\.0 /);
      // Nothing else may be in plaintext after the 220.
      assert.equal(c.pending, "");
      await c.startTls(caCert);
      assert.deepEqual(
        await c.drain(0, 300),
        [],
        "replies to injected commands after the handshake",
      );
      await c.write("RCPT TO:<alice@localhost>\r\n");
      assert.match(await c.line(), /^503 5\.5\.1 Send EHLO first/);
      await c.write("EHLO wire.test\r\n");
      const ehlo = await c.reply();
      assert.ok(!ehlo.lines.some((l) => l.includes("STARTTLS")));
      await c.write("MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@localhost>\r\nQUIT\r\n");
      assert.deepEqual(await c.drain(3), [
        "250 2.1.0 Sender OK",
        "250 2.1.5 Recipient OK",
        "221 2.0.0 Bye",
      ]);
    } finally {
      await c.close();
    }
  });

  for (const v of VECTORS) {
    await t.step(
      `smuggling with ${v.name}: one reply to the payload, nothing smuggled`,
      async () => {
        const before = messages(server);
        const bob = inboxOf(server, "bob@localhost");
        const c = await greeted(port);
        try {
          await c.write("MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n");
          assert.deepEqual((await c.drain(3)).map((l) => l.slice(0, 3)), ["250", "250", "354"]);
          await c.write(`Subject: innocent\r\n\r\nhello${v.end}${SMUGGLED}`);
          const replies = await c.drain(1, 500);
          assert.equal(replies.length, 1, `replies: ${JSON.stringify(replies)}`);
          assert.match(replies[0], v.reply);
          if (v.hangUp) {
            assert.equal(c.closed, true, "the server hangs up");
          } else {
            assert.equal(c.closed, false);
            await c.write("QUIT\r\n");
            assert.deepEqual(await c.drain(1), ["221 2.0.0 Bye"]);
          }
        } finally {
          await c.close();
        }
        assert.equal(messages(server), before, "nothing stored");
        assert.equal(inboxOf(server, "bob@localhost"), bob, "no smuggled message for bob");
      },
    );
  }

  await t.step(
    "MAIL/RCPT/RCPT/DATA pipelined in one write get their replies in order",
    async () => {
      const before = inboxOf(server, "bob@localhost");
      const c = await greeted(port);
      try {
        await c.write(
          "MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@localhost>\r\n" +
            "RCPT TO:<bob@localhost>\r\nDATA\r\n",
        );
        assert.deepEqual(await c.drain(4), [
          "250 2.1.0 Sender OK",
          "250 2.1.5 Recipient OK",
          "250 2.1.5 Recipient OK",
          "354 End data with <CR><LF>.<CR><LF>",
        ]);
        await c.write("Subject: piped\r\n\r\npiped\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n");
        const replies = await c.drain(4);
        assert.deepEqual(replies.map((l) => l.slice(0, 9)), [
          "250 2.0.0",
          "250 2.0.0",
          "250 2.0.0",
          "221 2.0.0",
        ]);
      } finally {
        await c.close();
      }
      assert.equal(inboxOf(server, "bob@localhost"), before + 1);
    },
  );

  await t.step("EHLO advertises the configured size limit", async () => {
    const c = await RawClient.connect(port);
    try {
      await c.line();
      await c.write("EHLO wire.test\r\n");
      assert.ok((await c.reply()).lines.includes("250-SIZE 102400"));
    } finally {
      await c.close();
    }
  });

  await t.step("SIZE= over the limit gets 552 at MAIL (raw and smtplib)", async () => {
    const c = await greeted(port);
    try {
      await c.write("MAIL FROM:<s@remote.example> SIZE=200000\r\n");
      assert.match(await c.line(), /^552 5\.3\.4 /);
      await c.write("MAIL FROM:<s@remote.example> SIZE=102400\r\n");
      assert.match(await c.line(), /^250 2\.1\.0 /);
    } finally {
      await c.close();
    }
    const python = (await run("python3", ["-c", "import sys; print(sys.executable)"])).stdout
      .trim();
    const body = `Subject: big\r\n\r\n${"x".repeat(998)}\r\n`.repeat(200);
    const r = await run(
      python,
      [CLIENT_PY],
      JSON.stringify({
        host: "127.0.0.1",
        port,
        sender: "s@remote.example",
        recipients: ["alice@localhost"],
        message_b64: btoa(body),
      }),
    );
    const result = JSON.parse(r.stdout);
    assert.equal(result.error?.type, "SMTPSenderRefused", r.stdout + r.stderr);
    assert.equal(result.error?.code, 552);
  });

  await t.step("an oversize body gets 552 after DATA and the session goes on", async () => {
    const before = messages(server);
    const c = await greeted(port);
    try {
      await c.write("MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n");
      assert.deepEqual((await c.drain(3)).map((l) => l.slice(0, 3)), ["250", "250", "354"]);
      const line = `${"y".repeat(998)}\r\n`;
      await c.write(`Subject: too big\r\n\r\n${line.repeat(150)}.\r\nNOOP\r\n`);
      assert.match(await c.line(), /^552 5\.3\.4 /);
      assert.match(await c.line(), /^250 2\.0\.0 /);
      // The same with BDAT.
      await c.write("MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@localhost>\r\n");
      await c.write(`BDAT 150000 LAST\r\n${"z".repeat(150_000)}`);
      assert.deepEqual((await c.drain(3)).map((l) => l.slice(0, 9)), [
        "250 2.1.0",
        "250 2.1.5",
        "552 5.3.4",
      ]);
      // A message just under the limit still goes through.
      await c.write("MAIL FROM:<s@remote.example>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n");
      assert.deepEqual((await c.drain(3)).map((l) => l.slice(0, 3)), ["250", "250", "354"]);
      await c.write(`Subject: fits\r\n\r\n${line.repeat(100)}.\r\n`);
      assert.match(await c.line(), /^250 2\.0\.0 /);
    } finally {
      await c.close();
    }
    assert.equal(messages(server), before + 1);
  });

  await t.step("swaks: an oversize body without SIZE gets 552 after DATA", async () => {
    const file = await Deno.makeTempFile({ prefix: "postino-wire-big-" });
    try {
      await Deno.writeTextFile(file, `Subject: big\r\n\r\n${"w".repeat(998)}\r\n`.repeat(120));
      const r = await run("swaks", [
        "--server",
        `127.0.0.1:${port}`,
        "--from",
        "s@remote.example",
        "--to",
        "alice@localhost",
        "--data",
        file,
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.stdout, /<\*\* +552 5\.3\.4 /);
    } finally {
      await Deno.remove(file);
    }
  });

  await t.step("an HTTP request as the first command gets a silent hang-up", async () => {
    const c = await RawClient.connect(port);
    try {
      assert.match(await c.line(), /^220 /);
      await c.write("POST /submit HTTP/1.1\r\nHost: mx.test\r\nContent-Length: 4\r\n\r\nQUIT");
      assert.deepEqual(await c.drain(0, 2000), []);
      assert.equal(c.closed, true);
    } finally {
      await c.close();
    }
  });

  await t.step("the server keeps running and stops with exit status 0", async () => {
    const c = await greeted(port);
    await c.write("QUIT\r\n");
    assert.match(await c.line(), /^221 /);
    await c.close();
    assert.equal((await server.stop()).code, 0);
    const errors = server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
    assert.deepEqual(errors.map((e) => e.message), []);
    assert.ok(
      server.entries().some((e) => /discarded .*pipelined after STARTTLS/.test(e.message)),
      "the injection attempt is logged",
    );
  });
});
