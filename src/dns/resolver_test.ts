import assert from "node:assert/strict";
import dgram from "node:dgram";
import { once } from "node:events";
import { startDnsStub, STRAY_ADDRESS, type Zone } from "../../tests/support/dns_stub.ts";
import {
  type DnsAnswer,
  type NameServer,
  parseResolvConf,
  Resolver,
  reverseName,
} from "./resolver.ts";
import { decodeMessage, type DnsMessage, encodeMessage, Rcode, RRType } from "./wire.ts";
import { MIN_NEGATIVE_TTL } from "./cache.ts";

const ZONE: Zone = {
  "example.test": {
    MX: [
      { preference: 20, exchange: "MX2.Example.TEST." },
      { preference: 10, exchange: "mx1.example.test" },
      { preference: 10, exchange: "mx1b.example.test" },
    ],
    A: ["127.0.0.1", "192.0.2.1"],
    AAAA: ["2001:0db8::1", "::1"],
    TXT: ["v=spf1 -all", "x".repeat(600), ["v=DKIM1; k=rsa; ", "p=MIIB", "IjAN"]],
  },
  "mx1.example.test": { A: ["127.0.0.1"] },
  "null.test": { MX: [{ preference: 0, exchange: "." }] },
  "cname.test": { CNAME: "Example.Test." },
  "chain.test": { CNAME: "cname.test" },
  "dangling.test": { CNAME: "missing.test" },
  "loop1.test": { CNAME: "loop2.test" },
  "loop2.test": { CNAME: "loop1.test" },
  "1.2.0.192.in-addr.arpa": { PTR: ["Host.Example.Test."] },
  "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa": {
    PTR: ["v6.example.test"],
  },
  "big.test": { TXT: Array.from({ length: 12 }, (_, i) => `${i} ${"y".repeat(200)}`) },
  "servfail.test": { A: ["192.0.2.9"] },
  "slow.test": { A: ["192.0.2.9"] },
  "stray.test": { A: ["192.0.2.7"] },
  "truncated.test": { MX: [{ preference: 5, exchange: "mx.truncated.test" }] },
};

/** A resolver that only ever asks the stub, quickly. */
function resolverFor(server: NameServer, options: { timeoutMs?: number; attempts?: number } = {}) {
  return new Resolver({
    servers: [{ host: server.host, port: server.port }],
    timeoutMs: 1000,
    ...options,
  });
}

Deno.test("Resolver.mx() sorts by preference and normalizes exchanges", async () => {
  await using dns = await startDnsStub(ZONE);
  const answer = await resolverFor(dns).mx("example.test");
  assert.deepEqual(answer, {
    kind: "ok",
    records: [
      { preference: 10, exchange: "mx1.example.test" },
      { preference: 10, exchange: "mx1b.example.test" },
      { preference: 20, exchange: "mx2.example.test" },
    ],
  });
  assert.deepEqual(dns.queries, [{ name: "example.test", type: "MX", transport: "udp" }]);
});

Deno.test("Resolver.mx() reports a null MX as one record with an empty exchange", async () => {
  await using dns = await startDnsStub(ZONE);
  assert.deepEqual(await resolverFor(dns).mx("null.test"), {
    kind: "ok",
    records: [{ preference: 0, exchange: "" }],
  });
});

Deno.test("Resolver.a(), aaaa(), txt() and ptr() return typed records", async () => {
  await using dns = await startDnsStub(ZONE);
  const resolver = resolverFor(dns);
  const table: [string, () => Promise<DnsAnswer<unknown>>, DnsAnswer<unknown>][] = [
    ["a", () => resolver.a("example.test"), { kind: "ok", records: ["127.0.0.1", "192.0.2.1"] }],
    ["a, any case", () => resolver.a("EXAMPLE.test."), {
      kind: "ok",
      records: ["127.0.0.1", "192.0.2.1"],
    }],
    ["aaaa", () => resolver.aaaa("example.test"), { kind: "ok", records: ["2001:db8::1", "::1"] }],
    ["txt joins each record's strings", () => resolver.txt("example.test"), {
      kind: "ok",
      records: ["v=spf1 -all", "x".repeat(600), "v=DKIM1; k=rsa; p=MIIBIjAN"],
    }],
    ["ptr v4", () => resolver.ptr("192.0.2.1"), { kind: "ok", records: ["host.example.test"] }],
    ["ptr v6", () => resolver.ptr("2001:db8::1"), { kind: "ok", records: ["v6.example.test"] }],
    ["ptr missing", () => resolver.ptr("192.0.2.2"), { kind: "nxdomain" }],
  ];
  for (const [label, run, want] of table) assert.deepEqual(await run(), want, label);
});

