import assert from "node:assert/strict";
import { authservId, claimsToBe } from "./auth_results.ts";

const IDS: [string, string | undefined][] = [
  ["mx.example.com; spf=pass", "mx.example.com"],
  ["MX.Example.COM; none", "mx.example.com"],
  ["mx.example.com 1; dmarc=pass", "mx.example.com"],
  ["mx.example.com (our server); dkim=pass", "mx.example.com"],
  ["(comment) mx.example.com; dkim=pass", "mx.example.com"],
  ['"mx.example.com"; dkim=pass', "mx.example.com"],
  ['"mx.example.com" 1 ; none', "mx.example.com"],
  ["(nested (comment)) mx.example.com;", "mx.example.com"],
  ["mx.example.com.evil.example; spf=pass", "mx.example.com.evil.example"],
  ["", undefined],
  ["; spf=pass", undefined],
];

for (const [value, want] of IDS) {
  Deno.test(`authservId() of ${JSON.stringify(value)} is ${want}`, () => {
    assert.equal(authservId(value), want);
  });
}

Deno.test("claimsToBe() compares the authserv-id with our host name, case-insensitively", () => {
  assert.equal(claimsToBe("MX.example.com 1 (x); dmarc=pass", "mx.example.com"), true);
  assert.equal(claimsToBe("other.example; dmarc=pass", "mx.example.com"), false);
  assert.equal(claimsToBe("mx.example.co; dmarc=pass", "mx.example.com"), false);
});
