/**
 * The real `postino serve` under load and abuse: 200 simultaneous smtplib
 * connections each delivering one message, random binary garbage in every
 * state (plaintext, after EHLO, in DATA, as a TLS handshake), and abrupt
 * disconnects. Afterwards a normal client must still get its 250s and the
 * server must stop cleanly. Also the connection caps, as a unit.
 */
import assert from "node:assert/strict";
import { ConnectionLimits, isLoopback } from "../src/net/limits.ts";
import { openStore, storePath } from "../src/store/db.ts";
import { type RunningPostino, startPostino } from "./support/server.ts";

const CLIENT_PY = new URL("./support/smtp_client.py", import.meta.url).pathname;
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CONCURRENT = 200;

/** Runs a command with a deadline; gives its exit code and output. */
async function run(cmd: string, args: string[], stdin?: string, timeoutMs = 60_000) {
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

let python: Promise<string> | undefined;

/** Runs tests/support/smtp_client.py with one job. */
async function smtplib(job: Record<string, unknown>) {
  python ??= run("python3", ["-c", "import sys; print(sys.executable)"]).then((r) =>
    r.stdout.trim() || "python3"
  );
  const r = await run(await python, [CLIENT_PY], JSON.stringify({ host: "127.0.0.1", ...job }));
  assert.equal(r.code, 0, `smtp_client.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function inboxSize(server: RunningPostino, address: string): number {
  const store = openStore(storePath(server.dataDir));
  try {
    return store.get<{ n: number }>(
      `SELECT count(*) n FROM mailbox_entries e JOIN mailboxes b ON b.id = e.mailbox_id
       JOIN users u ON u.id = b.user_id WHERE u.address = ?`,
      address,
    )!.n;
  } finally {
    store.close();
  }
}

/** `n` random bytes (crypto.getRandomValues gives at most 64 KiB at a time). */
function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(out.subarray(i, i + 65_536));
  return out;
}

/**
 * Connects, optionally says `prefix`, sends `garbage`, then reads whatever the
 * server answers until it closes, or has been quiet for 500 ms after saying
 * something (5 s at most); gives the text received.
 */
async function throwGarbage(port: number, garbage: Uint8Array, prefix = ""): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const received: string[] = [];
  let last = Date.now();
  const reader = (async () => {
    const buf = new Uint8Array(16_384);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) return;
      received.push(decoder.decode(buf.subarray(0, n)));
      last = Date.now();
    }
  })();
  let closed = false;
  reader.then(() => closed = true);
  try {
    if (prefix) await conn.write(encoder.encode(prefix)).catch(() => 0);
    for (let off = 0; off < garbage.length;) {
      const n = await conn.write(garbage.subarray(off)).catch(() => -1);
      if (n < 0) break; // the server hung up: fine
      off += n;
    }
    const deadline = Date.now() + 5000;
    while (!closed && Date.now() < deadline) {
      if (received.length > 0 && Date.now() - last > 500) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    try {
      conn.close();
    } catch {
      // closed by the peer
    }
    await reader;
  }
  return received.join("");
}

Deno.test("SMTP server survives load, garbage and abrupt clients", async (t) => {
  await using server = await startPostino({
    args: [
      "--dev",
      "--hostname",
      "mx.test",
      "--smtp",
      "127.0.0.1:0",
      "--submissions",
      "127.0.0.1:0",
    ],
  });
  const add = await server.cli(
    ["user", "add", "alice@localhost", "--password-stdin"],
    "pw-alice\n",
  );
  assert.equal(add.code, 0, add.stderr);
  const port = server.addresses.smtp.port;
  const submissions = server.addresses.submissions.port;

  await t.step(`${CONCURRENT} simultaneous connections each deliver one message`, async () => {
    const before = inboxSize(server, "alice@localhost");
    const started = Date.now();
    const r = await smtplib({
      port,
      count: CONCURRENT,
      sender: "load@remote.example",
      recipients: ["alice@localhost"],
      message_b64: btoa("Subject: load {i}\r\n\r\nmessage number {i}\r\n"),
    });
    assert.deepEqual(r.errors, [], `${r.error_count} failed`);
    assert.equal(r.sent, CONCURRENT);
    assert.equal(inboxSize(server, "alice@localhost"), before + CONCURRENT);
    assert.ok(Date.now() - started < 60_000, "took too long");
    // Every message is there once, by its number.
    const store = openStore(storePath(server.dataDir));
    try {
      const numbers = store.all<{ body: Uint8Array }>("SELECT body FROM messages")
        .map((m) => /message number (\d+)/.exec(decoder.decode(m.body))?.[1])
        .filter((n) => n !== undefined);
      assert.equal(new Set(numbers).size, CONCURRENT);
    } finally {
      store.close();
    }
  });

  await t.step("past 500 open connections the next ones get 421 4.7.0", async () => {
    const conns: Deno.Conn[] = [];
    const firstLines: string[] = [];
    const firstLine = async (c: Deno.Conn) => {
      const b = new Uint8Array(512);
      let text = "";
      while (!text.includes("\r\n")) {
        const n = await c.read(b).catch(() => null);
        if (n === null) break;
        text += decoder.decode(b.subarray(0, n));
      }
      return text;
    };
    try {
      for (let batch = 0; batch < 11; batch++) {
        const opened = await Promise.all(
          Array.from({ length: 50 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
        );
        conns.push(...opened);
        firstLines.push(...await Promise.all(opened.map(firstLine)));
      }
      const served = firstLines.filter((l) => l.startsWith("220 ")).length;
      const refused = firstLines.filter((l) => /^421 4\.7\.0 /.test(l)).length;
      // Sessions of earlier steps may still be ending, so a few slots can be taken.
      assert.ok(served <= 500 && served >= 490, `served ${served}`);
      assert.equal(served + refused, conns.length, JSON.stringify(firstLines.slice(-2)));
    } finally {
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // closed by the server
        }
      }
    }
    // Once they are gone, new clients are served again.
    const deadline = Date.now() + 5000;
    for (;;) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      const line = await firstLine(c);
      c.close();
      if (line.startsWith("220 ")) break;
      assert.ok(Date.now() < deadline, `still refused: ${line}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  await t.step("64 KiB of random bytes as the first thing sent", async () => {
    const text = await throwGarbage(port, randomBytes(65_536));
    assert.match(text, /^220 mx\.test /);
    // Whatever else came back are complete, well-formed replies.
    for (const line of text.split("\r\n").filter(Boolean)) assert.match(line, /^\d{3}[ -]/);
  });

  await t.step("random bytes after EHLO, with and without line ends", async () => {
    for (let i = 0; i < 5; i++) {
      const garbage = randomBytes(8192 + i * 10_000);
      if (i % 2 === 0) { for (let j = 50; j < garbage.length; j += 97) garbage[j] = 0x0a; }
      const text = await throwGarbage(port, garbage, "EHLO garbage.test\r\n");
      assert.match(text, /^220 mx\.test [^]*\r\n250-mx\.test greets/);
    }
  });

  await t.step("random bytes inside DATA and after the end of data", async () => {
    const prefix = "EHLO g.test\r\nMAIL FROM:<g@remote.example>\r\nRCPT TO:<alice@localhost>\r\n" +
      "DATA\r\n";
    await throwGarbage(port, randomBytes(100_000), prefix);
    const garbage = new Uint8Array([...encoder.encode("x\r\n.\r\n"), ...randomBytes(20_000)]);
    await throwGarbage(port, garbage, prefix);
  });

  await t.step("random bytes as a TLS handshake (STARTTLS and implicit TLS)", async () => {
    const text = await throwGarbage(port, randomBytes(4096), "EHLO g.test\r\nSTARTTLS\r\n");
    assert.match(text, /\r\n220 2\.0\.0 /);
    await throwGarbage(submissions, randomBytes(4096));
    // A TLS record header that announces a huge record, then nothing.
    await throwGarbage(submissions, new Uint8Array([0x16, 0x03, 0x01, 0xff, 0xff, 1, 2, 3]));
  });

  await t.step("clients that vanish mid-command, mid-DATA and mid-BDAT", async () => {
    const partials = [
      "EHLO abrupt.test\r\nMAIL FROM:<a@remote",
      "EHLO abrupt.test\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@localhost>\r\nDATA\r\n" +
      "Subject: cut\r\n\r\nhalf a mess",
      "EHLO abrupt.test\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@localhost>\r\n" +
      "BDAT 1000 LAST\r\nonly a bit",
    ];
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(encoder.encode(partials[i % partials.length]));
        conn.close();
      }),
    );
  });

  await t.step("afterwards a normal client still gets its 250s", async () => {
    const before = inboxSize(server, "alice@localhost");
    const r = await smtplib({
      port,
      sender: "after@remote.example",
      recipients: ["alice@localhost"],
      message_b64: btoa("Subject: after the storm\r\n\r\nstill here\r\n"),
    });
    assert.equal(r.ok, true, JSON.stringify(r.error));
    assert.deepEqual(r.refused, {});
    assert.equal(inboxSize(server, "alice@localhost"), before + 1);
    const tls = await smtplib({ port: submissions, security: "ssl" });
    assert.equal(tls.ok, true, JSON.stringify(tls.error));
  });

  await t.step("the server is still running and stops with exit status 0", async () => {
    assert.equal(server.running, true);
    const { code, logs } = await server.stop();
    assert.equal(code, 0, logs.slice(-20).join("\n"));
    assert.ok(!logs.some((l) => /panicked|Uncaught|Unhandled/i.test(l)), "no crash traces");
    // Garbage is the client's fault: nothing may be logged as an internal error, a failed
    // STARTTLS handshake included.
    const errors = server.entries().filter((e) => e.level === "ERROR" || e.level === "FATAL");
    assert.deepEqual(errors.map((e) => e.message.slice(0, 300)), []);
  });
});

