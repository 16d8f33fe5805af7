/**
 * The progress bar of `postino import` on a terminal: one line, redrawn at
 * most ten times a second, with the messages, the bytes read of all,
 * the rate and the time left:
 *
 * ```
 * [#########...........]  45%  4,512 messages  45.1/100.0 MiB  1,503 msg/s  15.0 MiB/s  ETA 0:04
 * ```
 *
 * Off a terminal it prints nothing; the command prints a summary instead.
 */

const encoder = new TextEncoder();
const WIDTH = 20;

/** Sizes for people: `512 B`, `12.3 KiB`, `45.1 MiB`, `1.2 GiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** `m:ss`, or `h:mm:ss` from an hour on. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const two = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

/** A progress line on a terminal. */
export class ProgressBar {
  readonly #total: number;
  readonly #out: { writeSync(p: Uint8Array): number };
  readonly #started = performance.now();
  #last = 0;
  #shown = false;
  #messages = 0;
  #bytes = 0;

  /** `total`: the bytes to read in all. */
  constructor(total: number, out: { writeSync(p: Uint8Array): number } = Deno.stdout) {
    this.#total = total;
    this.#out = out;
  }

  /** Says how far the import is; redraws when the last drawing is 100 ms old. */
  update(messages: number, bytes: number): void {
    this.#messages = messages;
    this.#bytes = bytes;
    const now = performance.now();
    if (now - this.#last < 100) return;
    this.#last = now;
    this.#draw(now);
  }

  #draw(now: number): void {
    const seconds = (now - this.#started) / 1000;
    const fraction = this.#total > 0 ? Math.min(1, this.#bytes / this.#total) : 1;
    const filled = Math.round(fraction * WIDTH);
    const rate = seconds > 0 ? this.#messages / seconds : 0;
    const byteRate = seconds > 0 ? this.#bytes / seconds : 0;
    const eta = byteRate > 0 && this.#total > this.#bytes
      ? formatDuration((this.#total - this.#bytes) / byteRate)
      : "0:00";
    const line = `[${"#".repeat(filled)}${".".repeat(WIDTH - filled)}] ` +
      `${String(Math.floor(fraction * 100)).padStart(3)}%  ` +
      `${this.#messages.toLocaleString("en-US")} messages  ` +
      `${formatBytes(this.#bytes)}/${formatBytes(this.#total)}  ` +
      `${Math.round(rate).toLocaleString("en-US")} msg/s  ${formatBytes(byteRate)}/s  ETA ${eta}`;
    this.#write(`\r\x1b[K${line}`);
    this.#shown = true;
  }

  /** Takes the line away (before another line is printed, or at the end). */
  clear(): void {
    if (!this.#shown) return;
    this.#write("\r\x1b[K");
    this.#shown = false;
    this.#last = 0;
  }

  /** Draws the final state, then ends the line. */
  finish(): void {
    this.#draw(performance.now());
    this.#write("\n");
    this.#shown = false;
  }

  #write(text: string): void {
    const bytes = encoder.encode(text);
    let off = 0;
    while (off < bytes.length) off += this.#out.writeSync(bytes.subarray(off));
  }
}
