import assert from "node:assert/strict";
import { AcmeClient, AcmeError } from "./client.ts";
import {
  base64urlDecode,
  type FlattenedJws,
  generateAccountKey,
  jwkThumbprint,
  publicJwk,
  verifyJws,
} from "./keys.ts";

const decoder = new TextDecoder();

/** A request the fake CA saw, with its JWS opened. */
interface Seen {
  method: string;
  path: string;
  accept: string | null;
  at: number;
  header?: Record<string, unknown>;
  jws?: FlattenedJws;
  payload?: unknown;
}

const CA = "https://ca.test";

function problem(status: number, type: string, detail: string): Response {
  return Response.json({ type: `urn:ietf:params:acme:error:${type}`, detail, status }, { status });
}

/** An ACME CA in memory: the directory and newNonce, then `routes` by path; a nonce on every answer but the directory's. */
function fakeCa(routes: Record<string, (seen: Seen) => Response | Promise<Response>>) {
  const seen: Seen[] = [];
  let nonces = 0;
  const fetch = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const path = new URL(String(input)).pathname;
    const headers = new Headers(init.headers);
    const request: Seen = {
      method: init.method ?? "GET",
      path,
      accept: headers.get("accept"),
      at: Date.now(),
    };
    if (typeof init.body === "string") {
      const jws = JSON.parse(init.body) as FlattenedJws;
      request.jws = jws;
      request.header = JSON.parse(decoder.decode(base64urlDecode(jws.protected)));
      request.payload = jws.payload ? JSON.parse(decoder.decode(base64urlDecode(jws.payload))) : "";
    }
    seen.push(request);
    if (path === "/dir") {
      return Response.json({
        newNonce: `${CA}/nonce`,
        newAccount: `${CA}/account`,
        newOrder: `${CA}/order`,
      });
    }
    const response = path === "/nonce"
      ? new Response(null)
      : await routes[path]?.(request) ?? problem(404, "malformed", `no ${path}`);
    response.headers.set("replay-nonce", `nonce-${++nonces}`);
    return response;
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

const account = () =>
  Response.json({ status: "valid" }, { status: 201, headers: { location: `${CA}/acct/1` } });

Deno.test("AcmeClient signs newAccount with the jwk, later requests with the kid, each with a fresh nonce", async () => {
  const keys = await generateAccountKey();
  const ca = fakeCa({
    "/account": account,
    "/order": () => problem(400, "rejectedIdentifier", "no such TLD"),
  });
  const client = new AcmeClient({
    directoryUrl: `${CA}/dir`,
    accountKey: keys,
    contact: ["mailto:postmaster@example.test"],
    fetch: ca.fetch,
  });
  assert.equal(await client.account(), `${CA}/acct/1`);
  const err = await client.issue(["Mail.Example.Test"], { publish() {}, unpublish() {} })
    .then(() => assert.fail("issued"), (e) => e);
  assert.ok(err instanceof AcmeError);
  assert.equal(
    err.message,
    "ACME order for mail.example.test failed: urn:ietf:params:acme:error:rejectedIdentifier: no such TLD",
  );
  assert.deepEqual([err.type, err.detail, err.status], [
    "urn:ietf:params:acme:error:rejectedIdentifier",
    "no such TLD",
    400,
  ]);
  assert.deepEqual(ca.seen.map((s) => `${s.method} ${s.path}`), [
    "GET /dir",
    "HEAD /nonce",
    "POST /account",
    "POST /order",
  ]);
  const [, , newAccount, newOrder] = ca.seen;
  assert.deepEqual(newAccount.header, {
    alg: "ES256",
    nonce: "nonce-1",
    url: `${CA}/account`,
    jwk: await publicJwk(keys.publicKey),
  });
  assert.deepEqual(newAccount.payload, {
    termsOfServiceAgreed: true,
    contact: ["mailto:postmaster@example.test"],
  });
  assert.deepEqual(newOrder.header, {
    alg: "ES256",
    nonce: "nonce-2",
    url: `${CA}/order`,
    kid: `${CA}/acct/1`,
  });
  assert.deepEqual(newOrder.payload, {
    identifiers: [{ type: "dns", value: "mail.example.test" }],
  });
  for (const s of ca.seen.filter((s) => s.jws)) assert.ok(await verifyJws(keys.publicKey, s.jws!));
});

Deno.test("AcmeClient.issue() answers http-01, polls with POST-as-GET honouring Retry-After, and unpublishes", async () => {
  const keys = await generateAccountKey();
  let authzReads = 0;
  const challenge = { type: "http-01", url: `${CA}/chall/1`, token: "tok-1", status: "pending" };
  const authz = (status: string, headers = {}) =>
    Response.json({
      status,
      identifier: { type: "dns", value: "a.example.test" },
      challenges: [
        { type: "dns-01", url: `${CA}/chall/2`, token: "tok-2", status: "pending" },
        challenge,
      ],
    }, { headers });
  const ca = fakeCa({
    "/account": account,
    "/order": () =>
      Response.json({
        status: "pending",
        authorizations: [`${CA}/authz/1`],
        finalize: `${CA}/finalize/1`,
      }, { status: 201, headers: { location: `${CA}/order/1` } }),
    "/authz/1": () =>
      ++authzReads === 1
        ? authz("pending")
        : authzReads === 2
        ? authz("pending", { "retry-after": "1" })
        : authz("valid"),
    "/chall/1": () => Response.json({ ...challenge, status: "processing" }),
    "/order/1": () => Response.json({ status: "ready", finalize: `${CA}/finalize/1` }),
    "/finalize/1": () => problem(400, "badCSR", "key too weak"),
  });
  const client = new AcmeClient({ directoryUrl: `${CA}/dir`, accountKey: keys, fetch: ca.fetch });
  const published = new Map<string, string>();
  const events: string[] = [];
  await assert.rejects(
    () =>
      client.issue(["a.example.test"], {
        publish: (token, keyAuthorization) => {
          events.push(`publish ${token}`);
          published.set(token, keyAuthorization);
        },
        unpublish: (token) => void events.push(`unpublish ${token}`),
      }),
    {
      name: "AcmeError",
      message:
        /^ACME order for a.example.test failed: urn:ietf:params:acme:error:badCSR: key too weak$/,
    },
  );
  const thumbprint = await jwkThumbprint(await publicJwk(keys.publicKey));
  assert.equal(published.get("tok-1"), `tok-1.${thumbprint}`, "RFC 8555 §8.1");
  assert.deepEqual(events, ["publish tok-1", "unpublish tok-1"]);
  const posts = ca.seen.filter((s) => s.jws).map((s) => [s.path, s.jws!.payload]);
  assert.deepEqual(posts.slice(2, 7), [
    ["/authz/1", ""],
    ["/chall/1", "e30"], // {}: "ready to be validated"
    ["/authz/1", ""],
    ["/authz/1", ""],
    ["/order/1", ""],
  ]);
  const polls = ca.seen.filter((s) => s.path === "/authz/1").map((s) => s.at);
  assert.ok(polls[2] - polls[1] >= 950, `Retry-After: 1 honoured (${polls[2] - polls[1]} ms)`);
  const finalize = ca.seen.find((s) => s.path === "/finalize/1")!;
  assert.match((finalize.payload as { csr: string }).csr, /^MI[A-Za-z0-9_-]+$/, "DER base64url");
  assert.equal(
    ca.seen.filter((s) => s.path === "/nonce").length,
    1,
    "nonces come from the answers",
  );
});

Deno.test("AcmeClient.issue() gives up polling at pollTimeoutMs and still unpublishes", async () => {
  const unpublished: string[] = [];
  const ca = fakeCa({
    "/account": account,
    "/order": () =>
      Response.json({ status: "pending", authorizations: [`${CA}/authz/1`], finalize: `${CA}/f` }, {
        status: 201,
        headers: { location: `${CA}/order/1` },
      }),
    "/authz/1": () =>
      Response.json({
        status: "pending",
        identifier: { type: "dns", value: "slow.example.test" },
        challenges: [{ type: "http-01", url: `${CA}/chall/1`, token: "t", status: "processing" }],
      }),
  });
  const client = new AcmeClient({
    directoryUrl: `${CA}/dir`,
    accountKey: await generateAccountKey(),
    fetch: ca.fetch,
    pollTimeoutMs: 600,
  });
  const started = Date.now();
  await assert.rejects(
    () =>
      client.issue(["slow.example.test"], {
        publish() {},
        unpublish: (t) => void unpublished.push(t),
      }),
    /failed: gave up waiting for the validation of slow.example.test: still pending after 600 ms/,
  );
  assert.ok(Date.now() - started < 2_000);
  assert.deepEqual(unpublished, ["t"]);
  assert.ok(
    !ca.seen.some((s) => s.path === "/chall/1"),
    "a processing challenge is not answered again",
  );
});

Deno.test("AcmeClient retries badNonce with the nonce of the refusal, a bounded number of times", async () => {
  let refusals = 2;
  const ca = fakeCa({
    "/account": () => refusals-- > 0 ? problem(400, "badNonce", "stale") : account(),
  });
  const client = new AcmeClient({
    directoryUrl: `${CA}/dir`,
    accountKey: await generateAccountKey(),
    fetch: ca.fetch,
  });
  assert.equal(await client.account(), `${CA}/acct/1`);
  const nonces = ca.seen.filter((s) => s.header).map((s) => s.header!.nonce);
  assert.deepEqual(
    nonces,
    ["nonce-1", "nonce-2", "nonce-3"],
    "each retry signs the refusal's nonce",
  );

  const always = fakeCa({ "/account": () => problem(400, "badNonce", "stale") });
  const stubborn = new AcmeClient({
    directoryUrl: `${CA}/dir`,
    accountKey: await generateAccountKey(),
    fetch: always.fetch,
    badNonceRetries: 3,
  });
  await assert.rejects(() => stubborn.account(), (err) => {
    assert.ok(err instanceof AcmeError);
    assert.equal(err.type, "urn:ietf:params:acme:error:badNonce");
    assert.equal(err.status, 400);
    assert.match(
      err.message,
      /^Cannot register the ACME account at https:\/\/ca\.test\/dir: urn:.*badNonce: stale$/,
    );
    return true;
  });
  assert.equal(always.seen.filter((s) => s.path === "/account").length, 4);
});

Deno.test("AcmeClient gives up on a CA that does not answer within timeoutMs", async () => {
  const silent = (_: RequestInfo | URL, init?: RequestInit) =>
    new Promise<Response>((_, reject) => {
      init?.signal?.addEventListener("abort", () => reject(init.signal!.reason));
    });
  const client = new AcmeClient({
    directoryUrl: `${CA}/dir`,
    accountKey: await generateAccountKey(),
    fetch: silent as typeof fetch,
    timeoutMs: 200,
  });
  const started = Date.now();
  await assert.rejects(() => client.account(), {
    name: "AcmeError",
    message:
      "Cannot register the ACME account at https://ca.test/dir: https://ca.test/dir did not answer within 200 ms",
  });
  assert.ok(Date.now() - started < 1_000);
});

Deno.test("AcmeClient takes only ECDSA P-256 account keys", async () => {
  const p384 = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, [
    "sign",
    "verify",
  ]);
  assert.throws(
    () => new AcmeClient({ directoryUrl: `${CA}/dir`, accountKey: p384 as CryptoKeyPair }),
    /must be ECDSA P-256/,
  );
});
