/**
 * Reading mbox files as a stream: mboxrd and the older mboxo, with LF or
 * CRLF line ends (the counterpart of mbox.ts, which writes mboxrd).
 *
 * - A line beginning with `From ` starts a message, wherever it is (as
 *   Python's `mailbox`, mutt and qmail's mbox(5) read it). Its sender and
 *   date are parsed from it.
 * - The empty line before the next `From ` line (or before the end of the
 *   file) is the separator, not part of the message; other empty lines are.
 * - Quoting is undone as mboxrd: one ">" is taken from a line matching
 *   `/^>+From /`. An mboxo file is read the same way: its `>From ` lines
 *   (written for body lines `From `) come back as `From `, which is what
 *   they were; a body line that was `>From ` in an mboxo file comes back as
 *   `From ` too (mboxo cannot tell the two apart).
 * - Messages come out with CRLF line ends (a lone CR stays as it is) and
 *   never decoded: 8-bit bytes pass through unchanged.
 *
 * Memory: the input is read chunk by chunk and only the message being read
 * is held, and of that at most `maxMessageSize` octets: a longer one is
 * counted to its end, reported as too large, and not kept.
 */

const LF = 0x0a;
const CR = 0x0d;
const GT = 0x3e;
/** "From " as bytes. */
const FROM_ = [0x46, 0x72, 0x6f, 0x6d, 0x20];
const CRLF = new Uint8Array([CR, LF]);
/** A line longer than this (without its LF) is handled in pieces of this size. */
const PIECE = 1 << 20;
/** Of a `From ` line, this much is kept for parsing (the rest of a silly long one is ignored). */
const FROM_LINE_KEEP = 1000;

const latin1 = new TextDecoder("latin1");

/** One entry of an mbox file. */
export interface MboxMessage {
  /** 1 for the first message; 0 for text before the first `From ` line (always `broken`). */
  number: number;
  /** The byte offset of its `From ` line in the file. */
  offset: number;
  /** The `From ` line, without its line end (latin1-decoded; at most 1000 bytes of it). */
  fromLine: string;
  /** The envelope sender named by the `From ` line ("" when it has none). */
  sender: string;
  /** The date of the `From ` line, when it has one that parses. */
  date?: Date;
  /** The message with CRLF line ends, quoting undone; empty when `tooLarge` or `broken`. */
  body: Uint8Array;
  /** Its size with CRLF line ends, also when it was too large to keep. */
  size: number;
  /** Larger than `maxMessageSize`: not kept. */
  tooLarge: boolean;
  /** The file ended in its last line, without a line end (a CRLF was added). */
  truncated: boolean;
  /** Why this is not a message at all (text before the first `From ` line). */
  broken?: string;
}

/** Options of {@link readMbox}. */
export interface MboxReadOptions {
  /** Messages larger than this (with CRLF line ends) are reported `tooLarge` and not kept. */
  maxMessageSize: number;
  /** Told how many bytes of the input have been read, after each chunk. */
  onRead?: (bytes: number) => void;
}

/** A growing byte buffer, reused from message to message. */
class Output {
  bytes = new Uint8Array(64 * 1024);
  length = 0;

  append(data: Uint8Array): void {
    const need = this.length + data.length;
    if (need > this.bytes.length) {
      let size = this.bytes.length * 2;
      while (size < need) size *= 2;
      const bigger = new Uint8Array(size);
      bigger.set(this.bytes.subarray(0, this.length));
      this.bytes = bigger;
    }
    this.bytes.set(data, this.length);
    this.length = need;
  }

  /** A copy of the content; the buffer is emptied (and shrunk after a large message). */
  take(): Uint8Array {
    const out = this.bytes.slice(0, this.length);
    this.length = 0;
    if (this.bytes.length > 4 * 1024 * 1024) this.bytes = new Uint8Array(64 * 1024);
    return out;
  }
}

/** True when `line` starts with `From `. */
function startsWithFrom(line: Uint8Array, at = 0): boolean {
  if (line.length - at < FROM_.length) return false;
  for (let k = 0; k < FROM_.length; k++) if (line[at + k] !== FROM_[k]) return false;
  return true;
}

/** True when `line` matches `/^>+From /` (mboxrd quoting). */
function isQuotedFrom(line: Uint8Array): boolean {
  let i = 0;
  while (i < line.length && line[i] === GT) i++;
  return i > 0 && startsWithFrom(line, i);
}

