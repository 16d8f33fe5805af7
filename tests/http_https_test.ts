/**
 * The HTTPS listener of the real `postino serve`, with the development
 * certificate trusted as a CA: the same application as over plain HTTP,
 * the session cookie marked Secure, HSTS sent, and the certificate the mail
 * listeners use.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startPostino } from "./support/server.ts";

Deno.test("HTTPS serves the API and the pages with Secure cookies and HSTS", async (t) => {
  await using server = await startPostino({
    args: ["--dev", "--https", "127.0.0.1:0", "--http", "127.0.0.1:0", "--imap", "127.0.0.1:0"],
  });
  const added = await server.cli(["user", "add", "alice@localhost", "--password-stdin"], "pw-a\n");
  assert.equal(added.code, 0, added.stderr);
  const cert = await Deno.readTextFile(join(server.dataDir, "dev-cert.pem"));
  using client = Deno.createHttpClient({ caCerts: [cert] });
  // The dev certificate names localhost, so that is the name to ask for.
  const base = `https://localhost:${server.addresses.https.port}`;

  await t.step("the health check and the OpenAPI document answer over TLS", async () => {
    const health = await fetch(`${base}/healthz`, { client });
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    assert.match(health.headers.get("strict-transport-security") ?? "", /^max-age=\d+/);
    const doc = await fetch(`${base}/api/v1/openapi.json`, { client });
    assert.equal((await doc.json()).openapi, "3.1.0");
  });

  await t.step("Basic credentials work and the sign-in cookie is Secure", async () => {
    const users = await fetch(`${base}/api/v1/users`, {
      client,
      headers: { Authorization: `Basic ${btoa("alice@localhost:pw-a")}` },
    });
    assert.equal(users.status, 200);
    assert.deepEqual((await users.json()).map((u: { address: string }) => u.address), [
      "alice@localhost",
    ]);
    const signIn = await fetch(`${base}/api/v1/session`, {
      client,
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ address: "alice@localhost", password: "pw-a" }),
    });
    assert.equal(signIn.status, 201);
    await signIn.body?.cancel();
    const cookie = signIn.headers.get("set-cookie") ?? "";
    for (const attribute of ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"]) {
      assert.ok(cookie.split(/;\s*/).includes(attribute), `${attribute} in ${cookie}`);
    }
  });

  await t.step("the admin page and its assets come over TLS too", async () => {
    const page = await fetch(`${base}/admin/`, { client });
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    assert.match(await page.text(), /<script type="module" src="\/ui\/admin.js">/);
    const js = await fetch(`${base}/ui/admin.js`, { client });
    const tag = js.headers.get("etag");
    await js.body?.cancel();
    assert.ok(tag);
    const again = await fetch(`${base}/ui/admin.js`, { client, headers: { "If-None-Match": tag } });
    assert.equal(again.status, 304);
    await again.body?.cancel();
  });

  await t.step("plain HTTP from loopback keeps working beside HTTPS", async () => {
    const r = await fetch(`http://127.0.0.1:${server.addresses.http.port}/healthz`);
    assert.equal(r.status, 200);
    await r.body?.cancel();
  });
});
