import assert from "node:assert/strict";
import { SmtpReplyError } from "./reply.ts";
import {
  decodeXtext,
  formatMailbox,
  type Mailbox,
  parseAddress,
  parseAuthArgs,
  parseBdatArgs,
  parseCommand,
  parseEhloArgs,
  parseMailCommand,
  parsePath,
  parseRcptCommand,
} from "./parse.ts";

/** Asserts that `fn` throws an SmtpReplyError with this code, enhanced code and text fragment. */
function assertReply(fn: () => unknown, code: number, enhanced: string, text?: string): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof SmtpReplyError, `expected an SmtpReplyError, got ${error}`);
  assert.deepEqual(
    { code: error.reply.code, enhanced: error.reply.enhanced },
    { code, enhanced },
    error.message,
  );
  // House style: sentence case without a final period; reply text stays printable ASCII.
  assert.match(error.message, /^[A-Z].*[^.]$/);
  assert.match(error.message, /^[\x20-\x7e]+$/);
  if (text !== undefined) assert.ok(error.message.includes(text), error.message);
}

const ASCII = { allowNull: false, utf8: false };
const NULL_OK = { allowNull: true, utf8: false };
const UTF8 = { allowNull: false, utf8: true };

const a = (n: number) => "a".repeat(n);
const mb = (local: string, domain: string): Mailbox => ({ local, domain });

// ---------------------------------------------------------------------------
// parseCommand()

const commandCases: [name: string, line: string, verb: string, args: string][] = [
  ["a verb with arguments", "EHLO client.example", "EHLO", "client.example"],
  ["a lower-case verb", "ehlo client.example", "EHLO", "client.example"],
  ["a mixed-case verb", "MaIl FROM:<a@b.example>", "MAIL", "FROM:<a@b.example>"],
  ["a verb alone", "NOOP", "NOOP", ""],
  ["an empty line", "", "", ""],
  ["a line of spaces", "   ", "", ""],
  ["a line of a tab", "\t", "", ""],
  ["a verb with trailing spaces", "QUIT   ", "QUIT", ""],
  ["a run of spaces after the verb", "RCPT    TO:<x@y.example>", "RCPT", "TO:<x@y.example>"],
  [
    "trailing spaces and tabs after arguments",
    "RCPT TO:<x@y.example> \t ",
    "RCPT",
    "TO:<x@y.example>",
  ],
  ["inner spaces in arguments", "AUTH PLAIN  AGFsaWNl", "AUTH", "PLAIN  AGFsaWNl"],
  ["parameters", "MAIL FROM:<a@b.example> SIZE=10", "MAIL", "FROM:<a@b.example> SIZE=10"],
];

for (const [name, line, verb, args] of commandCases) {
  Deno.test(`parseCommand() splits ${name}`, () => {
    assert.deepEqual(parseCommand(line), { verb, args });
  });
}

// ---------------------------------------------------------------------------
// parsePath()

type PathOpts = Parameters<typeof parsePath>[1];

