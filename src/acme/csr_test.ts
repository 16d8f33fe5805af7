import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { checkCertificateName, createCsr, derSignature, oid } from "./csr.ts";
import { generateKeyPair, publicJwk, signRaw } from "./keys.ts";

/** `openssl req -verify -text` on a DER CSR: its text, or a failure with openssl's words. */
async function opensslReq(der: Uint8Array): Promise<string> {
  const child = new Deno.Command("openssl", {
    args: ["req", "-inform", "DER", "-noout", "-text", "-verify"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(der);
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  assert.ok(success, text);
  return text;
}

Deno.test("createCsr() makes a CSR whose signature openssl verifies, with every name as a SAN", async () => {
  const keys = await generateKeyPair();
  const names = ["mail.example.test", "mta-sts.example.test", "autoconfig.example.test"];
  const text = await opensslReq(await createCsr(names, keys));
  assert.match(text, /verify OK/i);
  assert.match(text, /Subject: CN ?= ?mail\.example\.test\n/);
  assert.match(
    text,
    /Requested Extensions:\s+X509v3 Subject Alternative Name:\s+DNS:mail\.example\.test, DNS:mta-sts\.example\.test, DNS:autoconfig\.example\.test\n/,
  );
  assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.match(text, /NIST CURVE: P-256|ASN1 OID: prime256v1/);
});

Deno.test("createCsr() takes many long names (multi-byte DER lengths) and leaves a CN over 64 characters out", async () => {
  const keys = await generateKeyPair();
  const names = Array.from({ length: 40 }, (_, i) => `${"x".repeat(60)}${i}.example.test`);
  const text = await opensslReq(await createCsr(names, keys));
  assert.match(text, /verify OK/i);
  assert.equal(text.match(/DNS:/g)?.length, 40);
  assert.match(text, /Subject: ?\n/, "no CN: the SANs carry the names");
});

Deno.test("createCsr() refuses what is not a DNS name", async () => {
  const keys = await generateKeyPair();
  await assert.rejects(() => createCsr([], keys), /at least one name/);
  for (
    const bad of [
      "localhost",
      "mail..example.test",
      "-a.example.test",
      "mäil.example.test",
      "a b.test",
      `${"a".repeat(64)}.test`,
    ]
  ) {
    assert.throws(() => checkCertificateName(bad), /not a DNS name/, bad);
  }
  for (
    const good of ["mail.example.test", "*.example.test", "xn--mil-ula.example.test", "a-1.b2.test"]
  ) {
    checkCertificateName(good);
  }
});

Deno.test("oid() encodes arcs in base 128 (X.690 §8.19)", () => {
  const table: [string, number[]][] = [
    ["2.5.4.3", [0x06, 0x03, 0x55, 0x04, 0x03]],
    ["1.2.840.10045.4.3.2", [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]],
  ];
  for (const [dotted, der] of table) assert.deepEqual([...oid(dotted)], der);
});

Deno.test("derSignature() writes r and s as positive minimal DER INTEGERs", () => {
  const table: [number[], number[]][] = [
    // High bit set: a zero byte keeps the INTEGER positive.
    [[0x80, 0x01, 0x7f, 0x02], [0x30, 0x09, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x02, 0x7f, 0x02]],
    // Leading zeros are dropped; a zero value stays one byte.
    [[0x00, 0x05, 0x00, 0x00], [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x00]],
    // A leading zero before a high bit stays.
    [[0x00, 0x80, 0x00, 0x81], [0x30, 0x08, 0x02, 0x02, 0x00, 0x80, 0x02, 0x02, 0x00, 0x81]],
  ];
  for (const [raw, der] of table) assert.deepEqual([...derSignature(new Uint8Array(raw))], der);
  assert.throws(() => derSignature(new Uint8Array(3)), /raw ECDSA signature/);
});

Deno.test("derSignature() of WebCrypto signatures verifies as DER in node:crypto", async () => {
  const keys = await generateKeyPair();
  const key = createPublicKey({ key: await publicJwk(keys.publicKey), format: "jwk" });
  for (let i = 0; i < 20; i++) {
    const data = crypto.getRandomValues(new Uint8Array(32 + i));
    const raw = await signRaw(keys.privateKey, data);
    assert.equal(raw.length, 64, "WebCrypto gives raw r||s");
    assert.ok(verify("sha256", data, key, derSignature(raw)), `signature ${i}`);
    assert.ok(verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, raw));
  }
});
