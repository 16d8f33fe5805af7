import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import { startDnsStub } from "../../tests/support/dns_stub.ts";
import { type Config, loadConfig } from "../config.ts";
import { Resolver } from "../dns/resolver.ts";
import type { CheckContext } from "./check.ts";
import {
  checkCertificate,
  fetchMtaStsPolicy,
  peerCertificate,
  responseBody,
  tlsEndpoints,
} from "./check_tls.ts";

x509.cryptoProvider.set(crypto);
const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;
const HOST = "mail.example.test";

interface Issued {
  cert: string;
  key: string;
}

const pemKey = async (key: CryptoKey) =>
  `-----BEGIN PRIVATE KEY-----\n${
    btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.exportKey("pkcs8", key))))
      .replace(/.{64}/g, "$&\n").trimEnd()
  }\n-----END PRIVATE KEY-----\n`;

/** A test CA, and certificates it signs for some names and dates. */
async function testCa() {
  const caKeys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=Postino check test CA",
    notBefore: new Date(now - 30 * DAY),
    notAfter: new Date(now + 365 * DAY),
    signingAlgorithm: ALGORITHM,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
    ],
  });
  let serial = 1;
  return {
    pem: ca.toString("pem"),
    async issue(names: string[], fromDays = -1, toDays = 90): Promise<Issued> {
      const keys = await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: (++serial).toString(16).padStart(2, "0"),
        subject: `CN=${names[0]}`,
        issuer: ca.subject,
        notBefore: new Date(now + fromDays * DAY),
        notAfter: new Date(now + toDays * DAY),
        signingAlgorithm: ALGORITHM,
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
        extensions: [
          new x509.SubjectAlternativeNameExtension(
            names.map((value) => ({ type: "dns" as const, value })),
          ),
        ],
      });
      return { cert: cert.toString("pem"), key: await pemKey(keys.privateKey) };
    },
  };
}

