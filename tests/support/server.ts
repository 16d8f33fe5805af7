/**
 * Runs the real `postino` as a child process for black-box tests: `serve` on
 * the ports it is given (use port 0), with JSON logs on stderr that tell which
 * addresses it bound, and management commands on the same data directory.
 *
 * Everything is bounded: a server that is not ready within 20 s, a command
 * that does not finish within its timeout, or a server that does not stop
 * within 15 s fails the test with what it printed, instead of hanging it.
 *
 * ```ts
 * await using server = await startPostino({ args: ["--dev", "--smtp", "127.0.0.1:0"] });
 * const { port } = server.addresses.smtp;
 * ```
 */
import { fileURLToPath } from "node:url";
import { openStore, type Store, storePath } from "../../src/store/db.ts";

/** The repository root, from this file's location (tests/support/). */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
/** The entry point the tests run. */
export const MAIN_TS: string = fileURLToPath(new URL("../../main.ts", import.meta.url));
const DENO_JSON = fileURLToPath(new URL("../../deno.json", import.meta.url));

/** A DNS server address where nothing answers (queries time out, never reach the system's). */
export const NO_DNS = "127.0.0.1:1";

/** How long `serve` may take to log its ready line. */
const READY_TIMEOUT_MS = 20_000;
/** How long `serve` may take to exit after a stop signal (its grace period is 10 s). */
const STOP_TIMEOUT_MS = 15_000;
/** Default limit for one management command. */
const CLI_TIMEOUT_MS = 30_000;

/** A bound listener address as logged by `serve`. */
export interface BoundAddress {
  hostname: string;
  port: number;
}

/** One JSON log line of `serve --log-format json` (LogTape's JSON Lines format). */
export interface LogEntry {
  "@timestamp": string;
  level: string;
  message: string;
  logger: string;
  properties: Record<string, unknown>;
}

/** What a finished command printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** Appended as `--data DIR`; leave out to test `$POSTINO_DATA` or commands without data. */
  dataDir?: string;
  /** Written to standard input, which is then closed; without it stdin is empty. */
  stdin?: string;
  /** Extra environment; POSTINO_* of the test's own environment never leak in. */
  env?: Record<string, string>;
  /** Working directory. @default the system's temp dir, so a stray ./data never lands in the repo */
  cwd?: string;
  /** The command is killed and the test fails after this long. @default 30000 */
  timeoutMs?: number;
}

/** Options of {@link startPostino}. */
export interface StartOptions {
  /** More `serve` arguments, e.g. `["--dev", "--smtp", "127.0.0.1:0"]`. */
  args?: string[];
  env?: Record<string, string>;
  /** Use this data directory (kept afterwards); by default a temp dir is made and removed. */
  dataDir?: string;
}

/** A running `postino serve`. */
export interface RunningPostino extends AsyncDisposable {
  readonly dataDir: string;
  readonly pid: number;
  /** Bound address by listener name, from the `listening on` log lines. */
  readonly addresses: Record<string, BoundAddress>;
  /** Every stderr line so far (stderr is read in the background until exit). */
  logs(): string[];
  /** The stderr lines that are JSON log entries, parsed. */
  entries(): LogEntry[];
  /** Waits (bounded) for a log entry that matches; gives it, or throws with the logs. */
  waitForLog(
    match: string | RegExp | ((e: LogEntry) => boolean),
    timeoutMs?: number,
  ): Promise<LogEntry>;
  /** Runs `main.ts <args> --data DIR` against this server's data. */
  cli(args: string[], stdin?: string): Promise<CliResult>;
  /** True until the process has exited. */
  readonly running: boolean;
  /** Sends `signal` and waits (bounded) for the exit; gives the exit code and all logs. */
  stop(signal?: Deno.Signal): Promise<{ code: number; logs: string[] }>;
}

