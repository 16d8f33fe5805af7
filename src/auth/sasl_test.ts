import assert from "node:assert/strict";
import {
  decodeBase64Strict,
  decodeLoginResponse,
  encodeChallenge,
  isCancel,
  parsePlainResponse,
  type PlainResponse,
  SaslError,
} from "./sasl.ts";

/** Base64 of raw bytes, or of a string's UTF-8. */
function b64(data: string | number[]): string {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : Uint8Array.from(data);
  return btoa(String.fromCharCode(...bytes));
}

/** Asserts that `fn` throws a SaslError with this reason. */
function assertSasl(fn: () => unknown, reason: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof SaslError, `expected a SaslError, got ${error}`);
  assert.equal(error.reason, reason, error.message);
  // House style: sentence case without a final period.
  assert.match(error.message, /^[A-Z].*[^.]$/);
}

// ---------------------------------------------------------------------------
// decodeBase64Strict()

const goodBase64: [name: string, text: string, want: number[]][] = [
  ["an empty string", "", []],
  ["one byte with two pad characters", "QQ==", [65]],
  ["two bytes with one pad character", "QUI=", [65, 66]],
  ["three bytes without padding", "QUJD", [65, 66, 67]],
  ["NUL and high bytes", "AAEC/w==", [0, 1, 2, 255]],
  ["the + and / characters", "+/+/", [251, 255, 191]],
  ["several groups", "aGVsbG8gd29ybGQ=", [...new TextEncoder().encode("hello world")]],
];

for (const [name, text, want] of goodBase64) {
  Deno.test(`decodeBase64Strict() decodes ${name}`, () => {
    assert.deepEqual(decodeBase64Strict(text), Uint8Array.from(want));
  });
}

const badBase64: [name: string, text: string][] = [
  ["missing padding", "QQ"],
  ["short padding", "QQ="],
  ["too much padding", "Q==="],
  ["only padding", "===="],
  ["padding in the middle", "QQ==QQ=="],
  ["a space inside", "QQ =="],
  ["a trailing newline", "QQ==\n"],
  ["a leading space", " QUJD"],
  ["a character outside the alphabet", "Q!=="],
  ["URL-safe characters", "-_-_"],
  ["a length of five", "QUJDR"],
  ["non-zero pad bits after one byte", "QR=="],
  ["non-zero pad bits after two bytes", "QUJ="],
  ["a non-ASCII character", "QUJé"],
];

for (const [name, text] of badBase64) {
  Deno.test(`decodeBase64Strict() rejects ${name}`, () => {
    assertSasl(() => decodeBase64Strict(text), "malformed base64");
  });
}

// ---------------------------------------------------------------------------
// parsePlainResponse()

const goodPlain: [name: string, payload: string, want: PlainResponse][] = [
  ["a response without authzid", b64("\0alice\0secret"), {
    authzid: "",
    authcid: "alice",
    password: "secret",
  }],
  ["a response with authzid", b64("admin\0alice\0secret"), {
    authzid: "admin",
    authcid: "alice",
    password: "secret",
  }],
  ["an address as authcid and a UTF-8 password", b64("\0alice@example.com\0pässwörd"), {
    authzid: "",
    authcid: "alice@example.com",
    password: "pässwörd",
  }],
  ["a password with spaces", b64("\0alice\0correct horse battery"), {
    authzid: "",
    authcid: "alice",
    password: "correct horse battery",
  }],
  ["a UTF-8 authcid", b64("\0用户@例子.广告\0pw"), {
    authzid: "",
    authcid: "用户@例子.广告",
    password: "pw",
  }],
  ["fields of 255 octets", b64(`${"z".repeat(255)}\0${"a".repeat(255)}\0${"p".repeat(255)}`), {
    authzid: "z".repeat(255),
    authcid: "a".repeat(255),
    password: "p".repeat(255),
  }],
];

for (const [name, payload, want] of goodPlain) {
  Deno.test(`parsePlainResponse() parses ${name}`, () => {
    assert.deepEqual(parsePlainResponse(payload), want);
  });
}

