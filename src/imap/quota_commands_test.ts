import assert from "node:assert/strict";
import type { Quota } from "../store/quota.ts";
import { quotaResources } from "./quota_commands.ts";

Deno.test("quotaResources() lists the limited resources, STORAGE in KiB: usage up, limit down", () => {
  const quota = (q: Partial<Quota>): Quota => ({ usedBytes: 0, usedMessages: 0, own: false, ...q });
  const table: [Quota | undefined, string[]][] = [
    [undefined, []],
    [quota({ usedBytes: 5000, usedMessages: 3 }), []],
    [quota({ limitBytes: 10 * 1024 }), ["STORAGE 0 10"]],
    [quota({ limitBytes: 10 * 1024, usedBytes: 1 }), ["STORAGE 1 10"]],
    [quota({ limitBytes: 10 * 1024, usedBytes: 1024 }), ["STORAGE 1 10"]],
    [quota({ limitBytes: 10 * 1024, usedBytes: 1025 }), ["STORAGE 2 10"]],
    [quota({ limitBytes: 10 * 1024 + 1023, usedBytes: 10 * 1024 + 1 }), ["STORAGE 11 10"]],
    [quota({ limitBytes: 1023 }), ["STORAGE 0 0"]],
    [quota({ limitMessages: 100, usedMessages: 7, usedBytes: 99 }), ["MESSAGE 7 100"]],
    [
      quota({ limitBytes: 2 ** 40, limitMessages: 5, usedBytes: 3 * 2 ** 30, usedMessages: 5 }),
      [`STORAGE ${3 * 2 ** 20} ${2 ** 30}`, "MESSAGE 5 5"],
    ],
  ];
  for (const [q, want] of table) assert.deepEqual(quotaResources(q), want, JSON.stringify(q));
});