const goodPaths: [name: string, text: string, opts: PathOpts, want: Mailbox | null][] = [
  ["a plain address", "<alice@example.com>", ASCII, mb("alice", "example.com")],
  [
    "a mixed-case address, lower-casing only the domain",
    "<Alice@Example.COM>",
    ASCII,
    mb("Alice", "example.com"),
  ],
  ["the null path when allowed", "<>", NULL_OK, null],
  [
    "a dotted local part with a tag",
    "<first.last+tag@sub.example.org>",
    ASCII,
    mb(
      "first.last+tag",
      "sub.example.org",
    ),
  ],
  [
    "every atext character",
    "<!#$%&'*+-/=?^_`{|}~@example.com>",
    ASCII,
    mb(
      "!#$%&'*+-/=?^_`{|}~",
      "example.com",
    ),
  ],
  [
    "a quoted local part with a space",
    '<"john doe"@example.com>',
    ASCII,
    mb(
      "john doe",
      "example.com",
    ),
  ],
  ["a quoted local part in a short domain", '<"a b"@x.example>', ASCII, mb("a b", "x.example")],
  [
    "a quoted local part with escaped quotes",
    '<"john\\"q\\"doe"@example.com>',
    ASCII,
    mb(
      'john"q"doe',
      "example.com",
    ),
  ],
  [
    "a quoted local part with an escaped backslash",
    '<"back\\\\slash"@example.com>',
    ASCII,
    mb(
      "back\\slash",
      "example.com",
    ),
  ],
  ["a quoted pair of an ordinary character", '<"\\a"@example.com>', ASCII, mb("a", "example.com")],
  ["a quoted local part holding @", '<"a@b"@example.com>', ASCII, mb("a@b", "example.com")],
  ["a quoted local part holding >", '<"a>b"@example.com>', ASCII, mb("a>b", "example.com")],
  ["a quoted dot-string", '<"alice"@example.com>', ASCII, mb("alice", "example.com")],
  ["an empty quoted local part", '<""@example.com>', ASCII, mb("", "example.com")],
  [
    "a source route of two hops",
    "<@a.example,@b.example:user@c.example>",
    ASCII,
    mb(
      "user",
      "c.example",
    ),
  ],
  [
    "a quoted local part after a source route",
    '<@a.example:"x>y"@example.com>',
    ASCII,
    mb(
      "x>y",
      "example.com",
    ),
  ],
  ["a source route of one hop", "<@a.example:user@c.example>", ASCII, mb("user", "c.example")],
  ["an IPv4 address literal", "<user@[192.0.2.1]>", ASCII, mb("user", "[192.0.2.1]")],
  [
    "an IPv6 address literal",
    "<user@[IPv6:2001:DB8::1]>",
    ASCII,
    mb(
      "user",
      "[ipv6:2001:db8::1]",
    ),
  ],
  [
    "an IPv6 literal with an embedded IPv4",
    "<user@[IPv6:::ffff:192.0.2.1]>",
    ASCII,
    mb(
      "user",
      "[ipv6:::ffff:192.0.2.1]",
    ),
  ],
  ["a single-label domain", "<root@localhost>", ASCII, mb("root", "localhost")],
  ["labels starting with digits", "<a@123.example>", ASCII, mb("a", "123.example")],
  ["hyphens inside labels", "<a-b@a-b.example>", ASCII, mb("a-b", "a-b.example")],
  ["an A-label domain", "<a@xn--bcher-kva.example>", ASCII, mb("a", "xn--bcher-kva.example")],
  ["a 63-octet label", `<a@${a(63)}.example>`, ASCII, mb("a", `${a(63)}.example`)],
  ["a 64-octet local part", `<${a(64)}@example.com>`, ASCII, mb(a(64), "example.com")],
  [
    "a 64-octet quoted local part",
    `<"${a(61)} "@example.com>`,
    ASCII,
    mb(
      `${a(61)} `,
      "example.com",
    ),
  ],
  // 1 + 64 + 1 + 189 + 1 = 256 octets, the longest path allowed.
  [
    "a path of exactly 256 octets",
    `<${a(64)}@${a(63)}.${a(63)}.${a(61)}>`,
    ASCII,
    mb(
      a(64),
      `${a(63)}.${a(63)}.${a(61)}`,
    ),
  ],
  ["a UTF-8 local part under SMTPUTF8", "<pelé@example.com>", UTF8, mb("pelé", "example.com")],
  ["a UTF-8 address under SMTPUTF8", "<用户@例子.广告>", UTF8, mb("用户", "例子.广告")],
  ["a U-label domain, lower-cased", "<a@Bücher.example>", UTF8, mb("a", "bücher.example")],
  ["a quoted UTF-8 local part", '<"ü x"@example.com>', UTF8, mb("ü x", "example.com")],
  [
    "a 64-octet UTF-8 local part",
    `<${"é".repeat(32)}@example.com>`,
    UTF8,
    mb(
      "é".repeat(32),
      "example.com",
    ),
  ],
  ["an ASCII address under SMTPUTF8", "<alice@example.com>", UTF8, mb("alice", "example.com")],
];

for (const [name, text, opts, want] of goodPaths) {
  Deno.test(`parsePath() accepts ${name}`, () => {
    assert.deepEqual(parsePath(text, opts), want);
  });
}

