/**
 * SMTP load: N concurrent connections each send M messages of S bytes to a
 * local user over the MX listener (MAIL/RCPT/DATA pipelined); prints
 * messages/second and the server's peak RSS.
 *
 *   deno run -A bench/smtp_load.ts [--connections 20] [--messages 200] [--size 1024]
 */
import { parseArgs } from "node:util";
import { startBenchServer } from "./support.ts";

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "20" },
    messages: { type: "string", default: "200" },
    size: { type: "string", default: "1024" },
  },
});
const connections = Number(values.connections);
const perConnection = Number(values.messages);
const size = Number(values.size);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function message(i: number): Uint8Array {
  const head = `From: load@bench.test\r\nTo: user@localhost\r\nSubject: load ${i}\r\n\r\n`;
  const line = "x".repeat(76) + "\r\n";
  let body = "";
  while (head.length + body.length < size) body += line;
  return encoder.encode(head + body.slice(0, Math.max(0, size - head.length)) + "\r\n.\r\n");
}

/** Reads replies until `count` final reply lines (code followed by a space) have arrived. */
async function readReplies(conn: Deno.Conn, state: { buf: string }, count: number) {
  const chunk = new Uint8Array(64 * 1024);
  const codes: string[] = [];
  while (codes.length < count) {
    let nl;
    while (codes.length < count && (nl = state.buf.indexOf("\r\n")) >= 0) {
      const line = state.buf.slice(0, nl);
      state.buf = state.buf.slice(nl + 2);
      if (line[3] === " ") codes.push(line.slice(0, 3));
    }
    if (codes.length >= count) break;
    const n = await conn.read(chunk);
    if (n === null) throw new Error("connection closed");
    state.buf += decoder.decode(chunk.subarray(0, n));
  }
  return codes;
}

async function client(port: number, id: number): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const state = { buf: "" };
  let sent = 0;
  try {
    await readReplies(conn, state, 1);
    await conn.write(encoder.encode("EHLO bench.test\r\n"));
    await readReplies(conn, state, 1);
    const body = message(id);
    for (let i = 0; i < perConnection; i++) {
      await conn.write(
        encoder.encode("MAIL FROM:<load@bench.test>\r\nRCPT TO:<user@localhost>\r\nDATA\r\n"),
      );
      const codes = await readReplies(conn, state, 3);
      if (codes.join() !== "250,250,354") throw new Error(`unexpected replies ${codes}`);
      await conn.write(body);
      const [code] = await readReplies(conn, state, 1);
      if (code !== "250") throw new Error(`DATA refused: ${code}`);
      sent++;
    }
    await conn.write(encoder.encode("QUIT\r\n"));
  } finally {
    conn.close();
  }
  return sent;
}

const server = await startBenchServer(["--dev", "--smtp", "127.0.0.1:0"]);
try {
  await server.cli(["user", "add", "user@localhost", "--password-stdin"], "bench-password\n");
  const started = performance.now();
  const counts = await Promise.all(
    Array.from({ length: connections }, (_, i) => client(server.ports.smtp, i)),
  );
  const seconds = (performance.now() - started) / 1000;
  const total = counts.reduce((a, b) => a + b, 0);
  console.log(
    `smtp_load connections=${connections} messages=${total} size=${size} ` +
      `${(total / seconds).toFixed(0)} msgs/s ${
        ((total * size) / seconds / 1e6).toFixed(1)
      } MB/s ` +
      `peak_rss=${Math.round(server.peakRssKiB() / 1024)} MB`,
  );
} finally {
  await server.stop();
}
