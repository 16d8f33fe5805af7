/**
 * `deno task bench`: runs every benchmark with its default settings, one
 * after the other, and prints their figure lines.
 *
 * Side-by-side runs against peers (Haraka, Dovecot, smtp-sink) use the
 * shared scripts; see ../shared/bench/README.md and bench/README.md.
 */
const benches: string[][] = [
  ["bench/smtp_load.ts", "--connections", "20", "--messages", "200", "--size", "1024"],
  ["bench/smtp_load.ts", "--connections", "20", "--messages", "20", "--size", "102400"],
  ["bench/check_cost.ts"],
  ["bench/pop3_retr.ts"],
  ["bench/imap_fetch.ts"],
  ["bench/junk_eval.ts"],
  ["bench/import.ts"],
  ["bench/backup_load.ts"],
];

const root = new URL("../", import.meta.url).pathname;
let failed = false;
for (const [script, ...args] of benches) {
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}${script}`, ...args],
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (!status.success) {
    console.error(`${script} ${args.join(" ")} failed`);
    failed = true;
  }
}
Deno.exit(failed ? 1 : 0);