const badPaths: [
  name: string,
  text: string,
  opts: PathOpts,
  code: number,
  enhanced: string,
  text?: string,
][] = [
  ["an unbracketed address", "alice@example.com", ASCII, 501, "5.1.3", "missing angle brackets"],
  ["an empty string", "", ASCII, 501, "5.1.3", "missing angle brackets"],
  ["a missing closing bracket", "<alice@example.com", ASCII, 501, "5.1.3", "closing"],
  ["trailing garbage after >", "<alice@example.com> x", ASCII, 501, "5.1.3", "after the closing"],
  ["a doubled >", "<alice@example.com>>", ASCII, 501, "5.1.3", "after the closing"],
  ["leading space before <", " <alice@example.com>", ASCII, 501, "5.1.3"],
  ["the null path when not allowed", "<>", ASCII, 501, "5.1.3", "null path"],
  ["a local part without a domain", "<alice>", ASCII, 501, "5.1.3", "missing @"],
  ["an empty domain", "<alice@>", ASCII, 501, "5.1.3", "missing domain"],
  ["an empty local part", "<@example.com>", ASCII, 501, "5.1.3", "missing local part"],
  ["a leading dot in the local part", "<.alice@example.com>", ASCII, 501, "5.1.3", "local part"],
  ["a trailing dot in the local part", "<alice.@example.com>", ASCII, 501, "5.1.3"],
  ["two dots in the local part", "<al..ice@example.com>", ASCII, 501, "5.1.3"],
  ["a space in an unquoted local part", "<al ice@example.com>", ASCII, 501, "5.1.3"],
  ["a quote inside an unquoted local part", '<al"i"ce@example.com>', ASCII, 501, "5.1.3", "local"],
  ["a lone quote inside a local part", '<a"b@example.com>', ASCII, 501, "5.1.3", "invalid local"],
  ["an unterminated quoted local part", '<"alice@example.com>', ASCII, 501, "5.1.3", "closing"],
  ["text between the quotes and @", '<"a"b@example.com>', ASCII, 501, "5.1.3", "missing @"],
  ["a tab in a quoted local part", '<"a\tb"@example.com>', ASCII, 501, "5.1.3", "control"],
  ["a quoted pair of a control character", '<"a\\\x01"@example.com>', ASCII, 501, "5.1.3"],
  ["a 65-octet local part", `<${a(65)}@example.com>`, ASCII, 501, "5.1.3", "64 octets"],
  ["a 65-octet quoted local part", `<"${a(63)}"@example.com>`, ASCII, 501, "5.1.3", "64 octets"],
  ["a 66-octet UTF-8 local part", `<${"é".repeat(33)}@example.com>`, UTF8, 501, "5.1.3"],
  // 1 + 64 + 1 + 190 + 1 = 257 octets.
  ["a path of 257 octets", `<${a(64)}@${a(63)}.${a(63)}.${a(62)}>`, ASCII, 501, "5.1.3", "256"],
  ["a domain over 255 octets", `<a@${`${a(63)}.`.repeat(4)}a>`, ASCII, 501, "5.1.3"],
  ["a 64-octet label", `<a@${a(64)}.example>`, ASCII, 501, "5.1.3", "63 octets"],
  ["a label starting with a hyphen", "<a@-example.com>", ASCII, 501, "5.1.3", "invalid domain"],
  ["a label ending with a hyphen", "<a@example-.com>", ASCII, 501, "5.1.3"],
  ["an underscore in the domain", "<a@exa_mple.com>", ASCII, 501, "5.1.3"],
  ["an empty label", "<a@example..com>", ASCII, 501, "5.1.3", "empty label"],
  ["a trailing dot in the domain", "<a@example.com.>", ASCII, 501, "5.1.3"],
  ["a leading dot in the domain", "<a@.example.com>", ASCII, 501, "5.1.3"],
  ["a second @", "<a@b@c.example>", ASCII, 501, "5.1.3"],
  ["an invalid A-label", "<a@xn--zz.example>", ASCII, 501, "5.1.3"],
  ["an out-of-range IPv4 literal", "<a@[192.0.2.256]>", ASCII, 501, "5.1.3", "IPv4"],
  ["a short IPv4 literal", "<a@[192.0.2]>", ASCII, 501, "5.1.3"],
  ["a bad IPv6 literal", "<a@[IPv6:2001:db8::g]>", ASCII, 501, "5.1.3", "IPv6"],
  ["an IPv6 literal with a zone", "<a@[IPv6:fe80::1%eth0]>", ASCII, 501, "5.1.3"],
  ["an IPv6 literal without its tag", "<a@[2001:db8::1]>", ASCII, 501, "5.1.3", "unsupported"],
  ["a general address literal", "<a@[x-tag:foo]>", ASCII, 501, "5.1.3", "unsupported"],
  ["an unterminated address literal", "<a@[192.0.2.1>", ASCII, 501, "5.1.3"],
  ["a source route without a colon", "<@a.example,user@c.example>", ASCII, 501, "5.1.3"],
  ["a source route hop without @", "<@a.example,b.example:user@c.example>", ASCII, 501, "5.1.3"],
  ["a source route hop with a bad domain", "<@a..example:user@c.example>", ASCII, 501, "5.1.3"],
  ["a UTF-8 local part without SMTPUTF8", "<pelé@example.com>", ASCII, 553, "5.6.7", "SMTPUTF8"],
  ["a UTF-8 domain without SMTPUTF8", "<a@bücher.example>", ASCII, 553, "5.6.7"],
  ["a UTF-8 quoted local part without SMTPUTF8", '<"ü"@example.com>', ASCII, 553, "5.6.7"],
  ["a bad UTF-8 local part, echoed as ASCII", "<é..x@example.com>", UTF8, 501, "5.1.3", "\\u{e9}"],
  ["a lone surrogate under SMTPUTF8", "<a\uD800@example.com>", UTF8, 501, "5.1.3", "UTF-8"],
  ["a bad sender path with X.1.7", "alice@example.com", { ...ASCII, sender: true }, 501, "5.1.7"],
  ["a null sender path with X.1.7", "<>", { ...ASCII, sender: true }, 501, "5.1.7"],
];

