/**
 * Message content of DATA (RFC 5321 §4.1.1.4) and BDAT (RFC 3030).
 *
 * Smuggling policy (SMTP smuggling, 2023): the only end of data is
 * <CRLF>.<CRLF>. Everything else shaped like an end of data is refused:
 * - a "." line ending in a bare LF (`<LF>.<LF>`, `<CRLF>.<LF>`): the client
 *   either is broken or is smuggling, and we cannot know where its message
 *   ends, so the session answers 521 and hangs up (as Postfix does with
 *   `smtpd_forbid_bare_newline`);
 * - a "." line after a line ending in a bare LF (`<LF>.<CRLF>`), or a bare CR
 *   anywhere (`<CR>.<CR>`): the message is read to its real end and rejected
 *   with 550 5.6.0, so nothing after it is ever taken for a command.
 * Other lines ending in a bare LF are accepted and stored with CRLF (as
 * Postfix's default `normalize` does), so content from LF-only files works.
 *
 * The content is kept only up to the size limit; past it the rest is read and
 * dropped, so a client cannot make us buffer more than the limit.
 */
import type { Connection } from "../net/connection.ts";

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CRLF = new Uint8Array([CR, LF]);

/**
 * Room kept free in front of the content, so trace headers can be prepended
 * without copying the message (trace and authentication headers fit in this).
 */
export const HEADROOM = 4096;

/** Options of {@link DataDecoder}. */
export interface DecoderOptions {
  /** DATA content is dot-stuffed and ends with <CRLF>.<CRLF>; BDAT content is neither. */
  dotStuffed: boolean;
  /** The SIZE the client declared (RFC 1870): sizes the buffer up front. */
  sizeHint?: number;
  /** A buffer from an earlier message of the same session, reused when large enough. */
  reuse?: Uint8Array;
}

/** Why a message's content is refused. */
export type ContentViolation = "bare-cr" | "lf-before-dot" | "dot-bare-lf";

/** The outcome of reading one message's content. */
export interface MessageContent {
  /**
   * The content with CRLF line endings, dot-unstuffed; empty when `tooBig`.
   * The {@link HEADROOM} bytes before it in its buffer are free for trace headers.
   */
  bytes: Uint8Array;
  /** Octets of content seen (after unstuffing and normalisation). */
  size: number;
  tooBig: boolean;
  /** Some line of the content starts with "." (POP3 and DATA relays must stuff it). */
  dotLines: boolean;
  violation?: ContentViolation;
}

/**
 * An incremental decoder of DATA content, or (with `dotStuffed: false`) of
 * BDAT chunks, which only get their line endings checked and normalised.
 *
 * Hot path: it scans with the native `indexOf` and copies runs of unchanged
 * lines in one go, creating no object per line.
 */
export class DataDecoder {
  readonly #maxSize: number;
  readonly #dotStuffed: boolean;
  #out: Uint8Array;
  #size = 0;
  #midLine = false;
  #previousCrlf = true;
  #done = false;
  #violation: ContentViolation | undefined;
  #dotLines = false;

  /** Buffers are reused and sized from SIZE, so a message is not copied again and again as it grows. */
  constructor(maxSize: number, options: DecoderOptions) {
    this.#maxSize = maxSize;
    this.#dotStuffed = options.dotStuffed;
    // A declared SIZE is only a hint: past 1 MiB the buffer grows as data really arrives.
    const hint = Math.min((options.sizeHint ?? 0) + 1024, 1024 * 1024);
    const wanted = HEADROOM + Math.min(Math.max(hint, 16 * 1024), maxSize);
    this.#out = options.reuse && options.reuse.length >= wanted
      ? options.reuse
      : new Uint8Array(wanted);
  }

  /** True once the end-of-data line has been read (DATA only). */
  get done(): boolean {
    return this.#done;
  }

  /** True when the content so far ends inside a line (no line end after it yet). */
  get midLine(): boolean {
    return this.#midLine;
  }

  /** The first violation seen, if any. */
  get violation(): ContentViolation | undefined {
    return this.#violation;
  }

