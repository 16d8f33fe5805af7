/**
 * SMTP load: N concurrent connections each send M messages of S bytes to a
 * local user over the MX listener (MAIL/RCPT/DATA pipelined); prints
 * messages/second and the server's peak RSS.
 *
 *   deno run -A bench/smtp_load.ts [--connections 20] [--messages 200] [--size 1024] [--http-poll]
 *
 * With --http-poll the HTTP listener runs too and an admin, signed in as the
 * admin page is, fetches its live figures every second during the load:
 * serving the UI must not cost the mail path.
 */
import { parseArgs } from "node:util";
import { sendMessages, startBenchServer } from "./support.ts";

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "20" },
    messages: { type: "string", default: "200" },
    size: { type: "string", default: "1024" },
    "http-poll": { type: "boolean", default: false },
  },
});
const httpPoll = values["http-poll"];
const connections = Number(values.connections);
const perConnection = Number(values.messages);
const size = Number(values.size);

const server = await startBenchServer([
  "--dev",
  "--smtp",
  "127.0.0.1:0",
  ...(httpPoll ? ["--http", "127.0.0.1:0"] : []),
]);
let polling: { stop(): Promise<number> } | undefined;
try {
  await server.cli(["user", "add", "user@localhost", "--password-stdin"], "bench-password\n");
  if (httpPoll) {
    polling = await pollAdminPage(server.ports.http, "user@localhost", "bench-password");
  }
  const started = performance.now();
  const counts = await Promise.all(
    Array.from(
      { length: connections },
      () => sendMessages(server.ports.smtp, "user@localhost", perConnection, size),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const polls = await polling?.stop();
  const total = counts.reduce((a, b) => a + b, 0);
  console.log(
    `smtp_load connections=${connections} messages=${total} size=${size} ` +
      `${(total / seconds).toFixed(0)} msgs/s ${
        ((total * size) / seconds / 1e6).toFixed(1)
      } MB/s ` +
      `peak_rss=${Math.round(server.peakRssKiB() / 1024)} MB` +
      (polls === undefined ? "" : ` http_polls=${polls}`),
  );
} finally {
  await polling?.stop();
  await server.stop();
}

/** Signs in as the admin page does and fetches /api/v1/stats every second until stopped. */
async function pollAdminPage(port: number, address: string, password: string) {
  const base = `http://127.0.0.1:${port}`;
  const signIn = await fetch(`${base}/api/v1/session`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ address, password }),
  });
  if (signIn.status !== 201) throw new Error(`sign-in failed: ${signIn.status}`);
  const cookie = signIn.headers.get("set-cookie")!.split(";")[0];
  await signIn.body?.cancel();
  let count = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await fetch(`${base}/api/v1/stats`, { headers: { Cookie: cookie } });
      if (r.status !== 200) throw new Error(`stats failed: ${r.status}`);
      await r.json();
      count++;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return count;
    },
  };
}
