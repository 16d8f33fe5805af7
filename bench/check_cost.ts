/**
 * What the inbound checks cost per message on their own: SPF, DKIM, DMARC
 * and ARC of a 1 KiB unsigned message, N times in a row on this thread, with
 * DNS answered by a loopback stub (NXDOMAIN, cached as a local resolver's
 * answers would be). Prints milliseconds per check and this process's RSS.
 *
 *   deno run -A bench/check_cost.ts [--checks 5000]
 */
import { parseArgs } from "node:util";
import { startDnsStub } from "../tests/support/dns_stub.ts";
import { Resolver } from "../src/dns/resolver.ts";
import { checkInbound } from "../src/security/inbound_auth.ts";

const { values } = parseArgs({ options: { checks: { type: "string", default: "5000" } } });
const checks = Number(values.checks);

await using dns = await startDnsStub({}, { negativeTtl: 300 });
const resolver = new Resolver({ servers: [{ host: dns.host, port: dns.port }], cache: true });
const line = "x".repeat(70) + "\r\n";
const message = new TextEncoder().encode(
  "From: <sender@bench.test>\r\nTo: <user@bench.test>\r\nSubject: check cost\r\n" +
    "Date: Thu, 3 Dec 2026 12:00:00 +0000\r\nMessage-Id: <1.2@bench.client>\r\n\r\n" +
    line.repeat(14),
);
const options = {
  resolver,
  ip: "127.0.0.1",
  helo: "bench.client",
  sender: "sender@bench.test",
  hostname: "mx.bench.test",
};
// Warm up: code compiled, answers cached.
for (let i = 0; i < 200; i++) await checkInbound(message, options);
const started = performance.now();
for (let i = 0; i < checks; i++) await checkInbound(message, options);
const ms = (performance.now() - started) / checks;
const { rss, heapUsed } = Deno.memoryUsage();
console.log(
  `check_cost checks=${checks} ${ms.toFixed(3)} ms/check dns_queries=${dns.queries.length} ` +
    `heap_used=${(heapUsed / 1048576).toFixed(1)} MB rss=${(rss / 1048576).toFixed(1)} MB`,
);