/** The child's environment: ours without POSTINO_* (and without colour), plus `extra`. */
function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(Deno.env.toObject())) {
    if (!key.startsWith("POSTINO_")) env[key] = value;
  }
  return { ...env, NO_COLOR: "1", ...extra };
}

function tempDir(): string {
  return Deno.env.get("TMPDIR") || "/tmp";
}

/** The V8 flags Postino ships with, as the dev task gives them: tests run the server as shipped. */
const V8_FLAGS = (JSON.parse(Deno.readTextFileSync(DENO_JSON)).tasks.dev as string).split(" ")
  .filter((arg) => arg.startsWith("--v8-flags="));

function denoArgs(args: string[]): string[] {
  return ["run", "--allow-all", ...V8_FLAGS, "--config", DENO_JSON, MAIN_TS, ...args];
}

/** Parses `127.0.0.1:2525` or `[::1]:25` (as logged by `serve`). */
export function parseLoggedAddress(text: string): BoundAddress {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(text);
  if (!m) throw new Error(`Cannot parse logged address ${JSON.stringify(text)}`);
  return { hostname: m[1] ?? m[2], port: Number(m[3]) };
}

/** A promise that rejects after `ms`, with a way to cancel its timer. */
function deadline(ms: number, message: () => string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

/** Reads a byte stream as lines, calling `onLine` for each; resolves at its end. */
async function readLines(stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) onLine(line.replace(/\r$/, ""));
  }
  if (rest) onLine(rest);
}

/**
 * Runs `main.ts <args> [--data DIR]` to its end, bounded by `timeoutMs`.
 * Use it for management commands and for `serve` runs that are expected to fail.
 */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const full = options.dataDir === undefined ? args : [...args, "--data", options.dataDir];
  const child = new Deno.Command(Deno.execPath(), {
    args: denoArgs(full),
    env: childEnv(options.env),
    clearEnv: true,
    cwd: options.cwd ?? tempDir(),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    // A command that exits before reading closes the pipe; that is its answer, not ours.
    await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  const output = child.output();
  const limit = deadline(
    options.timeoutMs ?? CLI_TIMEOUT_MS,
    () => `postino ${args.join(" ")} timed out`,
  );
  try {
    const { code, stdout, stderr } = await Promise.race([output, limit.promise]);
    const decoder = new TextDecoder();
    return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
  } catch (err) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    const { stdout, stderr } = await output;
    const decoder = new TextDecoder();
    throw new Error(
      `${(err as Error).message}\nstdout:\n${decoder.decode(stdout)}\nstderr:\n${
        decoder.decode(stderr)
      }`,
    );
  } finally {
    limit.clear();
  }
}

/**
 * Starts `main.ts serve --data DIR --log-format json --log-level debug ...args`
 * and resolves once it has logged its ready line, with the addresses it bound.
 * Rejects (and cleans up) when it exits first or is not ready within 20 s.
 */
