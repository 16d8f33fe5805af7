/**
 * Command-line plumbing shared by the commands: strict flag parsing and the
 * two kinds of user-facing failure (usage mistakes exit 2, failures exit 1).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A mistake in how the command was called: exit status 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A command that could not do its job for a reason the user can act on: exit status 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CliError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Flags every command takes. */
export const COMMON_FLAGS = {
  help: { type: "boolean", short: "h" },
  data: { type: "string" },
  config: { type: "string" },
} as const satisfies Options;

/**
 * Parses `args` strictly: an unknown flag, a missing value or a stray
 * positional is a {@link UsageError} that points at `postino <command> --help`.
 */
export function parseFlags<T extends Options>(
  args: string[],
  options: T,
  command: string,
  positionals: { min: number; max: number },
) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`${describeParseError(err as Error)} (see 'postino ${command} --help')`);
  }
  const count = parsed.positionals.length;
  if (!(parsed.values as { help?: boolean }).help) {
    if (count < positionals.min) {
      throw new UsageError(`Missing argument (see 'postino ${command} --help')`);
    }
    if (count > positionals.max) {
      throw new UsageError(
        `Unexpected argument '${
          parsed.positionals[positionals.max]
        }' (see 'postino ${command} --help')`,
      );
    }
  }
  return parsed;
}

function describeParseError(err: Error): string {
  const code = (err as { code?: string }).code;
  const flag = /'(-[^']*)'/.exec(err.message)?.[1]?.split(/[ ,]/)[0];
  switch (code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `Unknown option ${flag ?? err.message}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /does not take/.test(err.message)
        ? `Option ${flag} takes no value`
        : `Option ${flag} needs a value`;
    default:
      return err.message.split("\n")[0];
  }
}

/**
 * Parses `<group> <sub> [args]` for a command group such as `user`: checks the
 * subcommand and its arity, prints `help` for `--help`. Returns undefined when
 * help was printed (the caller exits 0).
 */
export function parseSubcommand<T extends Options>(
  args: string[],
  group: { name: string; help: string; arity: Record<string, { min: number; max: number }> },
  options: T,
) {
  const [sub, ...rest] = args;
  const seeHelp = `(see 'postino ${group.name} --help')`;
  if (sub === undefined) throw new UsageError(`Missing ${group.name} command ${seeHelp}`);
  if (sub === "--help" || sub === "-h" || sub === "help") {
    console.log(group.help);
    return undefined;
  }
  if (!Object.hasOwn(group.arity, sub)) {
    throw new UsageError(`Unknown ${group.name} command '${sub}' ${seeHelp}`);
  }
  const parsed = parseFlags(rest, options, `${group.name} ${sub}`, group.arity[sub]);
  if ((parsed.values as { help?: boolean }).help) {
    console.log(group.help);
    return undefined;
  }
  return { sub, values: parsed.values, positionals: parsed.positionals };
}