Deno.test("Resolver.query() keeps only records of the asked type and name", async () => {
  await using dns = await startDnsStub(ZONE);
  const answer = await resolverFor(dns).query("example.test", RRType.TXT);
  assert.equal(answer.kind, "ok");
  if (answer.kind !== "ok") return;
  // The 600-octet string arrives as three character-strings (RFC 7208 §3.3).
  assert.deepEqual(answer.records.map((r) => r.data.kind === "TXT" && r.data.strings.length), [
    1,
    3,
    3,
  ]);
  assert.ok(answer.records.every((r) => r.name === "example.test" && r.type === RRType.TXT));
});

Deno.test("Resolver.query() follows CNAME chains in the answer", async () => {
  await using dns = await startDnsStub(ZONE);
  const resolver = resolverFor(dns);
  const table: [string, () => Promise<DnsAnswer<unknown>>, DnsAnswer<unknown>][] = [
    ["one link", () => resolver.a("cname.test"), {
      kind: "ok",
      records: ["127.0.0.1", "192.0.2.1"],
    }],
    ["two links", () => resolver.mx("chain.test"), {
      kind: "ok",
      records: [
        { preference: 10, exchange: "mx1.example.test" },
        { preference: 10, exchange: "mx1b.example.test" },
        { preference: 20, exchange: "mx2.example.test" },
      ],
    }],
    ["to a name without the type", () => resolver.aaaa("mx1.example.test"), { kind: "nodata" }],
    ["to a missing name (RFC 6604)", () => resolver.a("dangling.test"), { kind: "nxdomain" }],
    ["the CNAME itself when asked", async () => {
      const answer = await resolver.query("cname.test", RRType.CNAME);
      return answer.kind === "ok"
        ? { kind: "ok", records: answer.records.map((r) => r.data) }
        : answer;
    }, { kind: "ok", records: [{ kind: "CNAME", cname: "Example.Test" }] }],
  ];
  for (const [label, run, want] of table) assert.deepEqual(await run(), want, label);
  const loop = await resolver.a("loop1.test");
  assert.equal(loop.kind, "error");
  assert.equal(loop.kind === "error" && loop.reason, "malformed");
  assert.match(loop.kind === "error" ? loop.detail : "", /CNAME chain .* longer than 8/);
});

Deno.test("Resolver.query() tells NXDOMAIN from NODATA", async () => {
  await using dns = await startDnsStub(ZONE);
  const resolver = resolverFor(dns);
  assert.deepEqual(await resolver.mx("nowhere.test"), { kind: "nxdomain" });
  assert.deepEqual(await resolver.mx("mx1.example.test"), { kind: "nodata" });
  assert.deepEqual(await resolver.txt("null.test"), { kind: "nodata" });
  dns.set("nowhere.test", { TXT: ["now here"] });
  dns.set("mx1.example.test", undefined);
  assert.deepEqual(await resolver.txt("NOWHERE.test"), { kind: "ok", records: ["now here"] });
  assert.deepEqual(await resolver.a("mx1.example.test"), { kind: "nxdomain" });
});