/**
 * The messages of an mbox, read from `chunks` (a file's readable stream) as
 * they come. See the module comment for the rules.
 */
export async function* readMbox(
  chunks: AsyncIterable<Uint8Array>,
  options: MboxReadOptions,
): AsyncGenerator<MboxMessage> {
  const max = options.maxMessageSize;
  const out = new Output();
  /** The message being read, or undefined before the first `From ` line. */
  let current:
    | {
      number: number;
      offset: number;
      fromLine: string;
      size: number;
      tooLarge: boolean;
      truncated: boolean;
      broken?: string;
    }
    | undefined;
  let count = 0;
  /** Empty lines seen but not yet written: the last one may be the separator. */
  let blanks = 0;
  /** Of the line being read: where it started in the file, and whether its start was handled. */
  let lineOffset = 0;
  let midLine = false;
  /** The text before the first `From ` line is reported once, as message 0. */
  let preambleSize = 0;

  const write = (data: Uint8Array) => {
    if (!current) return;
    current.size += data.length;
    if (current.tooLarge) return;
    if (current.size > max) {
      current.tooLarge = true;
      out.length = 0;
      return;
    }
    out.append(data);
  };
  const flushBlanks = () => {
    for (; blanks > 0; blanks--) write(CRLF);
  };
  /** Ends the current message (dropping one pending empty line, the separator) and gives it. */
  const finish = (): MboxMessage | undefined => {
    if (!current) {
      if (preambleSize === 0) return undefined;
      const size = preambleSize;
      preambleSize = 0;
      return {
        number: 0,
        offset: 0,
        fromLine: "",
        sender: "",
        body: new Uint8Array(),
        size,
        tooLarge: false,
        truncated: false,
        broken: `${size} bytes before the first "From " line`,
      };
    }
    if (blanks > 0) blanks--;
    flushBlanks();
    const c = current;
    current = undefined;
    const { sender, date } = parseFromLine(c.fromLine);
    const body = c.tooLarge ? new Uint8Array() : out.take();
    out.length = 0;
    return {
      number: c.number,
      offset: c.offset,
      fromLine: c.fromLine,
      sender,
      date,
      body,
      size: c.size,
      tooLarge: c.tooLarge,
      truncated: c.truncated,
    };
  };

  /** What the line being read is, decided at its start (a long line comes in pieces). */
  let kind: "from" | "body" | "preamble" = "preamble";

  /**
   * Handles one line, or a piece of a long one: `content` without the line
   * end, `end` true when the line ends here (with an LF, or at the end of
   * the file when `eof`). Gives a finished message when a `From ` line ends one.
   */
  const line = (content: Uint8Array, end: boolean, eof: boolean): MboxMessage | undefined => {
    let finished: MboxMessage | undefined;
    if (!midLine) {
      if (startsWithFrom(content)) {
        finished = finish();
        count++;
        current = {
          number: count,
          offset: lineOffset,
          fromLine: "",
          size: 0,
          tooLarge: false,
          truncated: false,
        };
        blanks = 0;
        kind = "from";
      } else if (!current) {
        kind = "preamble";
      } else {
        kind = "body";
        if (content.length === 0 && end && !eof) {
          blanks++;
          midLine = false;
          return finished;
        }
        flushBlanks();
        if (isQuotedFrom(content)) content = content.subarray(1);
      }
    }
    if (kind === "from") {
      if (current!.fromLine.length < FROM_LINE_KEEP) {
        current!.fromLine += latin1.decode(
          content.subarray(0, FROM_LINE_KEEP - current!.fromLine.length),
        );
      }
    } else if (kind === "body") {
      write(content);
      if (end) write(CRLF);
      if (eof) current!.truncated = true;
    } else if (content.length > 0 || preambleSize > 0) {
      // Before the first From line: empty lines are tolerated, anything else is reported.
      preambleSize += content.length + (end ? 1 : 0);
    }
    midLine = !end;
    return finished;
  };

  let buf = new Uint8Array(0);
  let fileOffset = 0;
  let read = 0;
  for await (const chunk of chunks) {
    read += chunk.length;
    // Join what is left of the last chunk (a part of a line) with the new one.
    const joined = buf.length === 0 ? chunk : concat(buf, chunk);
    let pos = 0;
    for (;;) {
      const lf = joined.indexOf(LF, pos);
      if (lf < 0) break;
      let contentEnd = lf;
      if (contentEnd > pos && joined[contentEnd - 1] === CR) contentEnd--;
      const done = line(joined.subarray(pos, contentEnd), true, false);
      if (done) yield done;
      fileOffset += lf + 1 - pos;
      lineOffset = fileOffset;
      pos = lf + 1;
    }
    let rest = joined.subarray(pos);
    if (rest.length > PIECE) {
      // A very long line: hand over what there is, but keep a trailing CR, which may
      // belong to the CRLF that ends the line.
      const cut = rest[rest.length - 1] === CR ? rest.length - 1 : rest.length;
      const done = line(rest.subarray(0, cut), false, false);
      if (done) yield done;
      fileOffset += cut;
      rest = rest.subarray(cut);
    }
    buf = rest.slice();
    options.onRead?.(read);
  }
  if (buf.length > 0 || midLine) {
    // The file ends inside a line: a line without line end (a lone CR is content then).
    const done = line(buf, true, true);
    if (done) yield done;
  }
  const last = finish();
  if (last) yield last;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

/**
 * The sender and date of a `From ` line: `From SENDER DATE`, the date as
 * C's asctime() writes it (`Thu Dec  3 09:05:57 2026`), possibly with a
 * time zone after the time or the year (`+0100`, `PST`), taken as UTC
 * without one. A date that does not parse is left out.
 */
export function parseFromLine(line: string): { sender: string; date?: Date } {
  const rest = line.replace(/^From /, "");
  const m = /^\s*(\S*)\s*(.*)$/.exec(rest)!;
  const sender = m[1];
  return { sender, date: parseAsctime(m[2]) };
}

const ASCTIME =
  /^(?:[A-Za-z]{3},?\s+)?([A-Za-z]{3})\s+(\d{1,2})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s+(?:([A-Za-z]{1,5}|[+-]\d{4})\s+)?(\d{4})(?:\s+([+-]\d{4}|[A-Za-z]{1,5}))?/;

function parseAsctime(text: string): Date | undefined {
  const m = ASCTIME.exec(text.trim());
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[1].toLowerCase());
  if (month < 0) return undefined;
  const zone = zoneMinutes(m[6] ?? m[8]);
  return utcDate(
    Number(m[7]),
    month,
    Number(m[2]),
    Number(m[3]),
    Number(m[4]),
    Number(m[5] ?? 0),
    zone,
  );
}

