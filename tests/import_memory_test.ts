/**
 * `postino import` streams: the peak RSS of the import process does not
 * grow with the size of the mbox. 10,000 messages of 10 KiB (100 MB of
 * mbox) must not take more memory than 2,000 (20 MB) but for a margin well
 * under the 80 MB between them; reading the mbox whole, or keeping the
 * messages, would show as at least that much. Measured from outside, as
 * VmHWM in /proc/PID/status, with the V8 flags of the executable.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { measuredCli, writeTestMbox } from "./support/import_run.ts";
import { runCli } from "./support/server.ts";

const MiB = 1024 * 1024;

Deno.test({
  name: "importing 10,000 messages keeps memory flat: no more than 2,000 take, but for a margin",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "postino-import-memory-test-" });
    try {
      const data = join(dir, "data");
      const setup = async (args: string[], stdin?: string) => {
        const r = await runCli(args, { dataDir: data, stdin });
        assert.equal(r.code, 0, r.stderr);
      };
      await setup(["domain", "add", "memory.test"]);
      const peaks: Record<number, number> = {};
      for (const count of [2000, 10000]) {
        const user = `u${count}@memory.test`;
        await setup(["user", "add", user, "--password-stdin"], "memory-password\n");
        const mbox = join(dir, `${count}.mbox`);
        const bytes = await writeTestMbox(mbox, count, 10 * 1024);
        assert.ok(bytes > count * 10_000, `the mbox has ${bytes} bytes`);
        const r = await measuredCli(["import", user, mbox, "--data", data]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^Imported ${count} messages`));
        peaks[count] = r.peakRssKiB * 1024;
        await Deno.remove(mbox);
      }
      const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;
      const growth = peaks[10000] - peaks[2000];
      console.log(`peak RSS: 2,000 messages ${mib(peaks[2000])}, 10,000 ${mib(peaks[10000])}`);
      assert.ok(peaks[2000] > 0 && peaks[10000] > 0, "the peaks were read");
      assert.ok(growth < 32 * MiB, `10,000 messages took ${mib(growth)} more than 2,000`);
      assert.ok(peaks[10000] < 256 * MiB, `peak RSS ${mib(peaks[10000])} under 256 MiB`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
