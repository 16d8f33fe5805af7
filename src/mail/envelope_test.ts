import assert from "node:assert/strict";
import {
  type EnvelopeAddress,
  forHumans,
  imapString,
  parseAddressList,
  renderEnvelope,
} from "./envelope.ts";
import { parseMime } from "./mime.ts";
import {
  answer,
  dovecotAnswers,
  fixture,
  fixtureNames,
  FIXTURES,
  parseOne,
  plain,
  type Sexp,
  toCrlf,
} from "../../tests/support/mime_sexp.ts";
import { expectedCaseEnvelope, ITEM_DEVIATIONS } from "../../tests/support/mime_deviations.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("imapString() quotes printable ASCII and sends the rest as literals", () => {
  const table: [string | null | undefined, string][] = [
    [null, "NIL"],
    [undefined, "NIL"],
    ["", '""'],
    ["plain text", '"plain text"'],
    ['say "hi" \\o/', '"say \\"hi\\" \\\\o/"'],
    ["NIL", '"NIL"'],
    ["Gr\u00fc\u00dfe", "{7}\r\nGr\u00fc\u00dfe"],
    ["tab\there", "{8}\r\ntab\there"],
    ["line\r\nbreak", "{11}\r\nline\r\nbreak"],
    ["nul\0", "{6}\r\nnul\ufffd"],
    ["x".repeat(1024), `"${"x".repeat(1024)}"`],
    ["x".repeat(1025), `{1025}\r\n${"x".repeat(1025)}`],
  ];
  for (const [value, want] of table) assert.equal(imapString(value), want, JSON.stringify(value));
});

Deno.test("forHumans() collapses white space and trims, as Dovecot does for subjects and names", () => {
  const table: [string, string][] = [
    ["  a  b\t\tc  ", "a b c"],
    ["folded\r\n continued", "folded continued"],
    ["\t", ""],
    ["", ""],
    ["a\u00a0b", "a\u00a0b"],
  ];
  for (const [value, want] of table) assert.equal(forHumans(value), want, JSON.stringify(value));
});

const addr = (
  name: string | null,
  adl: string | null,
  mailbox: string | null,
  host: string | null,
): EnvelopeAddress => ({ name, adl, mailbox, host });
const groupEnd = addr(null, null, null, null);

Deno.test("parseAddressList() reads RFC 5322 address lists", () => {
  const table: [string, EnvelopeAddress[]][] = [
    ["alice@example.org", [addr(null, null, "alice", "example.org")]],
    ['"Smith, J." <j@x.test>', [addr("Smith, J.", null, "j", "x.test")]],
    ["Mary  Smith <mary@x.test>, jdoe@example.org", [
      addr("Mary Smith", null, "mary", "x.test"),
      addr(null, null, "jdoe", "example.org"),
    ]],
    // RFC 5322 Appendix A.1.3: a group, and an empty one.
    ["A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;", [
      addr(null, null, "A Group", null),
      addr("Ed Jones", null, "c", "a.test"),
      addr(null, null, "joe", "where.test"),
      addr("John", null, "jdoe", "one.test"),
      groupEnd,
    ]],
    ["Undisclosed recipients:;", [addr(null, null, "Undisclosed recipients", null), groupEnd]],
    // RFC 5322 Appendix A.5: comments everywhere.
    ["Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", [
      addr("Pete", null, "pete", "silly.test"),
    ]],
    // A comment after a bare address serves as the name (Dovecot, UW-IMAP).
    ["alice@example.org (Alice  A.)", [addr("Alice A.", null, "alice", "example.org")]],
    // RFC 5322 §4.4: routes, dots with white space, empty elements.
    ["<@r1.test,@r2.test:u@x.test>", [addr(null, "@r1.test,@r2.test", "u", "x.test")]],
    ["John Doe <jdoe@machine(comment).  example>", [
      addr("John Doe", null, "jdoe", "machine.example"),
    ]],
    ["obs . dotted @ example . com", [addr(null, null, "obs.dotted", "example.com")]],
    ["a@x.test,,  ,b@y.test", [addr(null, null, "a", "x.test"), addr(null, null, "b", "y.test")]],
    // Quoted local parts lose their quotes (as in Dovecot and UW-IMAP).
    ['"john doe"@example.com', [addr(null, null, "john doe", "example.com")]],
    ["user@[192.0.2.1]", [addr(null, null, "user", "[192.0.2.1]")]],
    ["=?UTF-8?Q?Andr=C3=A9?= <andre@x.test>", [
      addr("=?UTF-8?Q?Andr=C3=A9?=", null, "andre", "x.test"),
    ]],
    ["M\u00fcller <m@x.de>", [addr("M\u00fcller", null, "m", "x.de")]],
    // Placeholders instead of NIL hosts, which would read as group markers.
    ["bare", [addr(null, null, "bare", "MISSING_DOMAIN")]],
    ["Name <>", [addr("Name", null, "MISSING_MAILBOX", "MISSING_DOMAIN")]],
    ["@x.test", [addr(null, null, "MISSING_MAILBOX", "x.test")]],
    ["garbage <<<, c@x.test", [
      addr("garbage", null, "MISSING_MAILBOX", "SYNTAX_ERROR"),
      addr(null, null, "c", "x.test"),
    ]],
    ['"unterminated <x@y.test>', [addr(null, null, "MISSING_MAILBOX", "SYNTAX_ERROR")]],
    ["a@x.test b@y.test", [addr(null, null, "a", "x.test")]],
    ["Name <user@x.test", [addr("Name", null, "user", "x.test")]],
    ["", []],
    ["   (only a comment)", []],
    // Only SP, HTAB, CR and LF separate words: other white space is atom text.
    ["No\u00a0Break <nb@x.test>", [addr("No\u00a0Break", null, "nb", "x.test")]],
    ["a\u000b@x.test", [addr(null, null, "a\u000b", "x.test")]],
  ];
  for (const [value, want] of table) {
    assert.deepEqual(parseAddressList(value), want, value);
  }
});

