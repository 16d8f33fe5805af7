import assert from "node:assert/strict";
import { decodeCharset, decodeTransfer } from "./transfer_decoding.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const latin1 = (bytes: Uint8Array) => new TextDecoder("latin1").decode(bytes);

Deno.test("decodeTransfer() undoes base64 and quoted-printable, leniently", () => {
  const table: [string, string, string][] = [
    ["base64", "SGVsbG8sIHdvcmxkIQ==", "Hello, world!"],
    ["BASE64", "SGVs\r\nbG8=\r\n", "Hello"],
    ["base64", "SG!!VsbG8", "Hello"], // stray characters skipped
    ["base64", "", ""],
    ["quoted-printable", "caf=C3=A9 =3D ok", "caf\xc3\xa9 = ok"],
    ["quoted-printable", "soft=\r\nbreak", "softbreak"],
    ["quoted-printable", "soft= \t\r\nbreak", "softbreak"],
    ["quoted-printable", "bare=\nlf", "barelf"],
    ["quoted-printable", "bad=ZZescape", "bad=ZZescape"],
    ["quoted-printable", "end=", "end"],
    ["7bit", "as =41 is", "as =41 is"],
    ["x-unknown", "kept", "kept"],
  ];
  for (const [encoding, input, want] of table) {
    assert.equal(latin1(decodeTransfer(enc(input), encoding)), want, `${encoding} ${input}`);
  }
});

Deno.test("decodeCharset() reads the charset, else valid UTF-8, else Latin-1", () => {
  assert.equal(decodeCharset(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "iso-8859-1"), "café");
  assert.equal(decodeCharset(enc("café"), "utf-8"), "café");
  assert.equal(decodeCharset(enc("café"), undefined), "café");
  assert.equal(decodeCharset(new Uint8Array([0x63, 0x61, 0x66, 0xe9]), "us-ascii"), "café");
  assert.equal(decodeCharset(enc("café"), "x-no-such-charset"), "café");
  assert.equal(
    decodeCharset(new Uint8Array([0x93, 0x68, 0x69, 0x94]), "windows-1252"),
    "\u201chi\u201d",
  );
});