for (const [name, text, opts, code, enhanced, fragment] of badPaths) {
  Deno.test(`parsePath() rejects ${name}`, () => {
    assertReply(() => parsePath(text, opts), code, enhanced, fragment);
  });
}

// ---------------------------------------------------------------------------
// formatMailbox()

const formatCases: [name: string, m: Mailbox, want: string][] = [
  ["a dot-atom local part bare", mb("alice", "example.com"), "alice@example.com"],
  ["a dotted local part bare", mb("first.last+tag", "example.com"), "first.last+tag@example.com"],
  ["a local part with a space quoted", mb("john doe", "example.com"), '"john doe"@example.com'],
  ["quotes escaped", mb('john"q"doe', "example.com"), '"john\\"q\\"doe"@example.com'],
  ["backslashes escaped", mb("back\\slash", "example.com"), '"back\\\\slash"@example.com'],
  ["an empty local part quoted", mb("", "example.com"), '""@example.com'],
  ["a leading dot quoted", mb(".alice", "example.com"), '".alice"@example.com'],
  ["a double dot quoted", mb("a..b", "example.com"), '"a..b"@example.com'],
  ["an @ in the local part quoted", mb("a@b", "example.com"), '"a@b"@example.com'],
  ["a UTF-8 local part bare", mb("pelé", "example.com"), "pelé@example.com"],
  ["an address literal", mb("a", "[192.0.2.1]"), "a@[192.0.2.1]"],
  ["Postmaster without a domain", mb("postmaster", ""), "postmaster"],
];

for (const [name, m, want] of formatCases) {
  Deno.test(`formatMailbox() writes ${name}`, () => {
    assert.equal(formatMailbox(m), want);
  });
}

Deno.test("formatMailbox() round-trips every accepted path", () => {
  for (const [, text, opts, want] of goodPaths) {
    if (want === null) continue;
    const again = parsePath(`<${formatMailbox(want)}>`, { ...opts, utf8: true });
    assert.deepEqual(again, want, text);
  }
});

// ---------------------------------------------------------------------------
// parseAddress()

const goodAddresses: [name: string, text: string, utf8: boolean, want: Mailbox][] = [
  ["a plain address", "alice@Example.com", false, mb("alice", "example.com")],
  ["a quoted local part", '"a b"@example.com', false, mb("a b", "example.com")],
  ["an address literal", "a@[IPv6:2001:db8::1]", false, mb("a", "[ipv6:2001:db8::1]")],
  ["a UTF-8 address when allowed", "pelé@exämple.com", true, mb("pelé", "exämple.com")],
  [
    "a 254-octet address",
    `${a(64)}@${a(63)}.${a(63)}.${a(61)}`,
    false,
    mb(
      a(64),
      `${a(63)}.${a(63)}.${a(61)}`,
    ),
  ],
];