Deno.test("Resolver.query() reports SERVFAIL and REFUSED without retrying the server", async () => {
  await using dns = await startDnsStub(ZONE, { behaviours: { "servfail.test": "servfail" } });
  const resolver = resolverFor(dns, { attempts: 3 });
  const servfail = await resolver.a("servfail.test");
  assert.equal(servfail.kind === "error" && servfail.reason, "servfail");
  assert.match(servfail.kind === "error" ? servfail.detail : "", /servfail\.test A \(SERVFAIL\)/);
  dns.behave("servfail.test", "refused");
  const refused = await resolver.a("servfail.test");
  assert.equal(refused.kind === "error" && refused.reason, "refused");
  dns.behave("servfail.test", undefined);
  assert.deepEqual(await resolver.a("servfail.test"), { kind: "ok", records: ["192.0.2.9"] });
  assert.equal(dns.queries.length, 3);
});

Deno.test("Resolver.query() times out per try and retries `attempts` times", async () => {
  await using dns = await startDnsStub(ZONE, { behaviours: { "slow.test": "drop" } });
  const started = performance.now();
  const answer = await resolverFor(dns, { timeoutMs: 100, attempts: 2 }).a("slow.test");
  const elapsed = performance.now() - started;
  assert.equal(answer.kind === "error" && answer.reason, "timeout");
  assert.match(answer.kind === "error" ? answer.detail : "", /within 100 ms/);
  assert.ok(elapsed >= 180 && elapsed < 1500, `took ${elapsed} ms`);
  assert.deepEqual(dns.queries.map((q) => q.transport), ["udp", "udp"]);
});

Deno.test("Resolver.query() asks the next server when one does not answer", async () => {
  await using silent = await startDnsStub(ZONE, { behaviours: { "example.test": "drop" } });
  await using good = await startDnsStub(ZONE);
  const resolver = new Resolver({ servers: [silent, good], timeoutMs: 100, attempts: 1 });
  assert.deepEqual(await resolver.a("example.test"), {
    kind: "ok",
    records: ["127.0.0.1", "192.0.2.1"],
  });
  assert.equal(silent.queries.length, 1);
  assert.equal(good.queries.length, 1);
});

Deno.test("Resolver.query() retries over TCP when the UDP reply is truncated", async () => {
  await using dns = await startDnsStub(ZONE, { behaviours: { "truncated.test": "truncate" } });
  const resolver = resolverFor(dns);
  assert.deepEqual(await resolver.mx("truncated.test"), {
    kind: "ok",
    records: [{ preference: 5, exchange: "mx.truncated.test" }],
  });
  // Too big for 1232 octets of UDP: the stub truncates by itself.
  const big = await resolver.txt("big.test");
  assert.equal(big.kind === "ok" && big.records.length, 12);
  assert.deepEqual(dns.queries.map((q) => `${q.name} ${q.transport}`), [
    "truncated.test udp",
    "truncated.test tcp",
    "big.test udp",
    "big.test tcp",
  ]);
});

Deno.test("Resolver.query() ignores stray and mismatched datagrams", async () => {
  await using dns = await startDnsStub(ZONE, { behaviours: { "stray.test": "stray" } });
  for (let i = 0; i < 5; i++) {
    const answer = await resolverFor(dns).a("stray.test");
    assert.deepEqual(answer, { kind: "ok", records: ["192.0.2.7"] }, `${STRAY_ADDRESS}?`);
  }
});

Deno.test("Resolver.query() reports an undecodable reply with our id as malformed", async () => {
  await using dns = await startDnsStub(ZONE, { behaviours: { "example.test": "garbage" } });
  const udp = await resolverFor(dns, { timeoutMs: 100, attempts: 1 }).a("example.test");
  assert.equal(udp.kind === "error" && udp.reason, "malformed");
  assert.match(udp.kind === "error" ? udp.detail : "", /^UDP reply from 127\.0\.0\.1:\d+: Cannot/);
});