const badPlain: [name: string, payload: string, reason: string][] = [
  ["an empty response", "", "empty response"],
  ["one NUL", b64("alice\0secret"), "malformed PLAIN response"],
  ["no NUL", b64("alice"), "malformed PLAIN response"],
  ["three NULs", b64("\0alice\0secret\0"), "malformed PLAIN response"],
  ["four fields", b64("a\0b\0c\0d"), "malformed PLAIN response"],
  ["an empty authcid", b64("\0\0secret"), "missing authcid"],
  ["an empty password", b64("\0alice\0"), "missing password"],
  ["an authcid of 256 octets", b64(`\0${"a".repeat(256)}\0pw`), "field too long"],
  ["a password of 256 octets", b64(`\0alice\0${"p".repeat(256)}`), "field too long"],
  ["an authzid of 256 octets", b64(`${"z".repeat(256)}\0alice\0pw`), "field too long"],
  ["text that is not base64", "not base64!", "malformed base64"],
  ["base64 without its padding", "AGFsaWNlAHNlY3JldA", "malformed base64"],
  ["invalid UTF-8", b64([0, 0xff, 0x61, 0, 0x70]), "invalid UTF-8"],
  ["overlong UTF-8", b64([0, 0xc0, 0xaf, 0, 0x70]), "invalid UTF-8"],
  ["an encoded surrogate", b64([0, 0x61, 0, 0xed, 0xa0, 0x80]), "invalid UTF-8"],
  ["truncated UTF-8 in authzid", b64([0xc3, 0, 0x61, 0, 0x70]), "invalid UTF-8"],
];

for (const [name, payload, reason] of badPlain) {
  Deno.test(`parsePlainResponse() rejects ${name}`, () => {
    assertSasl(() => parsePlainResponse(payload), reason);
  });
}

// ---------------------------------------------------------------------------
// decodeLoginResponse()

const goodLogin: [name: string, payload: string, want: string][] = [
  ["a user name", b64("alice"), "alice"],
  ["an address", b64("alice@example.com"), "alice@example.com"],
  ["a UTF-8 password", b64("pässwörd"), "pässwörd"],
  ["a password with a space", b64("a b"), "a b"],
];

for (const [name, payload, want] of goodLogin) {
  Deno.test(`decodeLoginResponse() decodes ${name}`, () => {
    assert.equal(decodeLoginResponse(payload), want);
  });
}

const badLogin: [name: string, payload: string, reason: string][] = [
  ["an empty response", "", "empty response"],
  ["text that is not base64", "!!", "malformed base64"],
  ["base64 with a line break", "YWxp\r\nY2U=", "malformed base64"],
  ["invalid UTF-8", b64([0xff]), "invalid UTF-8"],
  ["a NUL", b64("a\0b"), "unexpected NUL"],
];

for (const [name, payload, reason] of badLogin) {
  Deno.test(`decodeLoginResponse() rejects ${name}`, () => {
    assertSasl(() => decodeLoginResponse(payload), reason);
  });
}

// ---------------------------------------------------------------------------
// encodeChallenge()

const challenges: [name: string, text: string, want: string][] = [
  ["the LOGIN user name prompt", "Username:", "VXNlcm5hbWU6"],
  ["the LOGIN password prompt", "Password:", "UGFzc3dvcmQ6"],
  ["an empty challenge", "", ""],
  ["UTF-8 text", "é", "w6k="],
];

for (const [name, text, want] of challenges) {
  Deno.test(`encodeChallenge() encodes ${name}`, () => {
    assert.equal(encodeChallenge(text), want);
  });
}

Deno.test("encodeChallenge() round-trips through decodeLoginResponse()", () => {
  for (const text of ["Username:", "pässwörd", "用户", "a b c"]) {
    assert.equal(decodeLoginResponse(encodeChallenge(text)), text);
  }
});

// ---------------------------------------------------------------------------
// isCancel()

const cancelCases: [name: string, line: string, want: boolean][] = [
  ["a lone asterisk", "*", true],
  ["an asterisk with a trailing space", "* ", true],
  ["an asterisk with a trailing CR", "*\r", true],
  ["an empty line", "", false],
  ["two asterisks", "**", false],
  ["a leading space", " *", false],
  ["the empty response =", "=", false],
  ["base64 of an asterisk", "Kg==", false],
];

for (const [name, line, want] of cancelCases) {
  Deno.test(`isCancel() returns ${want} for ${name}`, () => {
    assert.equal(isCancel(line), want);
  });
}

Deno.test("SaslError carries its reason and name", () => {
  const error = new SaslError("missing authcid");
  assert.ok(error instanceof Error);
  assert.equal(error.name, "SaslError");
  assert.equal(error.reason, "missing authcid");
  assert.equal(error.message, "Cannot decode SASL response: missing authcid");
});