for (const [name, text, utf8, want] of goodAddresses) {
  Deno.test(`parseAddress() accepts ${name}`, () => {
    assert.deepEqual(parseAddress(text, { utf8 }), want);
  });
}

const badAddresses: [name: string, text: string, utf8: boolean, code: number, enhanced: string][] =
  [
    ["an empty string", "", false, 501, "5.1.3"],
    ["a bracketed address", "<alice@example.com>", false, 501, "5.1.3"],
    ["a missing domain", "alice", false, 501, "5.1.3"],
    ["an empty domain", "alice@", false, 501, "5.1.3"],
    ["a source route", "@a.example:alice@example.com", false, 501, "5.1.3"],
    ["a space", "al ice@example.com", false, 501, "5.1.3"],
    ["a 65-octet local part", `${a(65)}@example.com`, false, 501, "5.1.3"],
    ["a 255-octet address", `${a(64)}@${a(63)}.${a(63)}.${a(62)}`, false, 501, "5.1.3"],
    ["a UTF-8 address when not allowed", "pelé@example.com", false, 553, "5.6.7"],
  ];

for (const [name, text, utf8, code, enhanced] of badAddresses) {
  Deno.test(`parseAddress() rejects ${name}`, () => {
    assertReply(() => parseAddress(text, { utf8 }), code, enhanced);
  });
}

// ---------------------------------------------------------------------------
// parseMailCommand()

type MailResult = ReturnType<typeof parseMailCommand>;

const goodMail: [name: string, args: string, utf8Allowed: boolean, want: MailResult][] = [
  ["a plain reverse-path", "FROM:<a@b.example>", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false },
  }],
  ["a lower-case FROM:", "from:<a@b.example>", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false },
  }],
  ["spaces after the colon", "FROM:  <a@b.example>", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false },
  }],
  ["the null reverse-path", "FROM:<>", false, { from: null, params: { smtputf8: false } }],
  ["the null reverse-path with SIZE", "FROM:<> SIZE=0", false, {
    from: null,
    params: { smtputf8: false, size: 0 },
  }],
  ["SIZE and BODY", "FROM:<a@b.example> SIZE=100 BODY=8BITMIME", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false, size: 100, body: "8BITMIME" },
  }],
  ["lower-case keywords and values", "FROM:<a@b.example> size=5 body=7bit", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false, size: 5, body: "7BIT" },
  }],
  ["BODY=BINARYMIME", "FROM:<a@b.example> BODY=BINARYMIME", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false, body: "BINARYMIME" },
  }],
  ["a 20-digit SIZE", "FROM:<a@b.example> SIZE=00000000000000000042", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false, size: 42 },
  }],
  ["runs of spaces between parameters", "FROM:<a@b.example>  SIZE=1   BODY=7BIT", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false, size: 1, body: "7BIT" },
  }],
  ["SMTPUTF8 with a UTF-8 local part", "FROM:<pelé@exämple.com> SMTPUTF8", true, {
    from: mb("pelé", "exämple.com"),
    params: { smtputf8: true },
  }],
  ["a lower-case smtputf8", "FROM:<a@b.example> smtputf8 BODY=8BITMIME", true, {
    from: mb("a", "b.example"),
    params: { smtputf8: true, body: "8BITMIME" },
  }],
  ["AUTH=<>", "FROM:<a@b.example> AUTH=<>", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false, auth: "<>" },
  }],
  ["an xtext AUTH mailbox", "FROM:<a@b.example> AUTH=alice+2Bx@example.com", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false, auth: "alice+x@example.com" },
  }],
  ["a source route", "FROM:<@relay.example:a@b.example>", false, {
    from: mb("a", "b.example"),
    params: { smtputf8: false },
  }],
  ["a quoted local part and SIZE", 'FROM:<"x y"@b.example> SIZE=5', false, {
    from: mb("x y", "b.example"),
    params: { smtputf8: false, size: 5 },
  }],
  ["a quoted local part holding > and a space", 'FROM:<"x> y"@b.example> SIZE=5', false, {
    from: mb("x> y", "b.example"),
    params: { smtputf8: false, size: 5 },
  }],
];