Deno.test("Resolver.query() stops early when its signal aborts", async () => {
  await using dns = await startDnsStub(ZONE, { behaviours: { "slow.test": "drop" } });
  const resolver = resolverFor(dns, { timeoutMs: 5000 });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 50);
  const started = performance.now();
  const answer = await resolver.a("slow.test", { signal: controller.signal });
  clearTimeout(timer);
  assert.ok(performance.now() - started < 1000);
  assert.deepEqual(answer, {
    kind: "error",
    reason: "timeout",
    detail: "DNS query for slow.test A aborted",
  });
  assert.deepEqual(await resolver.a("example.test", { signal: controller.signal }), {
    kind: "error",
    reason: "timeout",
    detail: "DNS query for example.test A aborted",
  });
  assert.equal(dns.queries.length, 1);
});

Deno.test("Resolver.query() refuses names that cannot be encoded without sending", async () => {
  await using dns = await startDnsStub(ZONE);
  const resolver = resolverFor(dns);
  const table: [Promise<DnsAnswer<unknown>>, RegExp][] = [
    [resolver.a(`${"a".repeat(64)}.test`), /label longer than 63 octets/],
    [resolver.mx("bücher.test"), /pass IDNs as A-labels/],
    [resolver.ptr("192.0.2"), /Cannot build PTR name: invalid IP 192\.0\.2/],
  ];
  for (const [run, message] of table) {
    const answer = await run;
    assert.equal(answer.kind === "error" && answer.reason, "malformed");
    assert.match(answer.kind === "error" ? answer.detail : "", message);
  }
  assert.equal(dns.queries.length, 0);
});

/** A one-off UDP server whose replies the test writes by hand. */
async function rawServer(
  respond: (query: DnsMessage) => Uint8Array | undefined,
  host = "127.0.0.1",
): Promise<NameServer & AsyncDisposable> {
  const socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  socket.on("message", (bytes: Uint8Array, from: dgram.RemoteInfo) => {
    const reply = respond(decodeMessage(bytes));
    if (reply) socket.send(reply, from.port, from.address);
  });
  socket.bind(0, host);
  await once(socket, "listening");
  return {
    host,
    port: socket.address().port,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

function replyTo(query: DnsMessage, change: Partial<DnsMessage["header"]>): DnsMessage {
  return {
    header: { ...query.header, qr: true, ra: true, ...change },
    questions: query.questions,
    answers: [],
    authorities: [],
    additionals: [],
  };
}

Deno.test("Resolver.query() retries without EDNS after a FORMERR without OPT", async () => {
  const seen: boolean[] = [];
  await using server = await rawServer((query) => {
    seen.push(query.edns !== undefined);
    if (query.edns) return encodeMessage(replyTo(query, { rcode: Rcode.FORMERR }));
    const msg = replyTo(query, {});
    msg.answers.push({
      name: query.questions[0].name,
      type: RRType.A,
      class: 1,
      ttl: 60,
      data: { kind: "A", address: "192.0.2.44" },
    });
    return encodeMessage(msg);
  });
  const answer = await resolverFor(server).a("old.test");
  assert.deepEqual(answer, { kind: "ok", records: ["192.0.2.44"] });
  assert.deepEqual(seen, [true, false]);
});

/** Whether this machine has IPv6 loopback (some containers do not). */
const HAS_IPV6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "Resolver.query() asks IPv6 servers over udp6",
  ignore: !HAS_IPV6,
}, async () => {
  await using server = await rawServer((query) => {
    const msg = replyTo(query, {});
    msg.answers.push({
      name: query.questions[0].name,
      type: RRType.AAAA,
      class: 1,
      ttl: 60,
      data: { kind: "AAAA", address: "2001:db8::25" },
    });
    return encodeMessage(msg);
  }, "::1");
  const answer = await resolverFor(server).aaaa("v6.test");
  assert.deepEqual(answer, { kind: "ok", records: ["2001:db8::25"] });
});

Deno.test("Resolver.query() reports a network error when TCP is refused after TC", async () => {
  await using server = await rawServer((query) => encodeMessage(replyTo(query, { tc: true })));
  const answer = await resolverFor(server, { attempts: 1 }).a("tc.test");
  assert.equal(answer.kind === "error" && answer.reason, "network");
  assert.match(answer.kind === "error" ? answer.detail : "", /^TCP to 127\.0\.0\.1:\d+: /);
});

