import assert from "node:assert/strict";
import { orderMx } from "./mx.ts";
import { retryDelay } from "./outbound.ts";

Deno.test("orderMx() sorts by preference and shuffles only equal preferences", () => {
  const records = [
    { preference: 20, exchange: "c" },
    { preference: 10, exchange: "a1" },
    { preference: 10, exchange: "a2" },
    { preference: 10, exchange: "a3" },
    { preference: 30, exchange: "d" },
  ];
  const seenFirst = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const order = orderMx(records).map((r) => r.exchange);
    assert.deepEqual(order.slice(3), ["c", "d"]);
    assert.deepEqual(order.slice(0, 3).sort(), ["a1", "a2", "a3"]);
    seenFirst.add(order[0]);
  }
  assert.equal(seenFirst.size, 3, "every equal-preference host comes first sometimes");
});

Deno.test("retryDelay() follows 1m, 5m, 15m, 30m, 1h, 2h, then every 4h", () => {
  const minutes = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => retryDelay(n) / 60_000);
  assert.deepEqual(minutes, [1, 5, 15, 30, 60, 120, 240, 240, 240]);
});