/** A node TLS server on 127.0.0.1 serving `pair` that closes every connection once secure. */
async function tlsServer(pair: Issued) {
  const server = tls.createServer(pair, (socket) => socket.end());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A port on 127.0.0.1 where nothing listens. */
function closedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function configWith(env: Record<string, string>): Config {
  return loadConfig({ flags: {}, env: { POSTINO_HOSTNAME: HOST, ...env } });
}

Deno.test("tlsEndpoints() lists the configured https, imaps and submissions listeners", () => {
  const cases: [Record<string, string>, string[], string[]][] = [
    [{}, ["192.0.2.25"], [
      "https 192.0.2.25:443",
      "imaps 192.0.2.25:993",
      "submissions 192.0.2.25:465",
    ]],
    [{}, [], []],
    [{ POSTINO_HTTPS: "127.0.0.1:8443", POSTINO_IMAPS: "[::]:993" }, ["2001:db8::1"], [
      "https 127.0.0.1:8443",
      "imaps 2001:db8::1:993",
    ]],
    [{ POSTINO_HTTPS: "127.0.0.1:0", POSTINO_SUBMISSIONS: "0.0.0.0:465" }, ["192.0.2.25"], [
      "submissions 192.0.2.25:465",
    ]],
    [{ POSTINO_SMTP: ":25" }, ["192.0.2.25"], []],
  ];
  for (const [env, ours, expected] of cases) {
    const found = tlsEndpoints(configWith(env), ours).map((e) =>
      `${e.listener} ${e.host}:${e.port}`
    );
    assert.deepEqual(found, expected, JSON.stringify(env));
  }
});

Deno.test("peerCertificate() reads the certificate of the first listener that answers", async () => {
  const ca = await testCa();
  await using server = await tlsServer(await ca.issue([HOST]));
  const closed = closedPort();
  const endpoints = [
    { listener: "https" as const, host: "127.0.0.1", port: closed },
    { listener: "imaps" as const, host: "127.0.0.1", port: server.port },
  ];
  const trusted = await peerCertificate(endpoints, HOST, { ca: ca.pem });
  assert.ok(typeof trusted !== "string", String(trusted));
  assert.equal(trusted.endpoint, `imaps 127.0.0.1:${server.port}`);
  assert.equal(trusted.trusted, true);
  assert.ok(trusted.cert.checkHost(HOST));
  const untrusted = await peerCertificate(endpoints.slice(1), HOST);
  assert.ok(typeof untrusted !== "string" && !untrusted.trusted && untrusted.problem);
  const none = await peerCertificate(endpoints.slice(0, 1), HOST, { timeoutMs: 2000 });
  assert.match(
    String(none),
    new RegExp(`no TLS listener answered \\(https 127\\.0\\.0\\.1:${closed}: `),
  );
  assert.match(String(await peerCertificate([], HOST)), /no TLS listener to connect to/);
});

Deno.test("checkCertificate() wants the host's name, valid dates and a trusted CA", async () => {
  const ca = await testCa();
  const ctx = { config: configWith({}), hostname: HOST, ours: ["192.0.2.25"] } as CheckContext;
  const cases: [Issued, boolean, "ok" | "warn" | "fail", RegExp][] = [
    [await ca.issue([HOST]), true, "ok", /names mail\.example\.test, valid until/],
    [await ca.issue(["*.example.test"]), true, "ok", /valid until/],
    [
      await ca.issue(["*.mail.example.test", "example.test"]),
      true,
      "fail",
      /for \*\.mail\.example\.test, example\.test, not/,
    ],
    [await ca.issue([HOST], -1, 5), true, "warn", /expires on .*; renew it/],
    [await ca.issue([HOST], -90, -1), true, "fail", /expired on/],
    [await ca.issue([HOST], 2, 90), true, "fail", /not valid before/],
    [
      await ca.issue(["www.example.test"]),
      true,
      "fail",
      /for www\.example\.test, not mail\.example\.test; use --acme/,
    ],
    [await ca.issue([HOST]), false, "fail", /not trusted \(UNTRUSTED\)/],
  ];
  for (const [pair, trusted, status, detail] of cases) {
    const seen: string[] = [];
    const result = await checkCertificate(ctx, (endpoints, hostname) => {
      seen.push(...endpoints.map((e) => `${e.host}:${e.port}`), hostname);
      return Promise.resolve({
        cert: new X509Certificate(pair.cert),
        endpoint: "https 192.0.2.25:443",
        trusted,
        problem: trusted ? undefined : "UNTRUSTED",
      });
    });
    assert.equal(result.status, status, result.detail);
    assert.match(result.detail, detail);
    assert.deepEqual(seen, ["192.0.2.25:443", "192.0.2.25:993", "192.0.2.25:465", HOST]);
  }
  const broken = await checkCertificate(ctx, () => Promise.reject(new Error("boom")));
  assert.deepEqual(broken, { check: "tls", status: "warn", detail: "boom" });
});

Deno.test("fetchMtaStsPolicy() fetches over HTTPS with our resolver, plain or chunked", async () => {
  const ca = await testCa();
  const pair = await ca.issue(["mta-sts.example.test", "mta-sts.chunked.test"]);
  const policy = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.test\r\nmax_age: 86400\r\n";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, ...pair, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      if (path !== "/.well-known/mta-sts.txt") return new Response("no", { status: 404 });
      if (request.headers.get("host") === "mta-sts.chunked.test") {
        const parts = policy.split("\r\n").map((l) => new TextEncoder().encode(`${l}\r\n`));
        return new Response(ReadableStream.from(parts.slice(0, -1)));
      }
      return new Response(policy, { headers: { "Content-Type": "text/plain" } });
    },
  );
  await using dns = await startDnsStub({
    "mta-sts.example.test": { A: ["127.0.0.1"] },
    "mta-sts.chunked.test": { CNAME: "mta-sts.example.test" },
    "mta-sts.other.test": { CNAME: "mta-sts.example.test" },
  });
  try {
    const resolver = new Resolver({ servers: [dns] });
    const options = { port: server.addr.port, ca: ca.pem };
    assert.equal(await fetchMtaStsPolicy("example.test", resolver, options), policy);
    await assert.rejects(
      fetchMtaStsPolicy("missing.test", resolver, options),
      /mta-sts\.missing\.test does not resolve/,
    );
    assert.equal(await fetchMtaStsPolicy("chunked.test", resolver, options), policy);
    // The certificate does not name mta-sts.other.test, and without our CA it is not trusted.
    await assert.rejects(
      fetchMtaStsPolicy("other.test", resolver, options),
      /cannot fetch it from 127\.0\.0\.1:\d+: /,
    );
    await assert.rejects(
      fetchMtaStsPolicy("example.test", resolver, { port: options.port }),
      /cannot fetch it/,
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("responseBody() reads a 200 response, chunked or not, and refuses others", () => {
  const cases: [string, string | RegExp][] = [
    ["HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "hello"],
    [
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n",
      "hello",
    ],
    ["HTTP/1.1 301 Moved\r\nLocation: /x\r\n\r\n", /answered "HTTP\/1\.1 301 Moved"/],
    ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", /chunked HTTP body is broken/],
    ["HTTP/1.1 200 OK\r\n", /no end of headers/],
  ];
  for (const [raw, expected] of cases) {
    if (typeof expected === "string") assert.equal(responseBody(raw), expected);
    else assert.throws(() => responseBody(raw), expected);
  }
});
