/**
 * Our ACME client against a real ACME CA on loopback (pebble): an account,
 * an order for two names proven over http-01 on a listener of ours, a chain
 * that openssl verifies up to pebble's root, bad nonces retried, a wrong
 * answer refused with the CA's problem, and a CA that hangs or is gone
 * reported within a bounded time.
 */
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { AcmeClient, AcmeError } from "../src/acme/client.ts";
import { generateAccountKey } from "../src/acme/keys.ts";
import { hasPebble, startPebble } from "./support/pebble.ts";

const ignore = !hasPebble();

/**
 * The http-01 answers, on a loopback port bound before pebble starts (so
 * nothing else takes it): pebble asks there for every name, with its Host.
 */
function responder() {
  const answers = new Map<string, string>();
  const asked: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const token = /^\/\.well-known\/acme-challenge\/([\w-]+)$/.exec(new URL(request.url).pathname)
      ?.[1];
    const answer = token && answers.get(token);
    asked.push(`${request.headers.get("host")?.replace(/:\d+$/, "")} ${answer ? 200 : 404}`);
    return answer ? new Response(answer) : new Response("not found", { status: 404 });
  });
  return {
    port: server.addr.port,
    answers,
    /** "host status" of every request pebble made. */
    asked,
    publish: (token: string, keyAuthorization: string) => void answers.set(token, keyAuthorization),
    unpublish: (token: string) => void answers.delete(token),
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** The certificates of a PEM chain, leaf first, as PEM blocks. */
function pemBlocks(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? [];
}

/** `openssl verify -CAfile root -untrusted intermediate leaf`: its output, or a failure. */
async function opensslVerify(root: string, intermediate: string, leaf: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "postino-acme-" });
  try {
    const file = (name: string, text: string) => Deno.writeTextFile(join(dir, name), text);
    await Promise.all([
      file("root.pem", root),
      file("inter.pem", intermediate),
      file("leaf.pem", leaf),
    ]);
    const out = await new Deno.Command("openssl", {
      args: ["verify", "-CAfile", "root.pem", "-untrusted", "inter.pem", "leaf.pem"],
      cwd: dir,
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.ok(out.success, text);
    return text;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "AcmeClient gets a certificate for two names from pebble over http-01",
  ignore,
  async fn(t) {
    await using http01 = responder();
    await using pebble = await startPebble({ httpPort: http01.port });
    const accountKey = await generateAccountKey();
    const options = { directoryUrl: pebble.directory, caCerts: [pebble.caCertPem] };
    const client = new AcmeClient({
      ...options,
      accountKey,
      contact: ["mailto:postmaster@example.test"],
    });

    await t.step(
      "account() registers once; onlyReturnExisting finds it, or nothing for a new key",
      async () => {
        const url = await client.account();
        assert.match(url, /^https:\/\/127\.0\.0\.1:\d+\/my-account\//);
        const again = new AcmeClient({ ...options, accountKey });
        assert.equal(await again.account({ onlyReturnExisting: true }), url, "the same account");
        assert.equal(
          await new AcmeClient({ ...options, accountKey }).account(),
          url,
          "newAccount reuses it",
        );
        const stranger = new AcmeClient({ ...options, accountKey: await generateAccountKey() });
        await assert.rejects(() => stranger.account({ onlyReturnExisting: true }), (err) => {
          assert.ok(err instanceof AcmeError);
          assert.equal(err.type, "urn:ietf:params:acme:error:accountDoesNotExist");
          assert.match(
            err.message,
            /^Cannot find the ACME account at https:\/\/127\.0\.0\.1:\d+\/dir: urn:/,
          );
          return true;
        });
      },
    );

    await t.step(
      "issue() gets a chain for both names that openssl verifies up to pebble's root",
      async () => {
        const names = ["mail.example.test", "mta-sts.example.test"];
        const issued = await client.issue(names, {
          publish: http01.publish,
          unpublish: http01.unpublish,
        });
        // Pebble asks more than once per name (from several "perspectives").
        assert.deepEqual(
          [...new Set(http01.asked)].toSorted(),
          names.map((n) => `${n} 200`),
          "each name asked with its Host, and answered",
        );
        assert.equal(http01.answers.size, 0, "every answer withdrawn");

        const [leafPem, intermediatePem, ...rest] = pemBlocks(issued.certificatePem);
        assert.equal(rest.length, 0, "leaf and intermediate");
        assert.match(
          await opensslVerify(pebble.rootPem, intermediatePem, leafPem),
          /leaf\.pem: OK/,
        );
        const leaf = new X509Certificate(leafPem);
        const intermediate = new X509Certificate(intermediatePem);
        assert.match(leaf.issuer, /CN=Pebble Intermediate CA/);
        assert.ok(leaf.checkIssued(intermediate) && leaf.verify(intermediate.publicKey));
        assert.ok(intermediate.verify(new X509Certificate(pebble.rootPem).publicKey));
        assert.equal(leaf.subjectAltName, "DNS:mail.example.test, DNS:mta-sts.example.test");
        assert.ok(leaf.checkPrivateKey(createPrivateKey(issued.privateKeyPem)), "our key");
        assert.match(issued.privateKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
        assert.equal(issued.notAfter.getTime(), Date.parse(leaf.validTo));
        assert.ok(issued.notAfter.getTime() > Date.now() + 86_400_000);
      },
    );

    await t.step("a CA whose HTTPS we do not trust is named as such", async () => {
      const untrusting = new AcmeClient({ directoryUrl: pebble.directory, accountKey });
      await assert.rejects(
        () => untrusting.account(),
        {
          name: "AcmeError",
          message:
            /^Cannot register the ACME account at \S+: cannot reach \S+: .*invalid peer certificate: UnknownIssuer$/,
        },
      );
    });

    await t.step("a wrong http-01 answer fails with the CA's unauthorized problem", async () => {
      http01.asked.length = 0;
      const unpublished: string[] = [];
      const err = await client.issue(["wrong.example.test"], {
        publish: (token) => http01.publish(token, `${token}.not-the-thumbprint`),
        unpublish: (token) => {
          unpublished.push(token);
          http01.unpublish(token);
        },
      }).then(() => assert.fail("issued"), (e) => e);
      assert.ok(err instanceof AcmeError);
      assert.equal(err.type, "urn:ietf:params:acme:error:unauthorized");
      assert.match(
        err.message,
        /^ACME order for wrong\.example\.test failed: urn:ietf:params:acme:error:unauthorized: http-01 validation of wrong\.example\.test: .+/,
      );
      assert.ok(err.detail.length > 0, "the CA's detail");
      assert.deepEqual([...new Set(http01.asked)], ["wrong.example.test 200"], "pebble asked");
      assert.equal(unpublished.length, 1);
      assert.equal(http01.answers.size, 0);
    });
  },
});

Deno.test({
  name: "AcmeClient retries pebble's bad nonces and reports a CA that hangs or is gone",
  ignore,
  async fn(t) {
    await using http01 = responder();
    const env = { PEBBLE_WFE_NONCEREJECT: "50" };
    await using pebble = await startPebble({ httpPort: http01.port, env });
    let refused = 0;
    const countingFetch: typeof fetch = async (input, init) => {
      const response = await fetch(input, init);
      if (response.status === 400 && /badNonce/.test(await response.clone().text())) refused++;
      return response;
    };
    const client = new AcmeClient({
      directoryUrl: pebble.directory,
      accountKey: await generateAccountKey(),
      caCerts: [pebble.caCertPem],
      fetch: countingFetch,
      timeoutMs: 2_000,
      // Pebble refuses half the nonces, where a real CA refuses one now and then: with the
      // default 10 retries, one request in about 2000 would fail and the test with it.
      badNonceRetries: 30,
    });

    await t.step("with half the nonces refused, issuance still succeeds", async () => {
      const issued = await client.issue(["mail.example.test", "mta-sts.example.test"], http01);
      assert.equal(pemBlocks(issued.certificatePem).length, 2);
      assert.ok(refused > 0, "pebble refused some nonces");
    });

    await t.step(
      "a CA that stops answering is an AcmeError after timeoutMs, not a hang",
      async () => {
        pebble.pause();
        const started = Date.now();
        await assert.rejects(
          () => client.issue(["late.example.test"], http01),
          (err) => {
            assert.ok(err instanceof AcmeError);
            assert.match(
              err.message,
              /^ACME order for late\.example\.test failed: https:\/\/127\.0\.0\.1:\d+\/\S+ did not answer within 2000 ms$/,
            );
            return true;
          },
        );
        assert.ok(Date.now() - started < 5_000, `${Date.now() - started} ms`);
      },
    );

    await t.step("a stopped CA is an AcmeError at once", async () => {
      await pebble.stop();
      const started = Date.now();
      await assert.rejects(
        () => client.issue(["late.example.test"], http01),
        (err) =>
          err instanceof AcmeError && err.status === 0 &&
          /^ACME order for late\.example\.test failed: cannot reach https:\/\/127\.0\.0\.1:\d+\/\S+: .*Connection refused/
            .test(err.message),
      );
      assert.ok(Date.now() - started < 2_000, `${Date.now() - started} ms`);
    });
  },
});
