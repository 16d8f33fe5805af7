import assert from "node:assert/strict";
import { writtenDay } from "./search.ts";

Deno.test("writtenDay() gives the day of a Date header as written", async (t) => {
  const table: [string, string | undefined][] = [
    ["Thu, 05 Mar 2026 22:30:00 -0500", "2026-03-05"],
    ["Fri, 06 Mar 2026 01:00:00 +0200", "2026-03-06"],
    ["6 Mar 2026 01:00 +0200", "2026-03-06"],
    ["  Fri ,  6 march 2026 01:00:00 GMT", "2026-03-06"],
    ["Tue, 1 Jul 03 10:52:37 +0200", "2003-07-01"], // obsolete two-digit year
    ["Tue, 1 Jul 99 10:52:37 +0200", "1999-07-01"],
    ["Tue, 1 Jul 103 10:52:37 +0200", "2003-07-01"], // three digits: add 1900
    ["2026-03-05T22:30:00-05:00", "2026-03-06"], // not RFC 5322: read as an instant, UTC day
    ["yesterday", undefined],
    ["", undefined],
    ["Thu, 32 Foo 2026 10:00:00 +0000", undefined],
  ];
  for (const [value, expected] of table) {
    await t.step(JSON.stringify(value), () => assert.equal(writtenDay(value), expected));
  }
});