for (const [name, args, utf8Allowed, want] of goodMail) {
  Deno.test(`parseMailCommand() accepts ${name}`, () => {
    assert.deepEqual(parseMailCommand(args, { utf8Allowed }), want);
  });
}

const badMail: [
  name: string,
  args: string,
  utf8Allowed: boolean,
  code: number,
  enhanced: string,
][] = [
  ["empty arguments", "", false, 501, "5.5.4"],
  ["TO: instead of FROM:", "TO:<a@b.example>", false, 501, "5.5.4"],
  ["FROM without a colon", "FROM <a@b.example>", false, 501, "5.5.4"],
  ["a space before the colon", "FROM :<a@b.example>", false, 501, "5.5.4"],
  ["an unbracketed path", "FROM:a@b.example", false, 501, "5.1.7"],
  ["a missing closing bracket", "FROM:<a@b.example", false, 501, "5.1.7"],
  ["a parameter glued to the path", "FROM:<a@b.example>SIZE=100", false, 501, "5.1.7"],
  ["a bad local part", "FROM:<a..b@b.example>", false, 501, "5.1.7"],
  ["SIZE=abc", "FROM:<a@b.example> SIZE=abc", false, 501, "5.5.4"],
  ["SIZE without a value", "FROM:<a@b.example> SIZE", false, 501, "5.5.4"],
  ["SIZE with an empty value", "FROM:<a@b.example> SIZE=", false, 501, "5.5.4"],
  ["a negative SIZE", "FROM:<a@b.example> SIZE=-1", false, 501, "5.5.4"],
  ["a 21-digit SIZE", "FROM:<a@b.example> SIZE=123456789012345678901", false, 501, "5.5.4"],
  ["a duplicate SIZE", "FROM:<a@b.example> SIZE=1 SIZE=2", false, 501, "5.5.4"],
  ["a duplicate SIZE in another case", "FROM:<a@b.example> SIZE=1 size=1", false, 501, "5.5.4"],
  ["BODY=8BIT", "FROM:<a@b.example> BODY=8BIT", false, 501, "5.5.4"],
  ["BODY without a value", "FROM:<a@b.example> BODY", false, 501, "5.5.4"],
  ["SMTPUTF8 with a value", "FROM:<a@b.example> SMTPUTF8=yes", true, 501, "5.5.4"],
  ["SMTPUTF8 when not advertised", "FROM:<a@b.example> SMTPUTF8", false, 555, "5.5.4"],
  ["UTF-8 without SMTPUTF8", "FROM:<pelé@example.com>", true, 553, "5.6.7"],
  ["UTF-8 when SMTPUTF8 is refused", "FROM:<pelé@example.com> SMTPUTF8", false, 555, "5.5.4"],
  ["DSN's RET", "FROM:<a@b.example> RET=HDRS", false, 555, "5.5.4"],
  ["DSN's ENVID", "FROM:<a@b.example> ENVID=abc", false, 555, "5.5.4"],
  ["an unknown parameter", "FROM:<a@b.example> FOO", false, 555, "5.5.4"],
  ["a parameter without a keyword", "FROM:<a@b.example> =x", false, 501, "5.5.4"],
  ["a keyword with a bad character", "FROM:<a@b.example> SI_ZE=1", false, 501, "5.5.4"],
  ["a tab between parameters", "FROM:<a@b.example> SIZE=1\tBODY=7BIT", false, 501, "5.5.4"],
  ["AUTH without a value", "FROM:<a@b.example> AUTH", false, 501, "5.5.4"],
  ["AUTH with bad xtext", "FROM:<a@b.example> AUTH=+G1", false, 501, "5.5.4"],
];

for (const [name, args, utf8Allowed, code, enhanced] of badMail) {
  Deno.test(`parseMailCommand() rejects ${name}`, () => {
    assertReply(() => parseMailCommand(args, { utf8Allowed }), code, enhanced);
  });
}

// ---------------------------------------------------------------------------
// parseRcptCommand()

