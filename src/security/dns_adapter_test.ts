import assert from "node:assert/strict";
import { startDnsStub } from "../../tests/support/dns_stub.ts";
import { Resolver } from "../dns/resolver.ts";
import { mailauthResolver } from "./dns_adapter.ts";

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (err) {
    return (err as { code?: string }).code ?? "no code";
  }
}

Deno.test("mailauthResolver() answers in node's shapes and error codes", async () => {
  await using stub = await startDnsStub({
    "example.test": {
      TXT: ["v=spf1 -all"],
      MX: [{ preference: 10, exchange: "mx.example.test" }],
      A: ["192.0.2.1"],
    },
    "slow.test": { A: ["192.0.2.2"] },
    "broken.test": { A: ["192.0.2.3"] },
  }, { behaviours: { "slow.test": "drop", "broken.test": "servfail" } });
  const resolver = new Resolver({
    servers: [{ host: stub.host, port: stub.port }],
    timeoutMs: 200,
    attempts: 1,
  });
  const lookup = mailauthResolver(resolver, { signal: AbortSignal.timeout(5_000) });
  assert.deepEqual(await lookup("example.test", "TXT"), [["v=spf1 -all"]]);
  assert.deepEqual(await lookup("example.test", "MX"), [{
    exchange: "mx.example.test",
    priority: 10,
  }]);
  assert.deepEqual(await lookup("example.test", "A"), ["192.0.2.1"]);
  assert.equal(await code(lookup("missing.test", "TXT")), "ENOTFOUND");
  assert.equal(await code(lookup("example.test", "AAAA")), "ENODATA");
  assert.equal(await code(lookup("slow.test", "A")), "ETIMEOUT");
  assert.equal(await code(lookup("broken.test", "A")), "ESERVFAIL");
});

Deno.test("mailauthResolver() stops every lookup at the message's deadline", async () => {
  await using stub = await startDnsStub({ "slow.test": { A: ["192.0.2.2"] } }, {
    behaviours: { "slow.test": "drop" },
  });
  const resolver = new Resolver({
    servers: [{ host: stub.host, port: stub.port }],
    timeoutMs: 5_000,
  });
  const lookup = mailauthResolver(resolver, { signal: AbortSignal.timeout(300) });
  const started = Date.now();
  assert.equal(await code(lookup("slow.test", "A")), "ETIMEOUT");
  assert.ok(Date.now() - started < 2_000, "bounded by the deadline, not the 5 s timeout");
  assert.equal(await code(lookup("slow.test", "TXT")), "ETIMEOUT", "later lookups fail at once");
});

Deno.test("mailauthResolver() caps each lookup so one stalled name leaves time for the rest", async () => {
  await using stub = await startDnsStub({ "fine.test": { A: ["192.0.2.1"] }, "slow.test": {} }, {
    behaviours: { "slow.test": "drop" },
  });
  const resolver = new Resolver({
    servers: [{ host: stub.host, port: stub.port }],
    timeoutMs: 5_000,
  });
  const lookup = mailauthResolver(resolver, {
    signal: AbortSignal.timeout(3_000),
    perLookupMs: 500,
  });
  assert.equal(await code(lookup("slow.test", "A")), "ETIMEOUT");
  assert.deepEqual(await lookup("fine.test", "A"), ["192.0.2.1"], "the budget is not used up");
});
