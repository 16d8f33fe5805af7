import assert from "node:assert/strict";
import {
  base64url,
  base64urlDecode,
  exportPrivateKeyPem,
  type FlattenedJws,
  generateAccountKey,
  importPrivateKeyPem,
  jwkThumbprint,
  publicJwk,
  signJws,
  signRaw,
  verifyJws,
} from "./keys.ts";

const decoder = new TextDecoder();
const P256 = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGN = { name: "ECDSA", hash: "SHA-256" } as const;

// RFC 7515 Appendix A.3: the ES256 example key and its signed example.
const A3 = {
  kty: "EC",
  crv: "P-256",
  x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
  y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
  d: "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI",
};
const A3_JWS: FlattenedJws = {
  protected: "eyJhbGciOiJFUzI1NiJ9",
  payload:
    "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ",
  signature:
    "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q",
};

async function a3Keys(): Promise<CryptoKeyPair> {
  const { d: _, ...pub } = A3;
  return {
    privateKey: await crypto.subtle.importKey("jwk", A3, P256, true, ["sign"]),
    publicKey: await crypto.subtle.importKey("jwk", pub, P256, true, ["verify"]),
  };
}

Deno.test("jwkThumbprint() gives the example thumbprints of RFC 7638 §3.1 and RFC 8037 §A.3", async () => {
  const rsa = {
    kty: "RSA",
    n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
    e: "AQAB",
    alg: "RS256",
    kid: "2011-04-29",
  };
  assert.equal(await jwkThumbprint(rsa), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  const okp = { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" };
  assert.equal(await jwkThumbprint(okp), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  await assert.rejects(() => jwkThumbprint({ kty: "EC", crv: "P-256", x: "a" }), /no "y"/);
});

Deno.test("jwkThumbprint() of an account key hashes crv, kty, x, y in that order", async () => {
  const jwk = await publicJwk((await a3Keys()).publicKey);
  assert.deepEqual(Object.keys(jwk), ["crv", "kty", "x", "y"], "no d, ext or key_ops");
  const canonical = `{"crv":"P-256","kty":"EC","x":"${A3.x}","y":"${A3.y}"}`;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  assert.equal(await jwkThumbprint({ ...jwk, ...{ alg: "ES256" } }), base64url(digest));
});

Deno.test("base64url() has no padding and the URL-safe letters; base64urlDecode() undoes it", () => {
  const table: [Uint8Array | string, string][] = [
    ["", ""],
    ["{}", "e30"],
    [new Uint8Array([0xfb, 0xff]), "-_8"],
    [new Uint8Array([0xfb, 0xef, 0xbe]), "----"],
    [new Uint8Array([0, 0, 0, 0]), "AAAAAA"],
  ];
  for (const [input, expected] of table) assert.equal(base64url(input), expected);
  for (let n = 0; n < 40; n++) {
    const bytes = crypto.getRandomValues(new Uint8Array(n));
    assert.deepEqual(base64urlDecode(base64url(bytes)), bytes);
  }
  assert.throws(() => base64urlDecode("a+b/"), /Cannot decode base64url/);
});

Deno.test("signJws() makes ES256 JWS like RFC 7515 §A.3, and verifyJws() checks them", async () => {
  const keys = await a3Keys();
  assert.ok(await verifyJws(keys.publicKey, A3_JWS), "the RFC's own example");
  const jws = await signJws(keys.privateKey, { alg: "ES256", url: "https://ca.test/x" }, { a: 1 });
  assert.equal(
    decoder.decode(base64urlDecode(jws.protected)),
    '{"alg":"ES256","url":"https://ca.test/x"}',
  );
  assert.equal(jws.payload, base64url('{"a":1}'));
  assert.ok(await verifyJws(keys.publicKey, jws));
  assert.ok(!await verifyJws(keys.publicKey, { ...jws, payload: base64url('{"a":2}') }));
  const get = await signJws(keys.privateKey, { alg: "ES256" });
  assert.equal(get.payload, "", "POST-as-GET has the empty payload");
  assert.ok(await verifyJws(keys.publicKey, get));
});

Deno.test("exportPrivateKeyPem() and importPrivateKeyPem() keep a key pair in PKCS#8 PEM", async () => {
  const keys = await generateAccountKey();
  const pem = await exportPrivateKeyPem(keys.privateKey);
  assert.match(
    pem,
    /^-----BEGIN PRIVATE KEY-----\n([A-Za-z0-9+/=]{1,64}\n)+-----END PRIVATE KEY-----\n$/,
  );
  const back = await importPrivateKeyPem(pem);
  assert.deepEqual(await publicJwk(back.publicKey), await publicJwk(keys.publicKey));
  const data = new TextEncoder().encode("signed");
  assert.ok(
    await crypto.subtle.verify(SIGN, keys.publicKey, await signRaw(back.privateKey, data), data),
  );
  assert.equal(await exportPrivateKeyPem(back.privateKey), pem, "still extractable");
  await assert.rejects(
    () => importPrivateKeyPem("-----BEGIN EC PRIVATE KEY-----"),
    /expected a PKCS#8 PEM/,
  );
});
