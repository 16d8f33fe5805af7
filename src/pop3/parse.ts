/**
 * Pure parsers for POP3 command lines (RFC 1939 §3, RFC 2449 §3).
 */

/** A command line split into its keyword and arguments. */
export interface Pop3Command {
  /** The keyword, upper-cased (RFC 1939 §3: case-insensitive, 3-4 characters). */
  keyword: string;
  /** The arguments, split at single spaces. */
  args: string[];
  /** Everything after the keyword and one space, as typed (for PASS, whose argument may hold spaces). */
  rest: string;
}

/** Thrown for bad arguments; the session answers `-ERR <message>`. */
export class Pop3ArgumentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Pop3ArgumentError";
  }
}

/** Splits a command line. Keywords are at most 4 characters (RFC 1939 §3); longer is unknown. */
export function parseCommand(line: string): Pop3Command {
  const space = line.indexOf(" ");
  const keyword = (space < 0 ? line : line.slice(0, space)).toUpperCase();
  const rest = space < 0 ? "" : line.slice(space + 1);
  const args = rest.split(" ").filter((a) => a !== "");
  return { keyword, args, rest };
}

/** A message number: digits only, at least 1 (RFC 1939 §5). */
export function parseMessageNumber(text: string | undefined): number {
  if (text === undefined) throw new Pop3ArgumentError("Missing message number");
  if (!/^[0-9]{1,9}$/.test(text) || Number(text) === 0) {
    throw new Pop3ArgumentError(`Invalid message number: ${text.slice(0, 20)}`);
  }
  return Number(text);
}

/** A non-negative line count for TOP (RFC 1939 §7). */
export function parseLineCount(text: string | undefined): number {
  if (text === undefined) throw new Pop3ArgumentError("Missing number of lines");
  if (!/^[0-9]{1,9}$/.test(text)) {
    throw new Pop3ArgumentError(`Invalid number of lines: ${text.slice(0, 20)}`);
  }
  return Number(text);
}

/** Checks the argument count of a command. */
export function expectArgs(cmd: Pop3Command, min: number, max: number): void {
  if (cmd.args.length < min) throw new Pop3ArgumentError(`${cmd.keyword}: missing argument`);
  if (cmd.args.length > max) throw new Pop3ArgumentError(`${cmd.keyword}: too many arguments`);
}
