/**
 * `postino backup` of a large store while SMTP mail keeps coming in: how long
 * the backup takes, and whether the server went on accepting mail meanwhile
 * (messages per second before, during and after it, and the longest wait
 * between two acknowledgements during it).
 *
 *   deno run -A bench/backup_load.ts [--store-size 1G] [--message-size 1M] [--clients 4]
 *                                     [--load-size 10K] [--window 5]
 *
 * The store is filled quickly by storing `--message-size` messages directly
 * with the store's own delivery code (not over SMTP) until it is
 * `--store-size`; then the server starts on it, `--clients` smtplib
 * connections deliver `--load-size` messages as fast as they are answered
 * (tests/support/smtp_stream.py, every 250 timed), and after `--window`
 * seconds of load `postino backup` runs; the load goes on for `--window`
 * seconds after it. BENCH_GAPS=1 also prints the five longest waits for a 250
 * during the backup and when they began.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseSize } from "../src/config.ts";
import { addDomain, addUser, findUser } from "../src/store/accounts.ts";
import { openStore, storePath } from "../src/store/db.ts";
import { deliver } from "../src/store/mailboxes.ts";
import { startSmtpStream } from "../tests/support/smtp_stream.ts";
import { startBenchServer } from "./support.ts";

const { values } = parseArgs({
  options: {
    "store-size": { type: "string", default: "1G" },
    "message-size": { type: "string", default: "1M" },
    clients: { type: "string", default: "4" },
    "load-size": { type: "string", default: "10K" },
    window: { type: "string", default: "5" },
  },
});
const size = (flag: string) => {
  const n = parseSize(values[flag as keyof typeof values] as string);
  if (!n) throw new Error(`--${flag}: a size such as 10K, 1M or 1G`);
  return n;
};
const storeSize = size("store-size");
const messageSize = size("message-size");
const loadSize = size("load-size");
const clients = Number(values.clients);
const windowMs = Number(values.window) * 1000;
const MiB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// 1. A store of the size asked, filled directly.
const dataDir = await Deno.makeTempDir({ prefix: "postino-bench-backup-" });
const filled = performance.now();
{
  const store = openStore(storePath(dataDir));
  addDomain(store, "localhost");
  addUser(store, "user@localhost", "not a real hash");
  const userId = findUser(store, "user@localhost")!.id;
  const line = new TextEncoder().encode("0123456789abcdefghijklmnopqrstuvwxyz".repeat(2) + "\r\n");
  const body = new Uint8Array(messageSize);
  for (let i = 0; i < messageSize; i += line.length) body.set(line.subarray(0, messageSize - i), i);
  const head = (n: number) =>
    new TextEncoder().encode(`From: filler@remote.example\r\nSubject: filler ${n}\r\n\r\n`);
  let n = 0;
  while (Deno.statSync(store.path).size < storeSize) {
    store.transaction(() => {
      for (let i = 0; i < 32; i++, n++) {
        const h = head(n);
        const bytes = new Uint8Array(h.length + body.length);
        bytes.set(h);
        bytes.set(body, h.length);
        deliver(store, { body: bytes, mailboxes: [{ userId }], dotLines: false });
      }
    });
    store.db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  store.close();
}
const storeBytes = Deno.statSync(storePath(dataDir)).size;
console.log(
  `backup_load: store of ${(storeBytes / MiB).toFixed(0)} MiB (${
    (messageSize / MiB).toFixed(2)
  } MiB messages) filled in ${((performance.now() - filled) / 1000).toFixed(1)} s`,
);

// 2. The server on it, and the load.
const server = await startBenchServer(["--smtp", "127.0.0.1:0"], dataDir);
const backupFile = join(await Deno.makeTempDir({ prefix: "postino-bench-backup-out-" }), "b.db");
try {
  const load = startSmtpStream({
    port: server.ports.smtp,
    recipients: ["user@localhost"],
    clients,
    perClient: 1_000_000,
    size: loadSize,
    prefix: "bench",
  }, 3_600_000);
  await load.waitFor(1);
  const loadStarted = Date.now();
  await sleep(windowMs);

  // 3. The backup, as an operator runs it.
  const backupStarted = Date.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname, "backup", backupFile],
    env: { POSTINO_DATA: dataDir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const backupEnded = Date.now();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  const summary = new TextDecoder().decode(out.stdout).trim();
  await sleep(windowMs);
  const loadEnded = Date.now();
  load.kill();

  const acks = load.acks.map((a) => a.t);
  const within = (from: number, to: number) => acks.filter((t) => t >= from && t < to);
  const rate = (from: number, to: number) => within(from, to).length / ((to - from) / 1000);
  const during = within(backupStarted, backupEnded);
  const edges = [backupStarted, ...during, backupEnded];
  const longestGap = Math.max(...edges.slice(1).map((t, i) => t - edges[i]));
  if (Deno.env.get("BENCH_GAPS")) {
    // The five longest waits, and when into the backup each began.
    const gaps = edges.slice(1).map((t, i) => [t - edges[i], edges[i] - backupStarted]);
    gaps.sort((a, b) => b[0] - a[0]);
    console.log(
      `backup_load: longest waits ${
        gaps.slice(0, 5).map(([g, at]) => `${g.toFixed(0)} ms at +${(at / 1000).toFixed(1)} s`)
          .join(", ")
      }`,
    );
  }
  const reported = /, ([\d.]+) s$/.exec(summary)?.[1];
  const backupBytes = Deno.statSync(backupFile).size;
  const seconds = (backupEnded - backupStarted) / 1000;
  console.log(`backup_load: ${summary}`);
  console.log(
    `backup_load: backup of ${(backupBytes / MiB).toFixed(0)} MiB in ${seconds.toFixed(1)} s ` +
      `wall (${reported} s copy and check, ${
        (backupBytes / MiB / Number(reported)).toFixed(0)
      } MiB/s), store ${(storeBytes / MiB).toFixed(0)} MiB`,
  );
  console.log(
    `backup_load: SMTP with ${clients} smtplib clients of ${loadSize} B messages: ` +
      `${rate(loadStarted, backupStarted).toFixed(0)} msg/s before, ` +
      `${rate(backupStarted, backupEnded).toFixed(0)} msg/s during (${during.length} messages), ` +
      `${rate(backupEnded, loadEnded).toFixed(0)} msg/s after; ` +
      `longest wait between two 250s during the backup ${longestGap.toFixed(0)} ms`,
  );
} finally {
  await server.stop();
  await Deno.remove(join(backupFile, ".."), { recursive: true }).catch(() => {});
}