Deno.test("Resolver.query() ignores replies without the response bit or the question", async () => {
  let count = 0;
  await using server = await rawServer((query) => {
    count++;
    if (count === 1) return encodeMessage({ ...replyTo(query, {}), header: { ...query.header } });
    // NOERROR without a question could be anyone's: not accepted (RFC 5452 §9.1).
    return encodeMessage({ ...replyTo(query, {}), questions: [] });
  });
  const answer = await resolverFor(server, { timeoutMs: 100, attempts: 1 }).a("q.test");
  assert.equal(answer.kind === "error" && answer.reason, "timeout");
});

Deno.test("parseResolvConf() reads up to three nameserver lines", () => {
  const table: [string, NameServer[]][] = [
    ["nameserver 192.0.2.53\n", [{ host: "192.0.2.53", port: 53 }]],
    [
      "# generated\nsearch example.test\nnameserver 10.0.0.1 # first\n" +
      "nameserver\t::1\n;nameserver 10.0.0.9\noptions edns0\n",
      [{ host: "10.0.0.1", port: 53 }, { host: "::1", port: 53 }],
    ],
    ["nameserver fe80::1%eth0\n", [{ host: "fe80::1%eth0", port: 53 }]],
    ["nameserver not-an-ip\nnameserver\n", []],
    [
      "nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n",
      [1, 2, 3].map((n) => ({ host: `10.0.0.${n}`, port: 53 })),
    ],
    ["", []],
  ];
  for (const [text, want] of table) assert.deepEqual(parseResolvConf(text), want, text);
});

