import assert from "node:assert/strict";
import { createCsr, derSignature } from "./csr.ts";
import { base64url, exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem } from "./keys.ts";

/** `openssl req -verify -text` on a DER CSR: its text, or a failure with openssl's words. */
async function opensslReq(der: Uint8Array): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["req", "-inform", "DER", "-noout", "-text", "-verify"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = out.stdin.getWriter();
  await writer.write(der);
  await writer.close();
  const { success, stdout, stderr } = await out.output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.ok(success, text);
  return text;
}

Deno.test("createCsr() makes a CSR openssl verifies, naming every name", async () => {
  const keys = await generateKeyPair();
  const names = ["mail.example.test", "mta-sts.example.test", "autoconfig.example.test"];
  const text = await opensslReq(await createCsr(names, keys));
  assert.match(text, /verify OK/i);
  assert.match(text, /Subject: CN ?= ?mail\.example\.test/);
  assert.match(
    text,
    /DNS:mail\.example\.test, DNS:mta-sts\.example\.test, DNS:autoconfig\.example\.test/,
  );
  assert.match(text, /ecdsa-with-SHA256/);
});

Deno.test("createCsr() takes long names and many of them (multi-byte DER lengths)", async () => {
  const keys = await generateKeyPair();
  const names = Array.from({ length: 40 }, (_, i) => `${"x".repeat(50)}${i}.example.test`);
  const text = await opensslReq(await createCsr(names, keys));
  assert.match(text, /verify OK/i);
  assert.equal(text.match(/DNS:/g)?.length, 40);
  await assert.rejects(() => createCsr([], keys), /at least one name/);
});

Deno.test("derSignature() writes r and s as positive DER INTEGERs", () => {
  const table: [number[], number[]][] = [
    // High bit set: a zero byte keeps the INTEGER positive.
    [[0x80, 0x01, 0x7f, 0x02], [0x30, 0x09, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x02, 0x7f, 0x02]],
    // Leading zeros are dropped; a zero value stays one byte.
    [[0x00, 0x05, 0x00, 0x00], [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x00]],
  ];
  for (const [raw, der] of table) {
    // Each half is two bytes here: r = raw[0..2], s = raw[2..4].
    assert.deepEqual([...derSignature(new Uint8Array(raw))], der);
  }
});

Deno.test("keys survive a PEM round trip and base64url has no padding", async () => {
  const keys = await generateKeyPair();
  const pem = await exportPrivateKeyPem(keys.privateKey);
  assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n$/);
  const back = await importPrivateKeyPem(pem);
  const data = new TextEncoder().encode("signed");
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    back.privateKey,
    data,
  );
  assert.ok(
    await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, keys.publicKey, signature, data),
  );
  assert.equal(base64url(new Uint8Array([0xfb, 0xff])), "-_8");
  assert.equal(base64url("{}"), "e30");
});
