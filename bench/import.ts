/**
 * `postino import` of an mbox of N messages of S bytes (default 10,000 of
 * 10 KiB) into a fresh store: messages/second, MB/second and the import
 * process's peak RSS; then the same import again, where every message is a
 * duplicate to skip.
 *
 *   deno run -A bench/import.ts [--messages 10000] [--size 10240]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { measuredCli, writeTestMbox } from "../tests/support/import_run.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "10000" },
    size: { type: "string", default: "10240" },
  },
});
const count = Number(values.messages);
const size = Number(values.size);

const dir = await Deno.makeTempDir({ prefix: "postino-bench-import-" });
try {
  const data = join(dir, "data");
  const run = async (args: string[], stdin?: string) => {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname, ...args, "--data", data],
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const w = out.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin));
      await w.close();
    }
    const r = await out.output();
    if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
  };
  await run(["domain", "add", "bench.test"]);
  await run(["user", "add", "user@bench.test", "--password-stdin"], "bench-password\n");
  const mbox = join(dir, "bench.mbox");
  const bytes = await writeTestMbox(mbox, count, size);
  const mb = bytes / 1e6;
  for (const pass of ["first", "again"]) {
    const r = await measuredCli(["import", "user@bench.test", mbox, "--data", data]);
    if (r.code !== 0) throw new Error(`import failed: ${r.stderr}`);
    // The command's own figure (from its start to its summary, without Deno's start-up).
    const seconds = Number(/ in ([\d.]+) s /.exec(r.stdout)?.[1] ?? r.seconds);
    console.log(
      `import (${pass === "first" ? "new mail" : "all duplicates"}): messages=${count} ` +
        `size=${size} mbox=${mb.toFixed(1)} MB seconds=${seconds.toFixed(2)} ` +
        `messages_per_s=${Math.round(count / seconds)} MB_per_s=${(mb / seconds).toFixed(1)} ` +
        `peak_rss=${Math.round(r.peakRssKiB / 1024)} MB (process wall time ${
          r.seconds.toFixed(2)
        } s)`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
