/**
 * What the long-running commands (backup, restore, import, export) share to
 * talk to a person: sizes as people read them, a bar of `#` and `.`, and one
 * terminal line that is redrawn in place and taken away before a summary.
 */

const encoder = new TextEncoder();

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

/** `[#########...........]  45%` for a fraction from 0 to 1. */
export function progressBar(fraction: number, width = 20): string {
  const filled = Math.round(fraction * width);
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${percent}`;
}

/** One line of a terminal, redrawn in place. */
export class TerminalLine {
  readonly #out: { writeSync(p: Uint8Array): number };
  #shown = false;

  constructor(out: { writeSync(p: Uint8Array): number } = Deno.stdout) {
    this.#out = out;
  }

  /** Replaces the line with `text` (written over the old one, then the rest of it erased). */
  show(text: string): void {
    this.write(`\r${text}\x1b[K`);
    this.#shown = true;
  }

  /** Takes the line away, so that what is printed next takes its place. */
  clear(): void {
    if (this.#shown) this.write("\r\x1b[K");
    this.#shown = false;
  }

  /** Ends the line where it is: it stays on the terminal. */
  end(): void {
    this.write("\n");
    this.#shown = false;
  }

  /** Writes `text` whole (writeSync may take part of it). */
  write(text: string): void {
    const bytes = encoder.encode(text);
    let offset = 0;
    while (offset < bytes.length) offset += this.#out.writeSync(bytes.subarray(offset));
  }
}
