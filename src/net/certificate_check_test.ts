import assert from "node:assert/strict";
import { join } from "node:path";
import { openssl } from "../../tests/support/openssl.ts";
import { CertificateError, checkCertificatePair } from "./certificate_check.ts";

/** PEM files made once by openssl: an RSA pair, an EC pair, and a leaf signed by a CA. */
async function makePems(dir: string): Promise<Record<string, string>> {
  const subj = (cn: string) => ["-subj", `/CN=${cn}`];
  await openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    "rsa.key",
    "-out",
    "rsa.crt",
    "-days",
    "30",
    ...subj("rsa.example"),
    "-addext",
    "subjectAltName=DNS:mail.example,DNS:rsa.example",
  ); // deno-fmt-ignore
  await openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ec.key", "-out", "ec.crt", "-days", "30", ...subj("ec.example")); // deno-fmt-ignore
  await openssl(dir, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30", ...subj("Test CA")); // deno-fmt-ignore
  await openssl(dir, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", ...subj("leaf.example")); // deno-fmt-ignore
  await openssl(dir, "x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.crt", "-days", "10"); // deno-fmt-ignore
  await openssl(dir, "pkey", "-in", "ec.key", "-out", "ec-encrypted.key", "-aes256", "-passout", "pass:secret"); // deno-fmt-ignore
  await openssl(dir, "rsa", "-in", "rsa.key", "-out", "rsa-traditional.key", "-traditional");
  const pems: Record<string, string> = {};
  for (const name of ["rsa", "ec", "ca", "leaf"]) {
    pems[`${name}.crt`] = await Deno.readTextFile(join(dir, `${name}.crt`));
    pems[`${name}.key`] = await Deno.readTextFile(join(dir, `${name}.key`));
  }
  pems["ec-encrypted.key"] = await Deno.readTextFile(join(dir, "ec-encrypted.key"));
  pems["rsa-traditional.key"] = await Deno.readTextFile(join(dir, "rsa-traditional.key"));
  return pems;
}

const FILES = { cert: "/etc/cert.pem", key: "/etc/key.pem" };
const DAY = 86_400_000;

Deno.test("checkCertificatePair() accepts good pairs and refuses bad ones", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "postino-cert-check-" });
  try {
    const p = await makePems(dir);
    const now = new Date();
    const good: [string, string, string, number, string[]][] = [
      ["an RSA pair", p["rsa.crt"], p["rsa.key"], 1, ["rsa.example", "mail.example"]],
      ["an EC pair", p["ec.crt"], p["ec.key"], 1, ["ec.example"]],
      ["a leaf with its CA", p["leaf.crt"] + p["ca.crt"], p["leaf.key"], 2, ["leaf.example"]],
      ["an RSA key in the traditional format", p["rsa.crt"], p["rsa-traditional.key"], 1, [
        "rsa.example",
        "mail.example",
      ]],
      ["CRLF line ends", p["ec.crt"].replaceAll("\n", "\r\n"), p["ec.key"], 1, ["ec.example"]],
    ];
    for (const [name, cert, key, chainLength, names] of good) {
      await t.step(`accepts ${name}`, () => {
        const summary = checkCertificatePair({ cert, key }, FILES, now);
        assert.equal(summary.chainLength, chainLength);
        assert.deepEqual(summary.names, names);
        assert.ok(summary.notAfter.getTime() > now.getTime());
      });
    }

    const body = p["ec.crt"].split("\n").slice(1, -2).join("\n");
    const bad: [string, string, string, Date, RegExp][] = [
      [
        "an empty certificate file",
        "",
        p["ec.key"],
        now,
        /^Certificate file \/etc\/cert\.pem holds no PEM certificate/,
      ], // deno-fmt-ignore
      ["a certificate file that is not PEM", "hello world\n", p["ec.key"], now, /holds no PEM certificate/], // deno-fmt-ignore
      ["a DER-ish base64 blob without armour", body, p["ec.key"], now, /holds no PEM certificate/], // deno-fmt-ignore
      ["a damaged certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", p["ec.key"], now, /^Certificate file \/etc\/cert\.pem: certificate 1 of 1 cannot be parsed$/], // deno-fmt-ignore
      ["a key file that is not PEM", p["ec.crt"], "secret", now, /^Key file \/etc\/key\.pem holds no PEM private key/], // deno-fmt-ignore
      ["a certificate given as the key", p["ec.crt"], p["ec.crt"], now, /^Key file \/etc\/key\.pem holds no PEM private key/], // deno-fmt-ignore
      ["a damaged key", p["ec.crt"], "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", now, /^Key file \/etc\/key\.pem: the private key cannot be parsed$/], // deno-fmt-ignore
      ["an encrypted key", p["ec.crt"], p["ec-encrypted.key"], now, /^Key file \/etc\/key\.pem is encrypted/], // deno-fmt-ignore
      ["a key of another certificate (same type)", p["ec.crt"], p["leaf.key"], now, /^Certificate file \/etc\/cert\.pem does not belong to the key in \/etc\/key\.pem$/], // deno-fmt-ignore
      ["a key of another type", p["ec.crt"], p["rsa.key"], now, /does not belong to the key/], // deno-fmt-ignore
      ["the CA first in the chain", p["ca.crt"] + p["leaf.crt"], p["leaf.key"], now, /does not belong to the key/], // deno-fmt-ignore
      ["an expired certificate", p["ec.crt"], p["ec.key"], new Date(now.getTime() + 40 * DAY), /^Certificate file \/etc\/cert\.pem expired on \d{4}-/], // deno-fmt-ignore
      ["a certificate not valid yet", p["ec.crt"], p["ec.key"], new Date(now.getTime() - 2 * DAY), /^Certificate file \/etc\/cert\.pem is not valid before \d{4}-/], // deno-fmt-ignore
    ];
    for (const [name, cert, key, at, message] of bad) {
      await t.step(`refuses ${name}`, () => {
        assert.throws(
          () => checkCertificatePair({ cert, key }, FILES, at),
          (err: Error) => err instanceof CertificateError && message.test(err.message),
        );
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
