/**
 * POP3 retrieval: a mailbox of N messages of S bytes (filled over SMTP),
 * retrieved with RETR over one connection; prints messages/second and
 * MB/second. Then the server's peak RSS while it serves one 20 MiB message to
 * 10 clients at once.
 *
 *   deno run -A bench/pop3_retr.ts [--messages 1000] [--size 10240] [--big-clients 10]
 */
import { parseArgs } from "node:util";
import { sendMessages, startBenchServer, writeAll } from "./support.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "1000" },
    size: { type: "string", default: "10240" },
    "big-clients": { type: "string", default: "10" },
    "big-size": { type: "string", default: String(20 * 1024 * 1024) },
  },
});
const count = Number(values.messages);
const size = Number(values.size);
const bigClients = Number(values["big-clients"]);
const bigSize = Number(values["big-size"]);

const encoder = new TextEncoder();

/** A minimal POP3 client: commands out, replies and dot-terminated bodies in. */
class Pop3Client {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  #chunk = new Uint8Array(256 * 1024);

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  static async login(port: number, user: string, pass: string): Promise<Pop3Client> {
    const c = new Pop3Client(await Deno.connect({ hostname: "127.0.0.1", port }));
    await c.#line();
    await c.command(`USER ${user}`);
    await c.command(`PASS ${pass}`);
    return c;
  }

  async #more(): Promise<void> {
    const n = await this.#conn.read(this.#chunk);
    if (n === null) throw new Error("connection closed");
    const merged = new Uint8Array(this.#buf.length + n);
    merged.set(this.#buf);
    merged.set(this.#chunk.subarray(0, n), this.#buf.length);
    this.#buf = merged;
  }

  async #line(): Promise<string> {
    for (;;) {
      const i = this.#buf.indexOf(0x0a);
      if (i >= 0) {
        const line = new TextDecoder().decode(this.#buf.subarray(0, i + 1));
        this.#buf = this.#buf.subarray(i + 1);
        if (line.startsWith("-ERR")) throw new Error(line);
        return line;
      }
      await this.#more();
    }
  }

  async command(text: string): Promise<string> {
    await writeAll(this.#conn, encoder.encode(`${text}\r\n`));
    return await this.#line();
  }

  /** RETR: returns the octets of the dot-stuffed body received; keeps none of it. */
  async retr(n: number): Promise<number> {
    await this.command(`RETR ${n}`);
    let received = 0;
    let view = this.#buf;
    this.#buf = new Uint8Array(0);
    for (;;) {
      const end = indexOfTerminator(view, 0);
      if (end >= 0) {
        this.#buf = view.slice(end + 5);
        return received + end + 2;
      }
      // Keep the last four bytes: the terminator may straddle two reads.
      const keep = Math.min(4, view.length);
      received += view.length - keep;
      const n = await this.#conn.read(this.#chunk);
      if (n === null) throw new Error("connection closed");
      const next = new Uint8Array(keep + n);
      next.set(view.subarray(view.length - keep));
      next.set(this.#chunk.subarray(0, n), keep);
      view = next;
    }
  }

  async quit(): Promise<void> {
    await this.command("QUIT");
    this.#conn.close();
  }
}

/** Index of "\r\n.\r\n" at or after `from`, or -1. */
function indexOfTerminator(buf: Uint8Array, from: number): number {
  for (let i = buf.indexOf(0x0d, from); i >= 0; i = buf.indexOf(0x0d, i + 1)) {
    if (
      buf[i + 1] === 0x0a && buf[i + 2] === 0x2e && buf[i + 3] === 0x0d && buf[i + 4] === 0x0a
    ) return i;
  }
  return -1;
}

const args = [
  "--dev",
  "--smtp",
  "127.0.0.1:0",
  "--pop3",
  "127.0.0.1:0",
  "--max-message-size",
  "64M",
];
const pass = "bench-password";

// Fill the mailboxes over SMTP, then restart so that the figures below are POP3's alone.
const filler = await startBenchServer(args);
try {
  await filler.cli(["user", "add", "reader@localhost", "--password-stdin"], `${pass}\n`);
  const fillers = 4;
  await Promise.all(
    Array.from({ length: fillers }, (_, i) =>
      sendMessages(
        filler.ports.smtp,
        "reader@localhost",
        Math.floor(count / fillers) + (i < count % fillers ? 1 : 0),
        size,
      )),
  );
  for (let i = 0; i < bigClients; i++) {
    await filler.cli(["user", "add", `big${i}@localhost`, "--password-stdin"], `${pass}\n`);
    await sendMessages(filler.ports.smtp, `big${i}@localhost`, 1, bigSize);
  }
} finally {
  await filler.stop({ keepData: true });
}

const server = await startBenchServer(args, filler.dataDir);
try {
  const client = await Pop3Client.login(server.ports.pop3, "reader@localhost", pass);
  const started = performance.now();
  const stat = await client.command("STAT");
  const total = Number(stat.split(" ")[1]);
  let bytes = 0;
  for (let i = 1; i <= total; i++) bytes += await client.retr(i);
  const seconds = (performance.now() - started) / 1000;
  await client.quit();
  console.log(
    `pop3_retr msgs=${total} size=${size} ${(total / seconds).toFixed(0)} msgs/s ` +
      `${(bytes / seconds / 1e6).toFixed(1)} MB/s`,
  );

  // One 20 MiB message to each of several clients at once (one user each: a maildrop is locked).
  const rssBefore = server.peakRssKiB();
  const big = await Promise.all(
    Array.from(
      { length: bigClients },
      (_, i) => Pop3Client.login(server.ports.pop3, `big${i}@localhost`, pass),
    ),
  );
  const retrStarted = performance.now();
  const got = await Promise.all(big.map((c) => c.retr(1)));
  const retrSeconds = (performance.now() - retrStarted) / 1000;
  await Promise.all(big.map((c) => c.quit()));
  console.log(
    `pop3_retr big clients=${bigClients} size=${bigSize} ` +
      `${(got.reduce((a, b) => a + b, 0) / retrSeconds / 1e6).toFixed(1)} MB/s ` +
      `peak_rss=${Math.round(server.peakRssKiB() / 1024)} MB ` +
      `(${Math.round(rssBefore / 1024)} MB before)`,
  );
} finally {
  await server.stop();
}
