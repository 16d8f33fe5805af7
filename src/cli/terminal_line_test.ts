import assert from "node:assert/strict";
import { formatBytes, progressBar, TerminalLine } from "./terminal_line.ts";

Deno.test("formatBytes() and progressBar() read as people read them", () => {
  const sizes: [number, string][] = [
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [5 * 1024 ** 2, "5.0 MiB"],
    [3 * 1024 ** 4, "3.0 TiB"],
    [2048 * 1024 ** 4, "2048.0 TiB"],
  ];
  for (const [n, want] of sizes) assert.equal(formatBytes(n), want, String(n));
  assert.equal(progressBar(0), "[....................]   0%");
  assert.equal(progressBar(0.45), "[#########...........]  45%");
  assert.equal(progressBar(1), "[####################] 100%");
  assert.equal(progressBar(0.5, 4), "[##..]  50%");
});

Deno.test("TerminalLine redraws in place, clears only what it showed, and writes everything", () => {
  const chunks: string[] = [];
  // A terminal that takes at most 3 bytes a write, as writeSync may.
  const out = {
    writeSync(p: Uint8Array) {
      const n = Math.min(3, p.length);
      chunks.push(new TextDecoder().decode(p.subarray(0, n)));
      return n;
    },
  };
  const line = new TerminalLine(out);
  line.clear();
  assert.equal(chunks.join(""), "", "nothing shown, nothing cleared");
  line.show("one");
  line.show("two");
  line.clear();
  line.clear();
  line.show("end");
  line.end();
  assert.equal(chunks.join(""), "\rone\x1b[K\rtwo\x1b[K\r\x1b[K\rend\x1b[K\n");
});
