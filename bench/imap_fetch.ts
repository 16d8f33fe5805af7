/**
 * IMAP: a 10,000-message INBOX of 2 KiB (filled over SMTP), measured with
 * the shared client ../shared/bench/imap-fetch.py (UID FETCH of metadata,
 * then bodies in batches of 200), then the server's RSS with 50 sessions
 * in IDLE.
 *
 *   deno run -A bench/imap_fetch.ts [--messages 10000] [--size 2048] [--idle 50]
 */
import { parseArgs } from "node:util";
import { sendMessages, startBenchServer, writeAll } from "./support.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "10000" },
    size: { type: "string", default: "2048" },
    idle: { type: "string", default: "50" },
  },
});
const count = Number(values.messages);
const size = Number(values.size);
const idlers = Number(values.idle);
const pass = "bench-password";
const args = ["--dev", "--smtp", "127.0.0.1:0", "--imap", "127.0.0.1:0"];
const client = new URL("../../shared/bench/imap-fetch.py", import.meta.url).pathname;

const filler = await startBenchServer(args);
try {
  await filler.cli(["user", "add", "reader@localhost", "--password-stdin"], `${pass}\n`);
  const fillers = 4;
  await Promise.all(Array.from({ length: fillers }, (_, i) =>
    sendMessages(
      filler.ports.smtp,
      "reader@localhost",
      Math.floor(count / fillers) + (i < count % fillers ? 1 : 0),
      size,
    )));
} finally {
  await filler.stop({ keepData: true });
}

const server = await startBenchServer(args, filler.dataDir);
try {
  for (const run of (Deno.env.get("BENCH_RUNS") ?? "cold warm").split(" ")) {
    const out = await new Deno.Command("python3", {
      args: [client, "127.0.0.1", String(server.ports.imap), "reader@localhost", pass],
    }).output();
    const text = new TextDecoder().decode(out.success ? out.stdout : out.stderr).trim();
    console.log(`imap_fetch ${run} ${text}`);
  }
  const before = server.peakRssKiB();
  const encoder = new TextEncoder();
  const conns: Deno.Conn[] = [];
  for (let i = 0; i < idlers; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.ports.imap });
    await writeAll(
      conn,
      encoder.encode(`a LOGIN reader@localhost ${pass}\r\nb SELECT INBOX\r\nc IDLE\r\n`),
    );
    conns.push(conn);
  }
  // Each session answers "+ idling" once it is in IDLE; wait until all have.
  const buf = new Uint8Array(64 * 1024);
  for (const conn of conns) {
    let seen = "";
    while (!seen.includes("+ idling")) {
      const n = await conn.read(buf);
      if (n === null) throw new Error("connection closed");
      seen = (seen + new TextDecoder().decode(buf.subarray(0, n))).slice(-4096);
    }
  }
  const rss = Deno.readTextFileSync(`/proc/${server.pid}/status`);
  console.log(
    `imap_fetch idle sessions=${idlers} rss=${
      Math.round(Number(/VmRSS:\s+(\d+)/.exec(rss)![1]) / 1024)
    } MB ` +
      `peak_rss=${Math.round(server.peakRssKiB() / 1024)} MB (peak before idling ${
        Math.round(before / 1024)
      } MB)`,
  );
  for (const conn of conns) conn.close();
} finally {
  await server.stop();
}
