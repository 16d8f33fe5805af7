import assert from "node:assert/strict";
import {
  AddressError,
  domainOf,
  normalizeAddress,
  normalizeDomain,
  normalizeLocalPart,
  splitAddress,
} from "./address.ts";

/** Asserts that `fn` throws an AddressError whose message quotes `input` (JSON style). */
function assertAddressError(fn: () => unknown, input: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AddressError, `expected an AddressError, got ${err}`);
    assert.ok(
      err.message.includes(JSON.stringify(input)),
      `message should quote the input: ${err.message}`,
    );
    // House style: sentence case, one line, no final period.
    assert.match(err.message, /^[A-Z][^\n]*[^.]$/);
    return true;
  });
}

// ---------------------------------------------------------------------------
// normalizeDomain()

const goodDomains: [name: string, input: string, want: string][] = [
  ["a lower-case domain as it is", "example.com", "example.com"],
  ["upper case to lower case", "Example.COM", "example.com"],
  ["a single label", "localhost", "localhost"],
  ["a trailing dot removed", "example.com.", "example.com"],
  ["surrounding spaces removed", "  example.com ", "example.com"],
  ["an IDN to its A-label", "bücher.example", "xn--bcher-kva.example"],
  ["an upper-case IDN with a trailing dot", "BÜCHER.Example.", "xn--bcher-kva.example"],
  ["an A-label as it is", "xn--bcher-kva.example", "xn--bcher-kva.example"],
  ["a Japanese IDN", "例え.テスト", "xn--r8jz45g.xn--zckzah"],
  ["full-width letters to ASCII", "ｅｘａｍｐｌｅ.com", "example.com"],
  ["hyphens inside a label", "mail-1.ex-ample.com", "mail-1.ex-ample.com"],
  ["a 63-character label", `${"a".repeat(63)}.com`, `${"a".repeat(63)}.com`],
];

for (const [name, input, want] of goodDomains) {
  Deno.test(`normalizeDomain() accepts ${name}`, () => {
    assert.equal(normalizeDomain(input), want);
  });
}

const badDomains: [name: string, input: string][] = [
  ["an empty string", ""],
  ["only spaces", "   "],
  ["only a dot", "."],
  ["an empty label", "a..b"],
  ["two trailing dots", "example.com.."],
  ["a leading dot", ".example.com"],
  ["a label starting with a hyphen", "-a.com"],
  ["a label ending with a hyphen", "a-.com"],
  ["an underscore", "a_b.com"],
  ["a space inside", "exa mple.com"],
  ["a slash", "a/b.com"],
  ["a percent escape", "ex%41mple.com"],
  ["a wildcard", "*.example"],
  ["an address literal", "[127.0.0.1]"],
  ["an at sign", "alice@example.com"],
  ["a 64-character label", `${"a".repeat(64)}.com`],
  ["more than 253 characters", `${"abcdefghi.".repeat(26)}com`],
];

for (const [name, input] of badDomains) {
  Deno.test(`normalizeDomain() rejects ${name}`, () => {
    assertAddressError(() => normalizeDomain(input), input);
  });
}

// ---------------------------------------------------------------------------
// splitAddress()

const goodSplits: [name: string, input: string, local: string, domain: string][] = [
  ["a plain address", "alice@example.com", "alice", "example.com"],
  ["at its last at sign", "a@b@example.com", "a@b", "example.com"],
  ["without changing case", "Alice@Example.COM", "Alice", "Example.COM"],
  ["one character on each side", "a@b", "a", "b"],
];

for (const [name, input, local, domain] of goodSplits) {
  Deno.test(`splitAddress() splits ${name}`, () => {
    assert.deepEqual(splitAddress(input), { local, domain });
  });
}

const badSplits: [name: string, input: string][] = [
  ["an empty string", ""],
  ["no at sign", "alice"],
  ["a lone at sign", "@"],
  ["an empty local part", "@example.com"],
  ["an empty domain", "alice@"],
];

for (const [name, input] of badSplits) {
  Deno.test(`splitAddress() rejects ${name}`, () => {
    assertAddressError(() => splitAddress(input), input);
  });
}

// ---------------------------------------------------------------------------
// normalizeAddress()

const goodAddresses: [name: string, input: string, want: string][] = [
  ["a normal address as it is", "alice@example.com", "alice@example.com"],
  ["upper case in both parts", "Alice@Example.COM", "alice@example.com"],
  ["an IDN domain to its A-label", "alice@bücher.example", "alice@xn--bcher-kva.example"],
  ["a trailing dot on the domain", "ALICE@bücher.example.", "alice@xn--bcher-kva.example"],
  ["surrounding spaces", " bob@example.com ", "bob@example.com"],
  ["dots and plus in the local part", "first.last+tag@example.com", "first.last+tag@example.com"],
  [
    "special atext characters",
    "o'brien!#$%&*=?^_`{|}~-@example.com",
    "o'brien!#$%&*=?^_`{|}~-@example.com",
  ],
  ["a UTF-8 local part (RFC 6531)", "JOSÉ@example.com", "josé@example.com"],
  ["a 64-octet local part", `${"a".repeat(64)}@example.com`, `${"a".repeat(64)}@example.com`],
];

for (const [name, input, want] of goodAddresses) {
  Deno.test(`normalizeAddress() accepts ${name}`, () => {
    assert.equal(normalizeAddress(input), want);
  });
}

// `quoted` is the part the message names: the whole address, or the domain when only it is bad.
const badAddresses: [name: string, input: string, quoted?: string][] = [
  ["an empty string", ""],
  ["no at sign", "alice"],
  ["no local part", "@example.com"],
  ["no domain", "alice@"],
  ["two at signs", "a@b@example.com"],
  ["two dots in a row", "a..b@example.com"],
  ["a leading dot", ".alice@example.com"],
  ["a trailing dot in the local part", "alice.@example.com"],
  ["a space in the local part", "a b@example.com"],
  ["a quoted local part", '"alice"@example.com'],
  ["angle brackets", "<alice@example.com>"],
  ["a 65-octet local part", `${"a".repeat(65)}@example.com`],
  ["a local part over 64 octets in UTF-8", `${"é".repeat(33)}@example.com`],
  ["a bad domain", "alice@-example.com", "-example.com"],
  ["a space in the domain", "alice@exa mple.com", "exa mple.com"],
  ["an address literal", "alice@[127.0.0.1]", "[127.0.0.1]"],
];

for (const [name, input, quoted] of badAddresses) {
  Deno.test(`normalizeAddress() rejects ${name}`, () => {
    assertAddressError(() => normalizeAddress(input), quoted ?? input);
  });
}

Deno.test("normalizeLocalPart() names the original address in its error", () => {
  assertAddressError(() => normalizeLocalPart("a..b", "a..b@example.com"), "a..b@example.com");
});

Deno.test("domainOf() gives the part after the last at sign", () => {
  assert.equal(domainOf("alice@example.com"), "example.com");
  assert.equal(domainOf(normalizeAddress("Alice@Bücher.Example")), "xn--bcher-kva.example");
});
