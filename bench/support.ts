/** Shared pieces of the benchmarks: start a Postino server in a temp dir and read its peak RSS. */
import { startDnsStub } from "../tests/support/dns_stub.ts";

const root = new URL("../", import.meta.url).pathname;

/** A server started for a benchmark. */
export interface BenchServer {
  pid: number;
  dataDir: string;
  ports: Record<string, number>;
  cli(args: string[], stdin?: string): Promise<void>;
  /** Peak resident set size so far (VmHWM), in KiB. */
  peakRssKiB(): number;
  /** Stops the server and removes its data unless `keepData` (to restart on it). */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/**
 * Starts `postino serve` with `args` (listeners on port 0) and waits until it
 * is ready; on `dataDir` when given (a restart), else on a new temp dir.
 */
export async function startBenchServer(args: string[], dataDir?: string): Promise<BenchServer> {
  dataDir ??= await Deno.makeTempDir({ prefix: "postino-bench-" });
  // A local DNS that knows nothing stands in for a caching resolver: the inbound checks run
  // (SPF/DKIM/DMARC "none") at loopback speed, and nothing asks the system's DNS.
  const dns = await startDnsStub({}, { negativeTtl: 300 });
  // BENCH_DENO_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server.
  const denoFlags = (Deno.env.get("BENCH_DENO_FLAGS") ?? "").split(" ").filter(Boolean);
  const run = (extra: string[], flags: string[] = []) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", ...flags, `${root}main.ts`, ...extra, "--data", dataDir],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
  // Logging at info, as in production; the bound ports are read from these lines.
  // The V8 flags the dev and compile tasks use (deno.json): a smaller young generation.
  const serveFlags = ["--v8-flags=--max-semi-space-size=4", ...denoFlags];
  const child = run(
    ["serve", "--log-format", "json", "--log-level", "info", "--dns", dns.address, ...args],
    serveFlags,
  )
    .spawn();
  child.stdin.close();
  const ports: Record<string, number> = {};
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { value, done } = await lines.read();
    if (done) throw new Error(`server exited early:\n${buffered}`);
    buffered += value;
    let nl;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      const rec = JSON.parse(line);
      if (rec.properties?.listener && rec.properties?.address) {
        ports[rec.properties.listener] = Number(rec.properties.address.split(":").pop());
      }
      if (String(rec.message).includes("ready")) {
        // Keep draining stderr so the server never blocks on a full pipe.
        (async () => {
          while (!(await lines.read()).done) { /* drain */ }
        })();
        child.stdout.cancel();
        return {
          pid: child.pid,
          dataDir: dataDir!,
          ports,
          async cli(args: string[], stdin?: string) {
            const c = run(args).spawn();
            const w = c.stdin.getWriter();
            if (stdin) await w.write(new TextEncoder().encode(stdin));
            await w.close();
            const out = await c.output();
            if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
          },
          peakRssKiB() {
            const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
            return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
          },
          async stop(options = {}) {
            child.kill("SIGTERM");
            await child.status;
            await dns.close();
            if (!options.keepData) await Deno.remove(dataDir!, { recursive: true });
          },
        };
      }
    }
  }
  child.kill("SIGKILL");
  await dns.close();
  throw new Error("server did not get ready in 30 s");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Writes all of `bytes` (Deno.Conn.write may write only part of a large buffer). */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

/** A message of `size` octets, dot-terminated for DATA. */
function message(size: number, rcpt: string): Uint8Array {
  const head = `From: load@bench.test\r\nTo: ${rcpt}\r\nSubject: load\r\n\r\n`;
  const line = "x".repeat(76) + "\r\n";
  let body = "";
  while (head.length + body.length < size) body += line;
  return encoder.encode(head + body.slice(0, Math.max(0, size - head.length)) + "\r\n.\r\n");
}

/** Reads replies until `count` final reply lines (code followed by a space) have arrived. */
export async function readReplies(conn: Deno.Conn, state: { buf: string }, count: number) {
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

/** Sends `count` messages of `size` octets to `rcpt` over one SMTP connection; returns how many were accepted. */
export async function sendMessages(
  port: number,
  rcpt: string,
  count: number,
  size: number,
): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const state = { buf: "" };
  let sent = 0;
  try {
    await readReplies(conn, state, 1);
    await writeAll(conn, encoder.encode("EHLO bench.test\r\n"));
    await readReplies(conn, state, 1);
    const body = message(size, rcpt);
    const envelope = encoder.encode(`MAIL FROM:<load@bench.test>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
    for (let i = 0; i < count; i++) {
      await writeAll(conn, envelope);
      const codes = await readReplies(conn, state, 3);
      if (codes.join() !== "250,250,354") throw new Error(`unexpected replies ${codes}`);
      await writeAll(conn, body);
      const [code] = await readReplies(conn, state, 1);
      if (code !== "250") throw new Error(`DATA refused: ${code}`);
      sent++;
    }
    await writeAll(conn, encoder.encode("QUIT\r\n"));
  } finally {
    conn.close();
  }
  return sent;
}