export async function startPostino(options: StartOptions = {}): Promise<RunningPostino> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "postino-test-" });
  // Without a DNS stub of its own, a test gets no inbound SPF/DKIM/DMARC checks either: their
  // lookups would only time out against NO_DNS. Tests of those checks bring a stub.
  const ownDns = options.args?.includes("--dns") ?? false;
  const env = ownDns ? options.env : { POSTINO_INBOUND_CHECKS: "false", ...options.env };
  const child = new Deno.Command(Deno.execPath(), {
    args: denoArgs([
      "serve",
      "--data",
      dataDir,
      "--log-format",
      "json",
      "--log-level",
      "debug",
      // No test may ask the system's DNS: unless a test brings its own stub, lookups go to a
      // loopback port where nothing answers, so remote deliveries just wait (temporary).
      ...(ownDns ? [] : ["--dns", NO_DNS]),
      ...(options.args ?? []),
    ]),
    env: childEnv(env),
    clearEnv: true,
    cwd: tempDir(),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  const lines: string[] = [];
  const entries: LogEntry[] = [];
  const addresses: Record<string, BoundAddress> = {};
  const waiters = new Set<() => void>();
  let running = true;
  const onLine = (line: string) => {
    lines.push(line);
    let entry: LogEntry | undefined;
    try {
      entry = JSON.parse(line);
    } catch {
      // not a log entry (a Deno warning, a stack trace): kept in lines only
    }
    if (entry && typeof entry === "object" && typeof entry.message === "string") {
      entries.push(entry);
      const { listener, address } = entry.properties ?? {};
      if (
        entry.message.includes("listening on") && typeof listener === "string" &&
        typeof address === "string"
      ) {
        addresses[listener] = parseLoggedAddress(address);
      }
    }
    for (const wake of waiters) wake();
  };
  const stderrDone = readLines(child.stderr, onLine).catch(() => {});
  const stdoutDone = new Response(child.stdout).text().catch(() => "");
  const status = child.status.then((s) => {
    running = false;
    for (const wake of waiters) wake();
    return s;
  });
  /** Resolves when stderr and stdout are fully read and the process has exited. */
  const finished = Promise.all([status, stderrDone, stdoutDone]).then(([s]) => s);

  const matcher = (match: string | RegExp | ((e: LogEntry) => boolean)) =>
    typeof match === "function"
      ? match
      : typeof match === "string"
      ? (e: LogEntry) => e.message.includes(match)
      : (e: LogEntry) => match.test(e.message);

  const waitForLog = async (
    match: string | RegExp | ((e: LogEntry) => boolean),
    timeoutMs = 10_000,
  ): Promise<LogEntry> => {
    const test = matcher(match);
    const limit = deadline(
      timeoutMs,
      () => `No log entry matching ${String(match)} within ${timeoutMs} ms:\n${lines.join("\n")}`,
    );
    let wake: () => void = () => {};
    try {
      for (;;) {
        const found = entries.find(test);
        if (found) return found;
        if (!running) {
          await finished;
          const late = entries.find(test);
          if (late) return late;
          throw new Error(
            `postino exited before logging ${String(match)}:\n${lines.join("\n")}`,
          );
        }
        await Promise.race([
          new Promise<void>((resolve) => waiters.add(wake = resolve)),
          limit.promise,
        ]);
        waiters.delete(wake);
      }
    } finally {
      waiters.delete(wake);
      limit.clear();
    }
  };

  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (running) {
      try {
        child.kill(signal);
      } catch {
        // exited meanwhile
      }
    }
    const limit = deadline(
      STOP_TIMEOUT_MS,
      () =>
        `postino did not stop within ${STOP_TIMEOUT_MS} ms after ${signal}:\n${lines.join("\n")}`,
    );
    try {
      const { code } = await Promise.race([finished, limit.promise]);
      return { code, logs: [...lines] };
    } catch (err) {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone
      }
      await finished;
      throw err;
    } finally {
      limit.clear();
    }
  };

  const cleanup = async () => {
    if (running) await stop("SIGKILL").catch(() => {});
    await finished;
    if (ownDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };

  try {
    await waitForLog("ready", READY_TIMEOUT_MS);
  } catch (err) {
    await cleanup();
    throw err;
  }

  return {
    dataDir,
    pid: child.pid,
    addresses,
    logs: () => [...lines],
    entries: () => [...entries],
    waitForLog,
    cli: (args, stdin) => runCli(args, { dataDir, stdin, env }),
    get running() {
      return running;
    },
    stop,
    async [Symbol.asyncDispose]() {
      try {
        if (running) await stop();
      } finally {
        await cleanup();
      }
    },
  };
}

/** Opens the running server's store (a second SQLite connection), runs `fn`, closes. */
export function withStore<T>(server: RunningPostino, fn: (store: Store) => T): T {
  const store = openStore(storePath(server.dataDir));
  try {
    return fn(store);
  } finally {
    store.close();
  }
}
