/**
 * Reads a new password: from standard input with `--password-stdin` (one
 * line, the trailing newline removed), or from the terminal without echo,
 * asked twice.
 */
import { passwordProblem } from "../auth/password.ts";
import { CliError } from "./usage.ts";

/** Reads all of standard input as one password. */
export async function readPasswordFromStdin(): Promise<string> {
  const text = new TextDecoder("utf-8", { fatal: true }).decode(
    await new Response(Deno.stdin.readable).arrayBuffer(),
  );
  return checkPassword(text.replace(/\r?\n$/, ""));
}

function checkPassword(password: string): string {
  const problem = passwordProblem(password);
  if (problem) throw new CliError(problem);
  return password;
}

/** Prompts on the terminal without echo; the user types the password twice. */
export async function promptPassword(): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    throw new CliError("No terminal to ask for a password; pass it with --password-stdin");
  }
  const first = await promptHidden("Password: ");
  const second = await promptHidden("Repeat password: ");
  if (first !== second) throw new CliError("The passwords do not match");
  return checkPassword(first);
}

async function promptHidden(label: string): Promise<string> {
  const encoder = new TextEncoder();
  await Deno.stderr.write(encoder.encode(label));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  try {
    const buf = new Uint8Array(64);
    for (;;) {
      const n = await Deno.stdin.read(buf);
      if (n === null) break;
      for (const b of buf.subarray(0, n)) {
        if (b === 0x03) throw new CliError("Interrupted"); // Ctrl-C
        if (b === 0x0d || b === 0x0a) return new TextDecoder().decode(new Uint8Array(bytes));
        if (b === 0x7f || b === 0x08) bytes.pop();
        else bytes.push(b);
      }
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
}
