/**
 * A measured `postino import` (for the memory test and bench/import.ts): a
 * generated mbox of N messages of about S bytes, written as a stream, and
 * the import run as its own process whose peak RSS (VmHWM) is read from
 * /proc while it runs.
 */
import { MAIN_TS } from "./server.ts";

const DENO_JSON = new URL("../../deno.json", import.meta.url).pathname;
/** The V8 flags the executable is compiled with (deno.json's compile task). */
const V8_FLAGS = (JSON.parse(Deno.readTextFileSync(DENO_JSON)).tasks.compile as string).split(" ")
  .filter((arg) => arg.startsWith("--v8-flags="));

const encoder = new TextEncoder();

/**
 * Writes an mbox of `count` messages of about `size` bytes each (LF line
 * ends, distinct Message-IDs, 76-character body lines), a megabyte at a
 * time; gives its size in bytes.
 */
export async function writeTestMbox(path: string, count: number, size: number): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  let total = 0;
  try {
    const line = "The quick brown fox jumps over the lazy dog, again and again and again. 0123\n";
    let pending = "";
    for (let i = 0; i < count; i++) {
      const head = `From sender@remote.example Mon Jun  3 10:00:00 2024\n` +
        `From: Sender <sender@remote.example>\nTo: user@localhost\nSubject: message ${i}\n` +
        `Date: Mon, 03 Jun 2024 10:00:00 +0000\nMessage-ID: <${i}.bench@remote.example>\n\n`;
      const lines = Math.max(1, Math.round((size - head.length) / line.length));
      pending += `${head}${line.repeat(lines)}\n`;
      if (pending.length > 1 << 20) {
        const bytes = encoder.encode(pending);
        total += bytes.length;
        await writeAll(file, bytes);
        pending = "";
      }
    }
    const bytes = encoder.encode(pending);
    total += bytes.length;
    await writeAll(file, bytes);
  } finally {
    file.close();
  }
  return total;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

/** What a measured command did. */
export interface MeasuredRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Its peak resident set size (VmHWM), in KiB. */
  peakRssKiB: number;
  seconds: number;
}

/** Runs `postino <args>` as the executable would (its V8 flags) and measures its peak RSS. */
export async function measuredCli(
  args: string[],
  options: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<MeasuredRun> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ...V8_FLAGS, "--config", DENO_JSON, MAIN_TS, ...args],
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let peak = 0;
  const look = () => {
    try {
      const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
      peak = Math.max(peak, Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0));
    } catch {
      // gone
    }
  };
  const timer = setInterval(look, 10);
  const kill = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
  try {
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      peakRssKiB: peak,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    clearInterval(timer);
    clearTimeout(kill);
  }
}