Deno.test("Resolver reads resolv.conf lazily from an injectable path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/resolv.conf`;
    // Constructing with a missing file is fine: nothing is read before first use.
    const resolver = new Resolver({ resolvConfPath: path });
    await Deno.writeTextFile(path, "nameserver 192.0.2.53\nnameserver 2001:db8::53\n");
    assert.deepEqual(await resolver.servers(), [
      { host: "192.0.2.53", port: 53 },
      { host: "2001:db8::53", port: 53 },
    ]);
    const missing = new Resolver({ resolvConfPath: `${dir}/missing` });
    assert.deepEqual(await missing.servers(), [{ host: "127.0.0.1", port: 53 }]);
    await Deno.writeTextFile(path, "search example.test\n");
    assert.deepEqual(await new Resolver({ resolvConfPath: path }).servers(), [
      { host: "127.0.0.1", port: 53 },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Resolver rejects nonsense options", () => {
  const table: [ConstructorParameters<typeof Resolver>[0], RegExp][] = [
    [{ timeoutMs: 0 }, /Invalid DNS timeout: 0/],
    [{ attempts: 0 }, /Invalid number of DNS attempts: 0/],
    [{ attempts: 1.5 }, /Invalid number of DNS attempts: 1.5/],
    [{ servers: [] }, /Invalid DNS servers: empty list/],
    [{ servers: [{ host: "dns.example", port: 53 }] }, /Invalid DNS server: dns\.example/],
    [{ servers: [{ host: "127.0.0.1", port: 0 }] }, /Invalid DNS server port: 0/],
  ];
  for (const [options, message] of table) assert.throws(() => new Resolver(options), message);
});

Deno.test("reverseName() builds in-addr.arpa and ip6.arpa names", () => {
  const table: [string, string | undefined][] = [
    ["192.0.2.1", "1.2.0.192.in-addr.arpa"],
    ["10.0.0.255", "255.0.0.10.in-addr.arpa"],
    [
      "2001:db8::567:89ab",
      "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
    ],
    ["example.test", undefined],
  ];
  for (const [ip, want] of table) assert.equal(reverseName(ip), want, ip);
});

Deno.test("Resolver with a cache keeps answers for their TTL and negative ones per the SOA", async () => {
  await using dns = await startDnsStub({ "cached.test": { A: ["192.0.2.9"] } }, {
    ttl: 60,
    negativeTtl: 30,
  });
  const resolver = new Resolver({ servers: [{ host: dns.host, port: dns.port }], cache: true });
  assert.deepEqual(await resolver.a("cached.test"), { kind: "ok", records: ["192.0.2.9"] });
  assert.deepEqual(await resolver.a("cached.test"), { kind: "ok", records: ["192.0.2.9"] });
  assert.equal((await resolver.a("gone.test")).kind, "nxdomain");
  assert.equal((await resolver.a("gone.test")).kind, "nxdomain");
  assert.equal(dns.queries.length, 2, "one query per question");
  const uncached = new Resolver({ servers: [{ host: dns.host, port: dns.port }] });
  await uncached.a("cached.test");
  assert.equal(dns.queries.length, 3, "no cache unless asked for");
});

Deno.test("Resolver with a cache keeps negative answers between a floor and the SOA, then asks again", async () => {
  await using withSoa = await startDnsStub({}, { negativeTtl: 120 });
  await using withoutSoa = await startDnsStub({});
  let now = 1_000_000;
  const clock = () => now;
  for (
    const [dns, seconds] of [[withSoa, 120], [withoutSoa, MIN_NEGATIVE_TTL]] as const
  ) {
    now = 1_000_000;
    const resolver = new Resolver({
      servers: [{ host: dns.host, port: dns.port }],
      cache: true,
      now: clock,
    });
    assert.equal((await resolver.txt("_dmarc.gone.test")).kind, "nxdomain");
    now += seconds * 1000 - 1;
    assert.equal((await resolver.txt("_dmarc.gone.test")).kind, "nxdomain");
    assert.equal(dns.queries.length, 1, `kept for ${seconds} s`);
    now += 1;
    assert.equal((await resolver.txt("_dmarc.gone.test")).kind, "nxdomain");
    assert.equal(dns.queries.length, 2, `asked again after ${seconds} s`);
  }
});

Deno.test("Resolver sends one query for a question asked many times at once", async () => {
  await using dns = await startDnsStub(ZONE);
  for (const cache of [true, false]) {
    dns.queries.length = 0;
    const resolver = new Resolver({ servers: [{ host: dns.host, port: dns.port }], cache });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        // Half of them with a signal, as the inbound checks ask.
        resolver.a("example.test", i % 2 ? { signal: AbortSignal.timeout(5000) } : {})),
    );
    for (const a of answers) {
      assert.deepEqual(a, { kind: "ok", records: ["127.0.0.1", "192.0.2.1"] });
    }
    assert.equal(dns.queries.length, 1, `cache=${cache}`);
    // Once answered, the question is asked again unless cached.
    await resolver.a("example.test");
    assert.equal(dns.queries.length, cache ? 1 : 2, `cache=${cache}`);
  }
});

Deno.test("Resolver stops a shared query only when every caller has given up", async () => {
  await using dns = await startDnsStub(ZONE, { behaviours: { "slow.test": "drop" } });
  const resolver = resolverFor(dns, { timeoutMs: 5000 });
  const started = performance.now();
  const [early, limited, late] = await Promise.all([
    resolver.a("slow.test", { signal: AbortSignal.timeout(50) }),
    resolver.a("slow.test", { limitMs: 100 }),
    resolver.a("slow.test", { signal: AbortSignal.timeout(300) }),
  ]);
  for (const a of [early, limited, late]) assert.equal(a.kind === "error" && a.reason, "timeout");
  assert.ok(performance.now() - started < 2000, "nobody waited for the 5 s try");
  assert.equal(dns.queries.length, 1);
  // The wire query was stopped with the last caller (the sanitizers see no timer or socket left),
  // and the next caller starts a new one.
  dns.behave("slow.test", undefined);
  assert.deepEqual(await resolver.a("slow.test"), { kind: "ok", records: ["192.0.2.9"] });
  assert.equal(dns.queries.length, 2);
});