Deno.test("messages acknowledged with 250 survive a SIGKILL right after", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "postino-crash-test-" });
  try {
    const acknowledged: string[] = [];
    const server = await startPostino({
      dataDir,
      args: ["--dev", "--hostname", "mx.test", "--smtp", "127.0.0.1:0"],
    });
    try {
      const add = await server.cli(["user", "add", "alice@localhost", "--password-stdin"], "pw\n");
      assert.equal(add.code, 0, add.stderr);
      const port = server.addresses.smtp.port;
      // 20 clients pipeline a whole transaction each; the server dies at the first 250.
      const conns = await Promise.all(
        Array.from({ length: 20 }, () => Deno.connect({ hostname: "127.0.0.1", port })),
      );
      let killed: Promise<unknown> | undefined;
      await Promise.all(conns.map(async (conn, i) => {
        const text = "EHLO crash.test\r\nMAIL FROM:<c@remote.example>\r\n" +
          `RCPT TO:<alice@localhost>\r\nDATA\r\nSubject: crash ${i}\r\n\r\nnumber ${i}\r\n.\r\n`;
        await conn.write(encoder.encode(text)).catch(() => 0);
        const buf = new Uint8Array(4096);
        let received = "";
        for (;;) {
          const n = await conn.read(buf).catch(() => null);
          if (n === null) break;
          received += decoder.decode(buf.subarray(0, n));
          if (/\r\n250 2\.0\.0 OK: queued as /.test(received)) {
            acknowledged.push(`number ${i}`);
            killed ??= server.stop("SIGKILL");
            break;
          }
        }
        try {
          conn.close();
        } catch {
          // closed by the dying server
        }
      }));
      await killed;
    } finally {
      await Promise.resolve(server[Symbol.asyncDispose]()).catch(() => {});
    }
    assert.ok(acknowledged.length >= 1, "at least one message was acknowledged");
    const store = openStore(storePath(dataDir));
    try {
      const stored = store.all<{ body: Uint8Array }>("SELECT body FROM messages")
        .map((m) => /number \d+/.exec(decoder.decode(m.body))?.[0]);
      for (const n of acknowledged) assert.ok(stored.includes(n), `${n} was acknowledged but lost`);
    } finally {
      store.close();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("ConnectionLimits caps connections per IP, but not from loopback", () => {
  const limits = new ConnectionLimits();
  const slots = [];
  for (let i = 0; i < 20; i++) {
    const slot = limits.acquire("192.0.2.1");
    assert.ok("release" in slot);
    slots.push(slot);
  }
  assert.deepEqual(limits.acquire("192.0.2.1"), { refused: "per-ip" });
  assert.ok("release" in limits.acquire("192.0.2.2"), "another address is not affected");
  for (let i = 0; i < 50; i++) assert.ok("release" in limits.acquire("127.0.0.1"));
  assert.ok("release" in limits.acquire("::1"));
  slots[0].release();
  slots[0].release(); // twice is harmless
  assert.ok("release" in limits.acquire("192.0.2.1"), "a released slot can be taken again");
  assert.deepEqual(limits.acquire("192.0.2.1"), { refused: "per-ip" });
  assert.equal(limits.total, 20 + 1 + 50 + 1);
});

Deno.test("ConnectionLimits caps the total, loopback included", () => {
  const limits = new ConnectionLimits();
  const slots = [];
  for (let i = 0; i < 500; i++) {
    const slot = limits.acquire(`10.0.${i >> 8}.${i & 255}`);
    assert.ok("release" in slot, `connection ${i}`);
    slots.push(slot);
  }
  assert.deepEqual(limits.acquire("10.9.9.9"), { refused: "total" });
  assert.deepEqual(limits.acquire("127.0.0.1"), { refused: "total" });
  slots.pop()!.release();
  assert.ok("release" in limits.acquire("127.0.0.1"));
  assert.equal(limits.total, 500);
});

Deno.test("ConnectionLimits takes its caps from the options", () => {
  const limits = new ConnectionLimits({ maxConnections: 3, maxPerIp: 1, exemptLoopback: false });
  assert.ok("release" in limits.acquire("127.0.0.1"));
  assert.deepEqual(limits.acquire("127.0.0.1"), { refused: "per-ip" });
  assert.ok("release" in limits.acquire("192.0.2.1"));
  assert.ok("release" in limits.acquire("192.0.2.2"));
  assert.deepEqual(limits.acquire("192.0.2.3"), { refused: "total" });
});

Deno.test("isLoopback() knows 127/8 and ::1 only", () => {
  for (const ip of ["127.0.0.1", "127.1.2.3", "::1"]) assert.equal(isLoopback(ip), true, ip);
  for (const ip of ["192.0.2.1", "10.0.0.1", "::2", "1.127.0.0", "::ffff:127.0.0.1"]) {
    assert.equal(isLoopback(ip), false, ip);
  }
});
