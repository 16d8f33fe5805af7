import assert from "node:assert/strict";
import { featuresOf } from "./verdict.ts";

Deno.test("featuresOf() tokenizes a message once, at the first call", () => {
  const features = featuresOf(new TextEncoder().encode("Subject: cheap pills\r\n\r\nwinner\r\n"));
  const first = features();
  assert.ok(first.includes("subject:cheap") && first.includes("winner"));
  assert.equal(features(), first, "the same list, not a second tokenizing");
});