Deno.test("renderEnvelope() defaults Sender and Reply-To to From and joins repeated fields", () => {
  const message = bytes(
    "From: a@x.test\r\nSender:\r\nTo: b@x.test\r\nTo: c@x.test\r\nSubject: first\r\n" +
      "Subject:  second  \r\nMessage-ID:  <id@x.test>  \r\n\r\nbody\r\n",
  );
  const a = '((NIL NIL "a" "x.test"))';
  assert.equal(
    renderEnvelope(message, parseMime(message).header),
    `(NIL "second" ${a} ${a} ${a} ((NIL NIL "b" "x.test")(NIL NIL "c" "x.test")) NIL NIL NIL ` +
      '"<id@x.test>  ")',
  );
  const empty = bytes("\r\n");
  assert.equal(
    renderEnvelope(empty, parseMime(empty).header),
    "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
  );
});

for (const name of fixtureNames()) {
  Deno.test(`renderEnvelope() agrees with Dovecot: fixture ${name}`, () => {
    const message = name === "bare_lf" ? toCrlf(fixture(name)) : fixture(name);
    const ours = renderEnvelope(message, parseMime(message).header);
    const deviation = ITEM_DEVIATIONS[name]?.ENVELOPE;
    const want = deviation?.expected !== undefined
      ? plain(parseOne(deviation.expected))
      : plain(answer(dovecotAnswers(FIXTURES, name), "ENVELOPE"));
    assert.deepEqual(plain(parseOne(ours)), want);
  });
}

Deno.test("renderEnvelope() reads each address and field case as Dovecot does, or as documented", () => {
  const message = fixture("envelope_cases");
  const root = parseMime(message);
  const dovecot = answer(dovecotAnswers(FIXTURES, "envelope_cases"), "BODYSTRUCTURE") as Sexp[];
  assert.ok(root.parts && root.parts.length > 60);
  root.parts.forEach((part, i) => {
    const label = part.description ?? "";
    const n = /^address case (\d+)$/.exec(label)?.[1];
    const theirs = (dovecot[i] as Sexp[])[7] as Sexp[];
    const want = n ? expectedCaseEnvelope(Number(n), theirs) : plain(theirs);
    const ours = plain(parseOne(renderEnvelope(message, part.message!.header)));
    assert.deepEqual(ours, want, label);
  });
});

Deno.test("parseAddressList() ends and keeps group markers well-formed on any input", () => {
  let seed = 5;
  const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const alphabet = ' \t\r\n()"[]<>@,;:\\.aZ=?\u00a0\u000b\u2028\u00e9\ud83d\ude00';
  for (let round = 0; round < 3000; round++) {
    let value = "";
    for (let n = Math.floor(rnd() * 40); n > 0; n--) {
      value += alphabet[Math.floor(rnd() * alphabet.length)];
    }
    for (const a of parseAddressList(value)) {
      if (a.host === null) {
        assert.equal(a.name, null, JSON.stringify(value));
        assert.equal(a.adl, null, JSON.stringify(value));
      } else {
        assert.ok(a.mailbox, JSON.stringify(value));
      }
    }
  }
});