/** The obsolete zone names of RFC 5322 §4.3, in minutes east of UTC. */
const ZONES: Record<string, number> = {
  UT: 0,
  UTC: 0,
  GMT: 0,
  Z: 0,
  EST: -300,
  EDT: -240,
  CST: -360,
  CDT: -300,
  MST: -420,
  MDT: -360,
  PST: -480,
  PDT: -420,
};

/** A zone (`+0100`, `-0800`, `GMT`) in minutes east of UTC; unknown names and none count as UTC. */
function zoneMinutes(zone: string | undefined): number {
  if (!zone) return 0;
  const m = /^([+-])(\d{2})(\d{2})$/.exec(zone);
  if (m) return (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
  return ZONES[zone.toUpperCase()] ?? 0;
}

function utcDate(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  zone: number,
): Date | undefined {
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  const ms = Date.UTC(year, month, day, hour, minute, Math.min(second, 59)) - zone * 60_000;
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

const RFC5322_DATE =
  /^(?:\s*[A-Za-z]{3}\s*,)?\s*(\d{1,2})\s+([A-Za-z]{3})[a-z]*\s+(\d{2,4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([+-]\d{4}|[A-Za-z]{1,5})?/;

/**
 * The date of a Date header field (RFC 5322 §3.3, with the obsolete forms of
 * §4.3: two-digit years, zone names), or undefined when it does not parse.
 * Comments are ignored.
 */
export function parseRfc5322Date(value: string): Date | undefined {
  const text = value.replace(/\([^()]*\)/g, " ");
  const m = RFC5322_DATE.exec(text);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2].toLowerCase());
  if (month < 0) return undefined;
  let year = Number(m[3]);
  if (m[3].length === 2) year += year < 50 ? 2000 : 1900;
  else if (m[3].length === 3) year += 1900;
  return utcDate(
    year,
    month,
    Number(m[1]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6] ?? 0),
    zoneMinutes(m[7]),
  );
}
