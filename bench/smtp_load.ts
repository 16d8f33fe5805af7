/**
 * SMTP load: N concurrent connections each send M messages of S bytes to a
 * local user over the MX listener (MAIL/RCPT/DATA pipelined); prints
 * messages/second and the server's peak RSS.
 *
 *   deno run -A bench/smtp_load.ts [--connections 20] [--messages 200] [--size 1024]
 */
import { parseArgs } from "node:util";
import { sendMessages, startBenchServer } from "./support.ts";

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

const server = await startBenchServer(["--dev", "--smtp", "127.0.0.1:0"]);
try {
  await server.cli(["user", "add", "user@localhost", "--password-stdin"], "bench-password\n");
  const started = performance.now();
  const counts = await Promise.all(
    Array.from(
      { length: connections },
      () => sendMessages(server.ports.smtp, "user@localhost", perConnection, size),
    ),
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
