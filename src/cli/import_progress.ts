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

import { formatBytes, progressBar, TerminalLine } from "./terminal_line.ts";

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
  readonly #line: TerminalLine;
  readonly #started = performance.now();
  #last = 0;
  #messages = 0;
  #bytes = 0;

  /** `total`: the bytes to read in all. */
  constructor(total: number, out: { writeSync(p: Uint8Array): number } = Deno.stdout) {
    this.#total = total;
    this.#line = new TerminalLine(out);
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
    const rate = seconds > 0 ? this.#messages / seconds : 0;
    const byteRate = seconds > 0 ? this.#bytes / seconds : 0;
    const eta = byteRate > 0 && this.#total > this.#bytes
      ? formatDuration((this.#total - this.#bytes) / byteRate)
      : "0:00";
    this.#line.show(
      `${progressBar(fraction)}  ` +
        `${this.#messages.toLocaleString("en-US")} messages  ` +
        `${formatBytes(this.#bytes)}/${formatBytes(this.#total)}  ` +
        `${Math.round(rate).toLocaleString("en-US")} msg/s  ${formatBytes(byteRate)}/s  ETA ${eta}`,
    );
  }

  /** Takes the line away (before another line is printed, or at the end). */
  clear(): void {
    this.#line.clear();
    this.#last = 0;
  }

  /** Draws the final state, then ends the line. */
  finish(): void {
    this.#draw(performance.now());
    this.#line.end();
  }
}
