/**
 * Our ACME client against a real ACME CA on loopback (pebble): an account,
 * an order for two names proven over http-01, a chain that pebble's root
 * verifies, bad nonces retried, a wrong answer refused with the CA's
 * problem, and a CA that is gone reported at once.
 */
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { AcmeClient, AcmeError } from "../src/acme/client.ts";
import { generateAccountKey } from "../src/acme/keys.ts";
import { freePort, startPebble } from "./support/pebble.ts";

/** An http-01 responder on `port`: what pebble fetches. */
function responder(port: number, answers: Map<string, string>) {
  return Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, (request) => {
    const token = new URL(request.url).pathname.replace("/.well-known/acme-challenge/", "");
    const answer = answers.get(token);
    return answer === undefined ? new Response("no", { status: 404 }) : new Response(answer);
  });
}

/** The certificates of a PEM chain, leaf first. */
function chain(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [])
    .map((block) => new X509Certificate(block));
}

Deno.test("AcmeClient gets a certificate from pebble over http-01", async (t) => {
  const httpPort = freePort();
  await using pebble = await startPebble({ httpPort });
  const answers = new Map<string, string>();
  const server = responder(httpPort, answers);
  const client = new AcmeClient({
    directoryUrl: pebble.directory,
    accountKey: await generateAccountKey(),
    caCerts: [pebble.apiCaPem],
    contact: ["mailto:postmaster@example.test"],
  });
  try {
    await t.step(
      "an account, then a chain for both names that pebble's root verifies",
      async () => {
        const url = await client.account();
        assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\//);
        assert.equal(await client.account(), url, "the same account");
        const published: string[] = [];
        const issued = await client.issue(["mail.example.test", "mta-sts.example.test"], {
          publish: (token, keyAuthorization) => {
            published.push(token);
            assert.ok(keyAuthorization.startsWith(`${token}.`));
            answers.set(token, keyAuthorization);
          },
          unpublish: (token) => void answers.delete(token),
        });
        assert.equal(published.length, 2, "one challenge per name");
        assert.equal(answers.size, 0, "every answer withdrawn");
        const [leaf, intermediate] = chain(issued.certificatePem);
        assert.ok(intermediate, "the chain holds the intermediate");
        assert.match(intermediate.subject, /Pebble Intermediate CA/);
        assert.ok(leaf.checkIssued(intermediate));
        assert.ok(leaf.verify(intermediate.publicKey));
        const root = new X509Certificate(pebble.rootPem);
        assert.ok(intermediate.verify(root.publicKey), "the root signed the intermediate");
        assert.equal(leaf.subjectAltName, "DNS:mail.example.test, DNS:mta-sts.example.test");
        const { createPrivateKey } = await import("node:crypto");
        assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.privateKeyPem)));
        assert.equal(issued.notAfter.getTime(), Date.parse(leaf.validTo));
      },
    );

    await t.step("a wrong http-01 answer fails with the CA's unauthorized problem", async () => {
      await assert.rejects(
        () =>
          client.issue(["wrong.example.test"], {
            publish: (token) => void answers.set(token, `${token}.not-the-thumbprint`),
            unpublish: (token) => void answers.delete(token),
          }),
        (err) => err instanceof AcmeError && /unauthorized/.test(err.message),
      );
    });
  } finally {
    client.close();
    await server.shutdown();
  }
});

Deno.test("AcmeClient retries bad nonces and reports a CA that is gone", async (t) => {
  const httpPort = freePort();
  await using pebble = await startPebble({ httpPort, env: { PEBBLE_WFE_NONCEREJECT: "50" } });
  const answers = new Map<string, string>();
  const server = responder(httpPort, answers);
  const client = new AcmeClient({
    directoryUrl: pebble.directory,
    accountKey: await generateAccountKey(),
    caCerts: [pebble.apiCaPem],
  });
  try {
    await t.step("with half the nonces refused, issuance still succeeds", async () => {
      for (let i = 0; i < 2; i++) {
        const issued = await client.issue([`n${i}.example.test`], {
          publish: (token, keyAuthorization) => void answers.set(token, keyAuthorization),
          unpublish: (token) => void answers.delete(token),
        });
        assert.match(issued.certificatePem, /BEGIN CERTIFICATE/);
      }
    });

    await t.step("a stopped CA is an AcmeError within seconds, not a hang", async () => {
      await pebble.stop();
      const started = Date.now();
      const fresh = new AcmeClient({
        directoryUrl: pebble.directory,
        accountKey: await generateAccountKey(),
        caCerts: [pebble.apiCaPem],
        timeoutMs: 5_000,
      });
      try {
        await assert.rejects(
          () => fresh.account(),
          (err) => err instanceof AcmeError && /Cannot reach the ACME server/.test(err.message),
        );
      } finally {
        fresh.close();
      }
      assert.ok(Date.now() - started < 10_000);
    });
  } finally {
    client.close();
    await server.shutdown();
  }
});