const goodRcpt: [name: string, args: string, utf8: boolean, want: Mailbox][] = [
  ["a plain forward-path", "TO:<bob@example.com>", false, mb("bob", "example.com")],
  ["a lower-case TO:", "to:<Bob@Example.com>", false, mb("Bob", "example.com")],
  ["a space after the colon", "TO: <bob@example.com>", false, mb("bob", "example.com")],
  ["<Postmaster> without a domain", "TO:<Postmaster>", false, mb("postmaster", "")],
  ["<postmaster> in lower case", "TO:<postmaster>", false, mb("postmaster", "")],
  ["<POSTMASTER> in upper case", "TO:<POSTMASTER>", false, mb("postmaster", "")],
  [
    "postmaster with a domain",
    "TO:<PostMaster@Example.com>",
    false,
    mb(
      "PostMaster",
      "example.com",
    ),
  ],
  ["a source route", "TO:<@hop.example:bob@example.com>", false, mb("bob", "example.com")],
  ["a UTF-8 address under SMTPUTF8", "TO:<用户@例子.广告>", true, mb("用户", "例子.广告")],
];

for (const [name, args, utf8, want] of goodRcpt) {
  Deno.test(`parseRcptCommand() accepts ${name}`, () => {
    assert.deepEqual(parseRcptCommand(args, { utf8 }), { to: want, params: {} });
  });
}

const badRcpt: [name: string, args: string, utf8: boolean, code: number, enhanced: string][] = [
  ["the null path", "TO:<>", false, 501, "5.1.3"],
  ["a missing TO:", "<bob@example.com>", false, 501, "5.5.4"],
  ["FROM: instead of TO:", "FROM:<bob@example.com>", false, 501, "5.5.4"],
  ["empty arguments", "", false, 501, "5.5.4"],
  ["an unbracketed path", "TO:bob@example.com", false, 501, "5.1.3"],
  ["trailing garbage after >", "TO:<bob@example.com>x", false, 501, "5.1.3"],
  ["a postmaster with an empty domain", "TO:<postmaster@>", false, 501, "5.1.3"],
  ["DSN's NOTIFY", "TO:<bob@example.com> NOTIFY=NEVER", false, 555, "5.5.4"],
  ["DSN's ORCPT", "TO:<bob@example.com> ORCPT=rfc822;bob@example.com", false, 555, "5.5.4"],
  ["any parameter", "TO:<bob@example.com> SIZE=1", false, 555, "5.5.4"],
  ["a parameter after <Postmaster>", "TO:<Postmaster> FOO", false, 555, "5.5.4"],
  ["a malformed parameter", "TO:<bob@example.com> X=", false, 501, "5.5.4"],
  ["a UTF-8 address without SMTPUTF8", "TO:<bób@example.com>", false, 553, "5.6.7"],
];

for (const [name, args, utf8, code, enhanced] of badRcpt) {
  Deno.test(`parseRcptCommand() rejects ${name}`, () => {
    assertReply(() => parseRcptCommand(args, { utf8 }), code, enhanced);
  });
}

// ---------------------------------------------------------------------------
// decodeXtext()

const goodXtext: [name: string, text: string, want: string][] = [
  ["an empty string", "", ""],
  ["plain characters", "alice@example.com", "alice@example.com"],
  ["+2B as a plus", "+2B", "+"],
  ["+3D as an equals sign", "a+3Db", "a=b"],
  ["lower-case hex digits", "+2b", "+"],
  ["adjacent escapes", "+2B+2B", "++"],
  ["escaped UTF-8", "+C3+A9", "é"],
  ["an escaped space", "a+20b", "a b"],
];

for (const [name, text, want] of goodXtext) {
  Deno.test(`decodeXtext() decodes ${name}`, () => {
    assert.equal(decodeXtext(text), want);
  });
}

const badXtext: [name: string, text: string][] = [
  ["a non-hex escape", "+G1"],
  ["a truncated escape", "+2"],
  ["a bare plus", "+"],
  ["a space", "a b"],
  ["an equals sign", "a=b"],
  ["a non-ASCII character", "é"],
  ["a control character", "a\x01"],
  ["an escape that is not UTF-8", "+FF"],
];

for (const [name, text] of badXtext) {
  Deno.test(`decodeXtext() rejects ${name}`, () => {
    assertReply(() => decodeXtext(text), 501, "5.5.4");
  });
}

// ---------------------------------------------------------------------------
// parseBdatArgs()

