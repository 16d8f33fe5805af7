/**
 * The `postino` command line: dispatches to one command per group and turns
 * errors into exit statuses — 2 for a usage mistake, 1 for a failure — with
 * one clear line on stderr and no stack trace for anything a user can cause.
 */
import { AddressError } from "../address.ts";
import { ConfigError } from "../config.ts";
import { TlsSetupError } from "../net/tls.ts";
import { ServerStartError } from "../server.ts";
import { StoreError } from "../store/db.ts";
import { VERSION } from "../version.ts";
import { aliasCommand } from "./alias.ts";
import { backupCommand, restoreCommand } from "./backup.ts";
import { dkimCommand } from "./dkim.ts";
import { domainCommand } from "./domain.ts";
import { exportCommand } from "./export.ts";
import { importCommand } from "./import.ts";
import { queueCommand } from "./queue.ts";
import { serveCommand } from "./serve.ts";
import { setupCommand } from "./setup.ts";
import { dnsCommand } from "./dns.ts";
import { checkCommand } from "./check.ts";
import { tokenCommand } from "./token.ts";
import { CliError, parseFlags, UsageError } from "./usage.ts";
import { userCommand } from "./user.ts";

const HELP = `postino ${VERSION}: a self-hosted mail server in one process and one SQLite file

Usage: postino <command> [options]

Commands:
  serve     run the server (SMTP, submission, POP3, IMAP)
  user      add, change, delete and list users
  domain    add, delete and list local domains
  alias     add, delete and list aliases
  dkim      create DKIM signing keys (prints the DNS record) and list them
  queue     list, retry and delete queued outbound mail
  token     create, list and delete API tokens
  setup     prepare a domain in one go and print its DNS records
  dns       print the DNS records a domain should publish
  check     check what the world sees of a domain: DNS, blocklists, certificate
  backup    copy the whole store to a file while the server runs
  restore   put a backup back as the store of a data directory
  export    write a user's mail out as mbox or Maildir
  import    bring mail in from mbox files or a Maildir
  version   print the version

Every command takes --data DIR (default $POSTINO_DATA, else ./data) and
--config FILE. Run 'postino <command> --help' for its options.
`;

const COMMANDS: Record<string, (args: string[]) => number | Promise<number>> = {
  serve: serveCommand,
  user: userCommand,
  domain: domainCommand,
  alias: aliasCommand,
  dkim: dkimCommand,
  queue: queueCommand,
  token: tokenCommand,
  setup: setupCommand,
  dns: dnsCommand,
  check: checkCommand,
  backup: backupCommand,
  restore: restoreCommand,
  export: exportCommand,
  import: importCommand,
  version: versionCommand,
};

const VERSION_HELP = `Usage: postino version

Prints the version of postino.
`;

function versionCommand(args: string[]): number {
  const { values } = parseFlags(args, { help: { type: "boolean", short: "h" } }, "version", {
    min: 0,
    max: 0,
  });
  console.log(values.help ? VERSION_HELP : `postino ${VERSION}`);
  return 0;
}

/** Runs the command line `args`; resolves with the exit status. */
export async function runCli(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  try {
    if (name === undefined) throw new UsageError("Missing command (see 'postino --help')");
    if (name === "--help" || name === "-h" || name === "help") return await help(rest);
    if (name === "--version") return COMMANDS.version(rest);
    if (!Object.hasOwn(COMMANDS, name)) {
      throw new UsageError(`Unknown command '${name}' (see 'postino --help')`);
    }
    return await COMMANDS[name](rest);
  } catch (err) {
    return reportError(err);
  }
}

/** `postino help [COMMAND]`: the overview, or that command's own help. */
async function help(args: string[]): Promise<number> {
  const [command, extra] = args;
  if (extra !== undefined) {
    throw new UsageError(`Unexpected argument '${extra}' (see 'postino --help')`);
  }
  if (command === undefined) {
    console.log(HELP);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    throw new UsageError(`Unknown command '${command}' (see 'postino --help')`);
  }
  return await COMMANDS[command](["--help"]);
}

function reportError(err: unknown): number {
  const say = (line: string) => console.error(`postino: ${line}`);
  if (err instanceof UsageError) {
    say(err.message);
    return 2;
  }
  if (err instanceof ConfigError) {
    say(err.usage ? `${err.message} (see 'postino serve --help')` : err.message);
    return err.usage ? 2 : 1;
  }
  if (
    err instanceof CliError || err instanceof StoreError || err instanceof AddressError ||
    err instanceof ServerStartError || err instanceof TlsSetupError
  ) {
    say(err.message);
    return 1;
  }
  if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
    say(`Permission denied: ${(err as Error).message}`);
    return 1;
  }
  if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.AlreadyExists) {
    say((err as Error).message);
    return 1;
  }
  // A bug, not a user mistake: keep the stack for the report.
  say(`Unexpected error: ${(err as Error)?.stack ?? String(err)}`);
  return 1;
}