  /**
   * Decodes complete lines from `input` and returns how many bytes it used.
   * A trailing partial line is left for the next call unless `final` is set
   * or it is too long to wait for (then it is taken in pieces).
   */
  feed(input: Uint8Array, final = false): number {
    let pos = 0;
    let run = 0; // start of the bytes not yet copied out
    let nextCr = -1; // position of the next CR at or after pos, or input.length when none
    while (pos < input.length && !this.#done && this.#violation !== "dot-bare-lf") {
      let lf = input.indexOf(LF, pos);
      let partial = false;
      if (lf < 0) {
        // No line end yet: wait for more, unless the line is long or this is the last chunk.
        if (!final && input.length - pos < 4096) break;
        const keep = !final && input[input.length - 1] === CR ? 1 : 0; // may be the CR of a CRLF
        lf = input.length - keep;
        partial = true;
      }
      const crlf = !partial && lf > pos && input[lf - 1] === CR;
      const end = crlf ? lf - 1 : lf; // end of the line's content
      if (!this.#midLine && input[pos] === DOT && end > pos) {
        // Remember whether any stored line starts with a dot: POP3 must stuff only those.
        if (!this.#dotStuffed || input[pos + 1] === DOT) this.#dotLines = true;
      }
      if (!this.#midLine && this.#dotStuffed && input[pos] === DOT && end > pos) {
        if (end - pos === 1 && !partial) {
          if (crlf && this.#previousCrlf) {
            this.#copy(input, run, pos);
            run = pos = lf + 1;
            this.#done = true;
            break;
          }
          this.#violate(crlf ? "lf-before-dot" : "dot-bare-lf");
        }
        this.#copy(input, run, pos); // RFC 5321 §4.5.2 transparency: drop the leading dot
        run = pos + 1;
      }
      if (nextCr < pos) nextCr = indexOrEnd(input, CR, pos);
      if (nextCr < end) this.#violate("bare-cr");
      if (partial) {
        this.#copy(input, run, lf);
        run = pos = lf;
        this.#midLine = true;
        break;
      }
      if (!crlf) {
        // A bare LF ends the line; store it as CRLF.
        this.#copy(input, run, lf);
        this.#copy(CRLF, 0, 2);
        run = lf + 1;
      }
      this.#previousCrlf = crlf;
      this.#midLine = false;
      pos = lf + 1;
    }
    this.#copy(input, run, pos);
    return pos;
  }

  #violate(kind: ContentViolation): void {
    // A hang-up outranks a rejection; otherwise the first one found is kept.
    if (this.#violation === undefined || kind === "dot-bare-lf") this.#violation = kind;
  }

  /** Appends `input[start, end)` to the content while it is within the size limit. */
  #copy(input: Uint8Array, start: number, end: number): void {
    const n = end - start;
    if (n <= 0) return;
    const offset = HEADROOM + this.#size;
    this.#size += n;
    if (this.#size > this.#maxSize) {
      this.#out = new Uint8Array(); // past the limit: count, keep nothing
      return;
    }
    if (HEADROOM + this.#size > this.#out.length) {
      const grown = new Uint8Array(
        HEADROOM + Math.min(Math.max(this.#out.length * 2, this.#size), this.#maxSize),
      );
      grown.set(this.#out.subarray(HEADROOM, offset), HEADROOM);
      this.#out = grown;
    }
    this.#out.set(input.subarray(start, end), offset);
  }

  /** The decoded message so far. */
  result(): MessageContent {
    const tooBig = this.#size > this.#maxSize;
    return {
      bytes: tooBig ? new Uint8Array() : this.#out.subarray(HEADROOM, HEADROOM + this.#size),
      size: this.#size,
      tooBig,
      dotLines: this.#dotLines,
      violation: this.#violation,
    };
  }
}

function indexOrEnd(input: Uint8Array, byte: number, from: number): number {
  const i = input.indexOf(byte, from);
  return i < 0 ? input.length : i;
}

/**
 * Reads DATA content up to and including <CRLF>.<CRLF>, or up to a
 * `dot-bare-lf` violation (the caller hangs up then). Returns null when the
 * connection ends first.
 */
export async function readDataContent(
  conn: Connection,
  maxSize: number,
  options: Omit<DecoderOptions, "dotStuffed"> = {},
): Promise<MessageContent | null> {
  const decoder = new DataDecoder(maxSize, { ...options, dotStuffed: true });
  for (;;) {
    conn.consume(decoder.feed(conn.peek()));
    if (decoder.done || decoder.violation === "dot-bare-lf") return decoder.result();
    if (!await conn.fill()) return null;
  }
}