const goodBdat: [name: string, args: string, size: number, last: boolean][] = [
  ["a chunk size", "100", 100, false],
  ["a size and LAST", "100 LAST", 100, true],
  ["a zero-size last chunk", "0 last", 0, true],
  ["mixed-case LAST and extra spaces", "  42   Last  ", 42, true],
  ["a 20-digit size", "00000000000000000001", 1, false],
];

for (const [name, args, size, last] of goodBdat) {
  Deno.test(`parseBdatArgs() accepts ${name}`, () => {
    assert.deepEqual(parseBdatArgs(args), { size, last });
  });
}

const badBdat: [name: string, args: string][] = [
  ["empty arguments", ""],
  ["LAST without a size", "LAST"],
  ["a negative size", "-1"],
  ["a fractional size", "1.5"],
  ["an exponent", "1e3"],
  ["a word", "abc"],
  ["a 21-digit size", "123456789012345678901"],
  ["a keyword other than LAST", "100 FIRST"],
  ["text after LAST", "100 LAST x"],
];

for (const [name, args] of badBdat) {
  Deno.test(`parseBdatArgs() rejects ${name}`, () => {
    assertReply(() => parseBdatArgs(args), 501, "5.5.4");
  });
}

// ---------------------------------------------------------------------------
// parseAuthArgs()

const goodAuth: [name: string, args: string, want: ReturnType<typeof parseAuthArgs>][] = [
  ["a mechanism alone", "PLAIN", { mechanism: "PLAIN" }],
  ["a lower-case mechanism", "plain", { mechanism: "PLAIN" }],
  ["= as an empty initial response", "PLAIN =", { mechanism: "PLAIN", initialResponse: "" }],
  ["an initial response", "PLAIN AGFsaWNlAHNlY3JldA==", {
    mechanism: "PLAIN",
    initialResponse: "AGFsaWNlAHNlY3JldA==",
  }],
  ["LOGIN with a user name", "login dXNlcg==", { mechanism: "LOGIN", initialResponse: "dXNlcg==" }],
  ["a mechanism with hyphens", "SCRAM-SHA-256", { mechanism: "SCRAM-SHA-256" }],
  ["a mechanism with an underscore", "x_y", { mechanism: "X_Y" }],
  ["a 20-character mechanism", "ABCDEFGHIJKLMNOPQRST", { mechanism: "ABCDEFGHIJKLMNOPQRST" }],
  ["extra spaces", "  PLAIN   =  ", { mechanism: "PLAIN", initialResponse: "" }],
];

for (const [name, args, want] of goodAuth) {
  Deno.test(`parseAuthArgs() accepts ${name}`, () => {
    assert.deepEqual(parseAuthArgs(args), want);
  });
}

const badAuth: [name: string, args: string][] = [
  ["empty arguments", ""],
  ["only spaces", "   "],
  ["three tokens", "PLAIN abc def"],
  ["a bad mechanism character", "PL@IN"],
  ["a 21-character mechanism", "ABCDEFGHIJKLMNOPQRSTU"],
];

for (const [name, args] of badAuth) {
  Deno.test(`parseAuthArgs() rejects ${name}`, () => {
    assertReply(() => parseAuthArgs(args), 501, "5.5.4");
  });
}

// ---------------------------------------------------------------------------
// parseEhloArgs()

const goodEhlo: [name: string, args: string, want: string][] = [
  ["a domain", "client.example", "client.example"],
  ["an IPv4 address literal", "[192.0.2.1]", "[192.0.2.1]"],
  ["an IPv6 address literal", "[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"],
  ["a bare name", "localhost", "localhost"],
  ["junk after the domain", "client.example junk here", "client.example"],
  ["surrounding spaces", "  spaced.example  ", "spaced.example"],
  ["a tab after the domain", "client.example\tjunk", "client.example"],
];

for (const [name, args, want] of goodEhlo) {
  Deno.test(`parseEhloArgs() accepts ${name}`, () => {
    assert.equal(parseEhloArgs(args), want);
  });
}

for (const [name, args] of [["empty arguments", ""], ["only spaces", "   "]]) {
  Deno.test(`parseEhloArgs() rejects ${name}`, () => {
    assertReply(
      () => parseEhloArgs(args),
      501,
      "5.5.4",
      "EHLO requires a domain or address literal",
    );
  });
}
