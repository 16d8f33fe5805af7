/**
 * A steady SMTP load (smtp_stream.py: smtplib clients on threads) whose
 * acknowledged messages are known as they come: each with the time of its
 * 250, so a test can tell which ones were acknowledged before some moment.
 */

const SCRIPT = new URL("./smtp_stream.py", import.meta.url).pathname;

/** An acknowledged message. */
export interface Ack {
  /** Its Message-ID, without the angle brackets. */
  id: string;
  /** When its 250 came (ms since the epoch, the clock of Date.now()). */
  t: number;
}

/** Options of {@link startSmtpStream}. */
export interface SmtpStreamOptions {
  port: number;
  recipients: string[];
  /** Connections at once. */
  clients: number;
  /** Messages sent over each connection. */
  perClient: number;
  /** Body octets per message. @default 2000 */
  size?: number;
  /** Pause between the messages of one connection. @default 0 */
  pauseMs?: number;
  /** Of the Message-IDs: `<PREFIX-CLIENT-N@load.test>`. @default "load" */
  prefix?: string;
}

/** A running load. */
export interface SmtpStream {
  /** Every message acknowledged so far, in order. */
  readonly acks: Ack[];
  /** Resolves once `n` messages are acknowledged (or the load ended). */
  waitFor(n: number): Promise<void>;
  /** Resolves when the load is over, with the errors the clients met. */
  readonly done: Promise<{ errors: unknown[] }>;
  /** Stops the load at once. */
  kill(): void;
}

/** Starts the load; bounded by `timeoutMs` (the clients are killed then). */
export function startSmtpStream(options: SmtpStreamOptions, timeoutMs = 120_000): SmtpStream {
  const child = new Deno.Command("python3", {
    args: [SCRIPT],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  writer.write(new TextEncoder().encode(JSON.stringify({
    port: options.port,
    recipients: options.recipients,
    clients: options.clients,
    per_client: options.perClient,
    size: options.size ?? 2000,
    pause_ms: options.pauseMs ?? 0,
    prefix: options.prefix ?? "load",
  }))).then(() => writer.close());
  const timer = setTimeout(() => kill(), timeoutMs);
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // gone
    }
  };
  const acks: Ack[] = [];
  const waiters = new Set<() => void>();
  let ended = false;
  const stderr = new Response(child.stderr).text();
  const done = (async () => {
    let rest = "";
    let last: { errors: unknown[] } | undefined;
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      rest += chunk;
      const lines = rest.split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        if (!line.trim()) continue;
        const obj = JSON.parse(line);
        if (obj.done) last = { errors: obj.errors };
        else acks.push({ id: obj.id, t: obj.t });
      }
      for (const wake of waiters) wake();
    }
    const status = await child.status;
    clearTimeout(timer);
    ended = true;
    for (const wake of waiters) wake();
    if (!last) {
      throw new Error(`smtp_stream.py ended (${status.code}) early: ${await stderr}`);
    }
    return last;
  })();
  done.catch(() => {});
  return {
    acks,
    done,
    kill,
    waitFor: async (n) => {
      while (acks.length < n && !ended) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            resolve();
          };
          waiters.add(wake);
        });
      }
    },
  };
}
