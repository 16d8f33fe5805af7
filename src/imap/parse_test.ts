import assert from "node:assert/strict";
import { type Command, type FetchItem, ImapParseError, type SequenceSet } from "./command.ts";
import { MAX_SEARCH_DEPTH, parseCommand } from "./parse.ts";

const encoder = new TextEncoder();

/** A literal for {@link wire}. */
interface Literal {
  bytes: Uint8Array;
  marker: string;
}

/** A literal of `data` (UTF-8 when a string); `kind` picks the marker form. */
function lit(data: string | Uint8Array, kind: "" | "+" | "~" = ""): Literal {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const n = bytes.length;
  const marker = kind === "+" ? `{${n}+}` : kind === "~" ? `~{${n}}` : `{${n}}`;
  return { bytes, marker };
}

/** Parts as `readCommand()` gives them: text with markers, then the literal, and so on. */
function wire(...items: (string | Literal)[]): (string | Uint8Array)[] {
  const parts: (string | Uint8Array)[] = [];
  let text = "";
  for (const item of items) {
    if (typeof item === "string") {
      text += item;
    } else {
      parts.push(text + item.marker, item.bytes);
      text = "";
    }
  }
  parts.push(text);
  return parts;
}

function parse(input: string | (string | Uint8Array)[], utf8 = false): Command {
  return parseCommand({ parts: typeof input === "string" ? [input] : input }, { utf8 });
}

/** A sequence set of ranges given as [from, to] or single numbers. */
function set(...ranges: (number | "*" | [number | "*", number | "*"])[]): SequenceSet {
  return {
    ranges: ranges.map((r) => Array.isArray(r) ? { from: r[0], to: r[1] } : { from: r, to: r }),
  };
}

const SAVED: SequenceSet = { ranges: [], saved: true };

function label(input: string | (string | Uint8Array)[]): string {
  return JSON.stringify(input, (_k, v) => v instanceof Uint8Array ? `<${v.length} bytes>` : v)
    .slice(0, 200);
}

/** Runs a table of good input. */
function good(table: [string | (string | Uint8Array)[], unknown][], utf8 = false): void {
  for (const [input, want] of table) assert.deepEqual(parse(input, utf8), want, label(input));
}

/** Runs a table of malformed input: [input, message pattern, tag]. */
function bad(table: [string | (string | Uint8Array)[], RegExp, string?][], utf8 = false): void {
  for (const [input, message, tag] of table) {
    let error: unknown;
    try {
      parse(input, utf8);
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ImapParseError, `${label(input)}: no ImapParseError (${error})`);
    assert.match(error.message, message, `${label(input)}: ${error.message}`);
    assert.equal(error.tag, tag, `${label(input)}: tag`);
    // Replies carry the message on one line, in sentence case, without a final period.
    assert.doesNotMatch(error.message, /[\r\n]|\.$/, label(input));
  }
}

// ---------------------------------------------------------------------------
// Framing: tags, names, arguments

Deno.test("parseCommand() parses the commands without arguments", () => {
  const names = [
    "CAPABILITY",
    "NOOP",
    "LOGOUT",
    "STARTTLS",
    "CHECK",
    "CLOSE",
    "UNSELECT",
    "EXPUNGE",
    "IDLE",
    "NAMESPACE",
  ] as const;
  for (const name of names) {
    good([
      [`a1 ${name}`, { tag: "a1", name }],
      [`A0001 ${name.toLowerCase()}`, { tag: "A0001", name }],
    ]);
  }
});

Deno.test("parseCommand() accepts every tag character but '+'", () => {
  good([
    ["a NOOP", { tag: "a", name: "NOOP" }],
    ["1 NOOP", { tag: "1", name: "NOOP" }],
    ["A.1-x_y]z!#&'~ NOOP", { tag: "A.1-x_y]z!#&'~", name: "NOOP" }],
    ["$tag NOOP", { tag: "$tag", name: "NOOP" }],
  ]);
});

Deno.test("parseCommand() rejects bad tags, unknown commands and extra arguments", () => {
  bad([
    ["", /^Cannot parse command: empty line$/],
    [" NOOP", /invalid tag/],
    ["+ NOOP", /invalid tag/],
    ["a+ NOOP", /invalid tag/],
    ["a*b NOOP", /invalid tag/],
    ["a(b NOOP", /invalid tag/],
    ['a"b NOOP', /invalid tag/],
    ["a\\b NOOP", /invalid tag/],
    ["a%b NOOP", /invalid tag/],
    ["a{1} NOOP", /invalid tag/],
    ["tâg NOOP", /invalid tag/],
    ["a\tNOOP", /invalid tag/],
    ["a1", /missing command name/, "a1"],
    ["a1 ", /missing command name/, "a1"],
    ["a1  NOOP", /invalid command name/, "a1"],
    ["a1 FROB", /^Unknown command FROB$/, "a1"],
    ["a1 frob x y", /^Unknown command FROB$/, "a1"],
    ['a1 XLIST "" *', /^Unknown command XLIST$/, "a1"],
    ["a1 GETMETADATA INBOX", /^Unknown command GETMETADATA$/, "a1"],
    ["a1 UID", /^Unknown command UID$/, "a1"],
    ["a1 UID NOOP", /^Unknown command UID NOOP$/, "a1"],
    ["a1 UID FROB 1", /^Unknown command UID FROB$/, "a1"],
    ["a1 UID LIST", /^Unknown command UID LIST$/, "a1"],
    ["a1 " + "X".repeat(1000), /^Unknown command X{40}$/, "a1"],
    ["a1 NOOP extra", /^Cannot parse NOOP: unexpected " extra" after the arguments$/, "a1"],
    ["a1 NOOP ", /unexpected " " after the arguments/, "a1"],
    ["a1 LOGOUT now", /unexpected/, "a1"],
    ["a1 CAPABILITY (x)", /unexpected/, "a1"],
    ["a1 IDLE 1", /unexpected/, "a1"],
    ["a1 EXPUNGE 1:2", /unexpected/, "a1"],
    ["a1 NOOP\r\n", /unexpected "\\r\\n"/, "a1"],
  ]);
});

Deno.test("parseCommand() refuses parts that do not alternate text and literals", () => {
  bad([
    [[new Uint8Array(1)], /text and literals out of order/],
    [["a1 LOGIN {1}", new Uint8Array([0x61])], /text and literals out of order/],
    [["a1 NOOP", "x"], /text and literals out of order/],
  ]);
});

// ---------------------------------------------------------------------------
// Strings and literals

Deno.test("parseCommand() reads atoms, quoted strings and literals as astrings", () => {
  good([
    // imaplib quotes the password; Thunderbird quotes both.
    ['a001 LOGIN alice@example.com "secret"', {
      tag: "a001",
      name: "LOGIN",
      user: "alice@example.com",
      password: "secret",
    }],
    ['1 login "alice" "p@ss w\\"o\\\\rd"', {
      tag: "1",
      name: "LOGIN",
      user: "alice",
      password: 'p@ss w"o\\rd',
    }],
    ["a LOGIN bob ]x[", { tag: "a", name: "LOGIN", user: "bob", password: "]x[" }],
    ['a LOGIN "" ""', { tag: "a", name: "LOGIN", user: "", password: "" }],
    ['a LOGIN bob "pässwörd 🙂"', {
      tag: "a",
      name: "LOGIN",
      user: "bob",
      password: "pässwörd 🙂",
    }],
    [wire("a LOGIN ", lit("alice"), " ", lit('se"c r\\et')), {
      tag: "a",
      name: "LOGIN",
      user: "alice",
      password: 'se"c r\\et',
    }],
    // LITERAL+ and a literal holding CRLF and UTF-8.
    [wire("a LOGIN ", lit("alice", "+"), " ", lit("pä\r\nss", "+")), {
      tag: "a",
      name: "LOGIN",
      user: "alice",
      password: "pä\r\nss",
    }],
    [wire("a LOGIN ", lit(""), " ", lit("")), { tag: "a", name: "LOGIN", user: "", password: "" }],
    [["a LOGIN {05}", encoder.encode("alice"), " x"], {
      tag: "a",
      name: "LOGIN",
      user: "alice",
      password: "x",
    }],
  ]);
});

Deno.test("parseCommand() rejects malformed strings and literals", () => {
  bad([
    ["a1 LOGIN alice", /^Cannot parse LOGIN: missing argument$/, "a1"],
    ["a1 LOGIN", /missing argument/, "a1"],
    ["a1 LOGIN alice ", /missing password/, "a1"],
    ["a1 LOGIN alice  pw", /invalid password at " pw"/, "a1"],
    ['a1 LOGIN alice "pw', /unterminated quoted string/, "a1"],
    ['a1 LOGIN alice "p\\w"', /invalid escape in quoted string/, "a1"],
    ['a1 LOGIN alice "p\\', /invalid escape in quoted string/, "a1"],
    ['a1 LOGIN alice "a\0b"', /invalid character in quoted string/, "a1"],
    ["a1 LOGIN alice (pw)", /invalid password/, "a1"],
    ["a1 LOGIN {abc}", /invalid literal at "\{abc\}"/, "a1"],
    ["a1 LOGIN {5", /invalid literal at "\{5"/, "a1"],
    ["a1 LOGIN {5}x", /invalid literal/, "a1"],
    ["a1 LOGIN {-5}", /invalid literal/, "a1"],
    ["a1 LOGIN {5 }", /invalid literal/, "a1"],
    ["a1 LOGIN {}", /invalid literal/, "a1"],
    ["a1 LOGIN {5}", /missing literal data/, "a1"],
    ["a1 LOGIN {5}", /missing literal data/, "a1"],
    [["a1 LOGIN {5}", encoder.encode("abc"), " x"], /literal size mismatch/, "a1"],
    [["a1 LOGIN {99999999999999999999999}", encoder.encode("abc"), " x"], /size mismatch/, "a1"],
    [["a1 LOGIN ~{3}", encoder.encode("abc"), " x"], /literal8 is not allowed here/, "a1"],
    [["a1 LOGIN x {3}", encoder.encode("a\0b"), ""], /NUL in password/, "a1"],
    // A literal marker in the middle of a text part is no literal.
    [["a1 LOGIN {3} x", encoder.encode("abc"), ""], /invalid literal/, "a1"],
    [wire("a1 LOGIN ", lit("a"), lit("b")), /expected a space/, "a1"],
  ]);
});

// ---------------------------------------------------------------------------
// Not authenticated

Deno.test("parseCommand() parses AUTHENTICATE with and without an initial response", () => {
  good([
    ["a AUTHENTICATE PLAIN", { tag: "a", name: "AUTHENTICATE", mechanism: "PLAIN" }],
    ["a authenticate plain AGFsaWNlAHNlY3JldA==", {
      tag: "a",
      name: "AUTHENTICATE",
      mechanism: "PLAIN",
      initialResponse: "AGFsaWNlAHNlY3JldA==",
    }],
    ["a AUTHENTICATE XOAUTH2 dXNlcj1h", {
      tag: "a",
      name: "AUTHENTICATE",
      mechanism: "XOAUTH2",
      initialResponse: "dXNlcj1h",
    }],
    ["a AUTHENTICATE SCRAM-SHA-256 abc=", {
      tag: "a",
      name: "AUTHENTICATE",
      mechanism: "SCRAM-SHA-256",
      initialResponse: "abc=",
    }],
    ["a AUTHENTICATE PLAIN =", {
      tag: "a",
      name: "AUTHENTICATE",
      mechanism: "PLAIN",
      initialResponse: "",
    }],
  ]);
  bad([
    ["a AUTHENTICATE", /missing argument/, "a"],
    ["a AUTHENTICATE ", /missing mechanism/, "a"],
    ["a AUTHENTICATE PLAIN ", /missing initial response/, "a"],
    ["a AUTHENTICATE PLAIN abc", /invalid initial response/, "a"],
    ["a AUTHENTICATE PLAIN a=b=", /invalid initial response/, "a"],
    ["a AUTHENTICATE PLAIN ==", /invalid initial response/, "a"],
    ["a AUTHENTICATE PLAIN abcd efgh", /unexpected/, "a"],
    ["a AUTHENTICATE PLAIN ab*d", /invalid initial response/, "a"],
  ]);
});

Deno.test("parseCommand() parses ENABLE and ID", () => {
  good([
    ["a ENABLE CONDSTORE", { tag: "a", name: "ENABLE", capabilities: ["CONDSTORE"] }],
    ["a enable qresync utf8=accept", {
      tag: "a",
      name: "ENABLE",
      capabilities: ["QRESYNC", "UTF8=ACCEPT"],
    }],
    // Thunderbird, imapflow
    ['1 ID ("name" "Thunderbird" "version" "115.3.1")', {
      tag: "1",
      name: "ID",
      params: [["name", "Thunderbird"], ["version", "115.3.1"]],
    }],
    ['2 ID ("name" "imapflow" "vendor" NIL "support-url" nil)', {
      tag: "2",
      name: "ID",
      params: [["name", "imapflow"], ["vendor", null], ["support-url", null]],
    }],
    ["a ID NIL", { tag: "a", name: "ID", params: null }],
    ["a id nil", { tag: "a", name: "ID", params: null }],
    ["a ID ()", { tag: "a", name: "ID", params: [] }],
    [wire("a ID (", lit("name"), " ", lit("K-9 Mail"), ")"), {
      tag: "a",
      name: "ID",
      params: [["name", "K-9 Mail"]],
    }],
  ]);
  bad([
    ["a ENABLE", /missing argument/, "a"],
    ["a ENABLE ", /missing capability/, "a"],
    ["a ENABLE CONDSTORE ", /missing capability/, "a"],
    ["a ENABLE (CONDSTORE)", /invalid capability/, "a"],
    ["a ID", /missing argument/, "a"],
    ['a ID ("name")', /missing argument/, "a"],
    ['a ID ("name" "x"', /missing "\)"/, "a"],
    ['a ID (name "x")', /invalid ID field/, "a"],
    ['a ID ("name" x)', /invalid ID value/, "a"],
    ['a ID ("name" "x" )', /missing ID field|invalid ID field/, "a"],
    ["a ID NILL", /expected "\("/, "a"],
  ]);
});

// ---------------------------------------------------------------------------
// Mailboxes

Deno.test("parseCommand() parses SELECT and EXAMINE with CONDSTORE and QRESYNC", () => {
  const select = (mailbox: string, rest: Partial<Record<string, unknown>> = {}) => ({
    mailbox,
    condstore: false,
    ...rest,
  });
  good([
    ["A4 SELECT INBOX (CONDSTORE)", {
      tag: "A4",
      name: "SELECT",
      args: select("INBOX", { condstore: true }),
    }],
    ["a select inbox", { tag: "a", name: "SELECT", args: select("INBOX") }],
    ['a SELECT "InBoX"', { tag: "a", name: "SELECT", args: select("INBOX") }],
    ['a EXAMINE "Sent Items"', { tag: "a", name: "EXAMINE", args: select("Sent Items") }],
    ["a EXAMINE INBOX/Sub", { tag: "a", name: "EXAMINE", args: select("INBOX/Sub") }],
    ['a SELECT "Entw&APw-rfe"', { tag: "a", name: "SELECT", args: select("Entwürfe") }],
    [wire("a SELECT ", lit("Tom &- Jerry")), {
      tag: "a",
      name: "SELECT",
      args: select("Tom & Jerry"),
    }],
    // RFC 7162 §3.2.5.2 examples.
    ["A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))", {
      tag: "A02",
      name: "SELECT",
      args: select("INBOX", {
        qresync: {
          uidvalidity: 67890007,
          modseq: 20050715194045000n,
          knownUids: set(41, [43, 211], [214, 541]),
        },
      }),
    }],
    [
      "B01 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 " +
      "(5000,7500,9000,9990:9999 15000,22500,27000,29970,29973)))",
      {
        tag: "B01",
        name: "SELECT",
        args: select("INBOX", {
          qresync: {
            uidvalidity: 67890007,
            modseq: 90060115194045000n,
            knownUids: set([1, 29997]),
            match: {
              seqs: set(5000, 7500, 9000, [9990, 9999]),
              uids: set(15000, 22500, 27000, 29970, 29973),
            },
          },
        }),
      },
    ],
    ["a SELECT INBOX (QRESYNC (1 2))", {
      tag: "a",
      name: "SELECT",
      args: select("INBOX", { qresync: { uidvalidity: 1, modseq: 2n } }),
    }],
    ["a SELECT INBOX (QRESYNC (1 2 (1 3)) CONDSTORE)", {
      tag: "a",
      name: "SELECT",
      args: select("INBOX", {
        condstore: true,
        qresync: { uidvalidity: 1, modseq: 2n, match: { seqs: set(1), uids: set(3) } },
      }),
    }],
    ["a examine x (qresync (4294967295 9223372036854775807))", {
      tag: "a",
      name: "EXAMINE",
      args: select("x", {
        qresync: { uidvalidity: 4294967295, modseq: 9223372036854775807n },
      }),
    }],
  ]);
  good([
    ['a SELECT "Entwürfe"', { tag: "a", name: "SELECT", args: select("Entwürfe") }],
    ['a SELECT "Entw&APw-rfe"', { tag: "a", name: "SELECT", args: select("Entw&APw-rfe") }],
    ['a SELECT "inbox"', { tag: "a", name: "SELECT", args: select("INBOX") }],
  ], true);
  bad([
    ["a SELECT", /^Cannot parse SELECT: missing argument$/, "a"],
    ["a SELECT ", /missing mailbox name/, "a"],
    ["a SELECT INBOX ()", /invalid select parameter at "\)"/, "a"],
    ["a SELECT INBOX (FOO)", /unknown select parameter FOO/, "a"],
    ["a SELECT INBOX CONDSTORE", /expected "\("/, "a"],
    ["a SELECT INBOX (CONDSTORE", /missing "\)"/, "a"],
    ["a SELECT INBOX (QRESYNC)", /missing argument/, "a"],
    ["a SELECT INBOX (QRESYNC ())", /invalid UIDVALIDITY/, "a"],
    ["a SELECT INBOX (QRESYNC (0 1))", /invalid UIDVALIDITY 0/, "a"],
    ["a SELECT INBOX (QRESYNC (4294967296 1))", /UIDVALIDITY out of range/, "a"],
    ["a SELECT INBOX (QRESYNC (1 0))", /invalid modseq 0/, "a"],
    ["a SELECT INBOX (QRESYNC (1 9223372036854775808))", /modseq out of range/, "a"],
    ["a SELECT INBOX (QRESYNC (1 2 1:*))", /invalid sequence set/, "a"],
    ["a SELECT INBOX (QRESYNC (1 2 $))", /invalid sequence set/, "a"],
    ["a SELECT INBOX (QRESYNC (1 2 1:5 (1:*)))", /invalid sequence set/, "a"],
    ["a SELECT INBOX (QRESYNC (1 2 1:5 (1 2 3)))", /expected "\)"/, "a"],
    ["a SELECT INBOX (QRESYNC (1 2 1:5 x))", /expected "\)"/, "a"],
    ["a SELECT &Jjo", /invalid mailbox name "&Jjo"/, "a"],
    ['a SELECT "Entwürfe"', /invalid mailbox name "Entwürfe"/, "a"],
    ['a SELECT "&AOQ-&APY-"', /invalid mailbox name/, "a"],
    ["a SELECT INBOX extra", /expected "\("/, "a"],
  ]);
});

Deno.test("parseCommand() parses CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE", () => {
  good([
    ['a CREATE "Archive/2024"', { tag: "a", name: "CREATE", mailbox: "Archive/2024" }],
    ["a create Projects/", { tag: "a", name: "CREATE", mailbox: "Projects/" }],
    ["a DELETE foo", { tag: "a", name: "DELETE", mailbox: "foo" }],
    ['a SUBSCRIBE "INBOX"', { tag: "a", name: "SUBSCRIBE", mailbox: "INBOX" }],
    ["a UNSUBSCRIBE inbox", { tag: "a", name: "UNSUBSCRIBE", mailbox: "INBOX" }],
    ['a RENAME "Old Name" &AOQ-', { tag: "a", name: "RENAME", from: "Old Name", to: "ä" }],
    ["a RENAME INBOX Archive", { tag: "a", name: "RENAME", from: "INBOX", to: "Archive" }],
  ]);
  bad([
    ["a CREATE", /missing argument/, "a"],
    ["a CREATE a b", /unexpected " b"/, "a"],
    ["a CREATE (x)", /invalid mailbox name/, "a"],
    ["a CREATE Sent (USE (\\Sent))", /unexpected/, "a"],
    ["a DELETE %", /invalid mailbox name/, "a"],
    ["a DELETE *", /invalid mailbox name/, "a"],
    ["a RENAME a", /missing argument/, "a"],
    ["a SUBSCRIBE", /missing argument/, "a"],
  ]);
});

Deno.test("parseCommand() parses LIST with LIST-EXTENDED and LIST-STATUS, and LSUB", () => {
  const list = (rest: Record<string, unknown>) => ({
    tag: "x",
    name: "LIST",
    args: { reference: "", patterns: ["*"], select: [], returns: [], ...rest },
  });
  good([
    [
      'x LIST "" "*" RETURN (SPECIAL-USE CHILDREN STATUS (MESSAGES UNSEEN))',
      list({
        returns: ["SPECIAL-USE", "CHILDREN"],
        status: ["MESSAGES", "UNSEEN"],
      }),
    ],
    ['x LIST "" "*"', list({})],
    ['x list "" *', list({})],
    ['x LIST "" %', list({ patterns: ["%"] })],
    ['x LIST "" ""', list({ patterns: [""] })],
    ["x LIST ~/Mail/ %", list({ reference: "~/Mail/", patterns: ["%"] })],
    ['x LIST "" INBOX/%', list({ patterns: ["INBOX/%"] })],
    ['x LIST "" Foo]*', list({ patterns: ["Foo]*"] })],
    ['x LIST "" "&U,BTFw-/*"', list({ patterns: ["台北/*"] })],
    ['x LIST (SUBSCRIBED) "" "*"', list({ select: ["SUBSCRIBED"] })],
    ['x LIST (special-use) "" "*"', list({ select: ["SPECIAL-USE"] })],
    ['x LIST () "" *', list({})],
    [
      'x LIST (SUBSCRIBED RECURSIVEMATCH REMOTE) "" ("INBOX" Sent* %/%)',
      list({
        select: ["SUBSCRIBED", "RECURSIVEMATCH", "REMOTE"],
        patterns: ["INBOX", "Sent*", "%/%"],
      }),
    ],
    ['x LIST "" * RETURN ()', list({})],
    ['x LIST "" * RETURN (SUBSCRIBED)', list({ returns: ["SUBSCRIBED"] })],
    [
      'x LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES UIDNEXT UIDVALIDITY UNSEEN ' +
      "DELETED SIZE HIGHESTMODSEQ RECENT APPENDLIMIT))",
      list({
        select: ["SPECIAL-USE"],
        status: [
          "MESSAGES",
          "UIDNEXT",
          "UIDVALIDITY",
          "UNSEEN",
          "DELETED",
          "SIZE",
          "HIGHESTMODSEQ",
          "RECENT",
          "APPENDLIMIT",
        ],
      }),
    ],
    [wire("x LIST ", lit(""), " ", lit("Sent*")), list({ patterns: ["Sent*"] })],
    ['a LSUB "" "*"', { tag: "a", name: "LSUB", reference: "", pattern: "*" }],
    ["a lsub Work/ %", { tag: "a", name: "LSUB", reference: "Work/", pattern: "%" }],
  ]);
  good([
    ['x LIST "" "台北/*"', list({ patterns: ["台北/*"] })],
  ], true);
  bad([
    ["x LIST", /missing argument/, "x"],
    ['x LIST ""', /missing argument/, "x"],
    ['x LIST "" ', /missing mailbox pattern/, "x"],
    ['x LIST (FOO) "" *', /unknown selection option FOO/, "x"],
    ['x LIST (RECURSIVEMATCH) "" *', /RECURSIVEMATCH without a base selection option/, "x"],
    ['x LIST (REMOTE RECURSIVEMATCH) "" *', /RECURSIVEMATCH without/, "x"],
    ['x LIST "" * RETURN (FOO)', /unknown return option FOO/, "x"],
    ['x LIST "" * RETURN (STATUS ())', /invalid status item/, "x"],
    ['x LIST "" * RETURN (STATUS (MAILBOXID))', /unknown status item MAILBOXID/, "x"],
    ['x LIST "" * RETURN (STATUS)', /missing argument/, "x"],
    ['x LIST "" * RETURN', /missing argument/, "x"],
    ['x LIST "" * (CHILDREN)', /invalid LIST return options/, "x"],
    ['x LIST "" ()', /invalid mailbox pattern/, "x"],
    ['x LIST "" (a', /missing "\)"/, "x"],
    ['x LIST "" a b', /invalid LIST return options/, "x"],
    ['x LIST "" "&Jjo"', /invalid mailbox name/, "x"],
    ["a LSUB", /missing argument/, "a"],
    ['a LSUB "" * RETURN ()', /unexpected/, "a"],
  ]);
});

Deno.test("parseCommand() parses STATUS", () => {
  good([
    ["a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)", {
      tag: "a",
      name: "STATUS",
      mailbox: "INBOX",
      items: ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"],
    }],
    ['a status "Sent" (highestmodseq size deleted recent appendlimit)', {
      tag: "a",
      name: "STATUS",
      mailbox: "Sent",
      items: ["HIGHESTMODSEQ", "SIZE", "DELETED", "RECENT", "APPENDLIMIT"],
    }],
    ["a STATUS INBOX (DELETED DELETED-STORAGE)", {
      tag: "a",
      name: "STATUS",
      mailbox: "INBOX",
      items: ["DELETED", "DELETED-STORAGE"],
    }],
  ]);
  bad([
    ["a STATUS INBOX", /missing argument/, "a"],
    ["a STATUS INBOX ()", /invalid status item/, "a"],
    ["a STATUS INBOX (FOO)", /unknown status item FOO/, "a"],
    ["a STATUS INBOX MESSAGES", /expected "\("/, "a"],
    ["a STATUS INBOX (MESSAGES", /missing "\)"/, "a"],
    ["a STATUS INBOX (MESSAGES  UNSEEN)", /invalid status item/, "a"],
  ]);
});

Deno.test("parseCommand() parses APPEND with flags, date-time and literals", () => {
  const message = encoder.encode("From: a@b\r\n\r\nhello\r\n");
  good([
    [wire('a APPEND Sent (\\Seen) "14-Jul-2024 10:11:12 +0200" ', lit(message)), {
      tag: "a",
      name: "APPEND",
      args: {
        mailbox: "Sent",
        flags: ["\\Seen"],
        date: new Date("2024-07-14T08:11:12Z"),
        message,
      },
    }],
    [wire("a APPEND INBOX ", lit(message, "+")), {
      tag: "a",
      name: "APPEND",
      args: { mailbox: "INBOX", flags: [], message },
    }],
    [wire("a append drafts (\\draft $MDNSent Work) ", lit(message)), {
      tag: "a",
      name: "APPEND",
      args: { mailbox: "drafts", flags: ["\\Draft", "$MDNSent", "Work"], message },
    }],
    [wire('a APPEND INBOX " 4-Jul-2024 00:00:00 -0530" ', lit(message)), {
      tag: "a",
      name: "APPEND",
      args: { mailbox: "INBOX", flags: [], date: new Date("2024-07-04T05:30:00Z"), message },
    }],
    [wire('a APPEND INBOX () "29-Feb-2024 23:59:59 +0000" ', lit(message)), {
      tag: "a",
      name: "APPEND",
      args: { mailbox: "INBOX", flags: [], date: new Date("2024-02-29T23:59:59Z"), message },
    }],
    [wire('a APPEND INBOX "1-jan-2024 12:00:00 +1400" ', lit(message)), {
      tag: "a",
      name: "APPEND",
      args: { mailbox: "INBOX", flags: [], date: new Date("2023-12-31T22:00:00Z"), message },
    }],
    [wire("a APPEND INBOX ", lit(new Uint8Array([0, 1, 0xff]), "~")), {
      tag: "a",
      name: "APPEND",
      args: { mailbox: "INBOX", flags: [], message: new Uint8Array([0, 1, 0xff]), binary: true },
    }],
    [wire("a APPEND INBOX ", lit(new Uint8Array())), {
      tag: "a",
      name: "APPEND",
      args: { mailbox: "INBOX", flags: [], message: new Uint8Array() },
    }],
    [wire('a APPEND "Entw&APw-rfe" ', lit(message)), {
      tag: "a",
      name: "APPEND",
      args: { mailbox: "Entwürfe", flags: [], message },
    }],
  ]);
  good([
    [wire("a APPEND INBOX (\\Seen) UTF8 (", lit(message, "~"), ")"), {
      tag: "a",
      name: "APPEND",
      args: { mailbox: "INBOX", flags: ["\\Seen"], message, binary: true },
    }],
  ], true);
  bad([
    ["a APPEND INBOX", /missing argument/, "a"],
    ["a APPEND INBOX ", /missing message literal/, "a"],
    ["a APPEND INBOX (\\Seen)", /missing argument/, "a"],
    ["a APPEND INBOX hello", /invalid message literal at "hello"/, "a"],
    ["a APPEND INBOX (\\Seen) {5}", /missing literal data/, "a"],
    [wire("a APPEND INBOX (\\Seen ", lit("x")), /missing "\)"|invalid flag/, "a"],
    [wire("a APPEND INBOX (\\*) ", lit("x")), /invalid flag/, "a"],
    [wire('a APPEND INBOX "1-Jan-2024" ', lit("x")), /invalid date-time "1-Jan-2024"/, "a"],
    [wire('a APPEND INBOX "32-Jan-2024 00:00:00 +0000" ', lit("x")), /invalid date-time/, "a"],
    [wire('a APPEND INBOX "29-Feb-2023 00:00:00 +0000" ', lit("x")), /invalid date-time/, "a"],
    [wire('a APPEND INBOX "1-Foo-2024 00:00:00 +0000" ', lit("x")), /invalid date-time/, "a"],
    [wire('a APPEND INBOX "1-Jan-2024 24:00:00 +0000" ', lit("x")), /invalid date-time/, "a"],
    [wire('a APPEND INBOX "1-Jan-2024 00:00:00 +0060" ', lit("x")), /invalid date-time/, "a"],
    [wire('a APPEND INBOX "1-Jan-2024 00:00:00 0000" ', lit("x")), /invalid date-time/, "a"],
    [wire('a APPEND INBOX "1-Jan-2024 0:00:00 +0000" ', lit("x")), /invalid date-time/, "a"],
    [wire("a APPEND INBOX 1-Jan-2024 ", lit("x")), /invalid message literal/, "a"],
    [wire("a APPEND INBOX  ", lit("x")), /invalid message literal/, "a"],
    // MULTIAPPEND (RFC 3502) is not offered.
    [wire("a APPEND INBOX ", lit("x"), " ", lit("y")), /unexpected " \{1\}"/, "a"],
    [wire("a APPEND INBOX ", lit("x"), " "), /unexpected/, "a"],
    // UTF8 (...) needs UTF8=ACCEPT and a literal8.
    [wire("a APPEND INBOX UTF8 (", lit("x", "~"), ")"), /invalid message literal/, "a"],
  ]);
  bad([
    [wire("a APPEND INBOX UTF8 (", lit("x"), ")"), /invalid literal8/, "a"],
    [wire("a APPEND INBOX UTF8 ", lit("x", "~")), /expected "\("/, "a"],
    [wire("a APPEND INBOX UTF8 (", lit("x", "~")), /missing "\)"/, "a"],
  ], true);
});

// ---------------------------------------------------------------------------
// Selected: sequence sets, FETCH, STORE, COPY/MOVE, EXPUNGE

Deno.test("parseCommand() parses sequence sets", () => {
  const table: [string, SequenceSet][] = [
    ["1", set(1)],
    ["*", set("*")],
    ["1:*", set([1, "*"])],
    ["*:4", set(["*", 4])],
    ["4:2", set([4, 2])],
    ["*:*", set(["*", "*"])],
    ["1,3:5,7:*", set(1, [3, 5], [7, "*"])],
    ["2,2,2", set(2, 2, 2)],
    ["4294967295", set(4294967295)],
    ["1:4294967295", set([1, 4294967295])],
    ["$", SAVED],
  ];
  for (const [text, want] of table) {
    assert.deepEqual(parse(`a COPY ${text} Trash`), {
      tag: "a",
      name: "COPY",
      set: want,
      mailbox: "Trash",
    }, text);
  }
  const malformed: [string, RegExp][] = [
    ["0", /invalid sequence set 0/],
    ["0:5", /invalid sequence set 0/],
    ["5:0", /invalid sequence set 0/],
    ["01", /invalid sequence set 01/],
    ["4294967296", /sequence set out of range: 4294967296/],
    ["99999999999999999999999999", /sequence set out of range/],
    ["1:", /invalid sequence set at " Trash"/],
    [":1", /invalid sequence set at ":1 Trash"/],
    ["1,", /invalid sequence set/],
    [",1", /invalid sequence set/],
    ["1,,2", /invalid sequence set/],
    ["1:2:3", /expected a space/],
    ["-1", /invalid sequence set/],
    ["1.5", /expected a space/],
    ["$,1", /invalid sequence set/],
    ["1,$", /invalid sequence set/],
    ["$:3", /invalid sequence set/],
    ["**", /expected a space/],
    ["a", /invalid sequence set/],
  ];
  for (const [text, want] of malformed) bad([[`a COPY ${text} Trash`, want, "a"]]);
});

Deno.test("parseCommand() parses COPY, MOVE and UID EXPUNGE", () => {
  good([
    ['a COPY 1:3,5 "Trash"', { tag: "a", name: "COPY", set: set([1, 3], 5), mailbox: "Trash" }],
    ["a uid copy 1:* inbox", { tag: "a", name: "UID COPY", set: set([1, "*"]), mailbox: "INBOX" }],
    ["a MOVE $ Archive", { tag: "a", name: "MOVE", set: SAVED, mailbox: "Archive" }],
    ["a UID MOVE 42 Archive", { tag: "a", name: "UID MOVE", set: set(42), mailbox: "Archive" }],
    ["a UID EXPUNGE 3000:3002", { tag: "a", name: "UID EXPUNGE", set: set([3000, 3002]) }],
    ["a uid expunge 1,*", { tag: "a", name: "UID EXPUNGE", set: set(1, "*") }],
  ]);
  bad([
    ["a COPY", /missing argument/, "a"],
    ["a COPY 1", /missing argument/, "a"],
    ["a COPY 1 ", /missing mailbox name/, "a"],
    ["a MOVE Archive 1", /invalid sequence set/, "a"],
    ["a UID EXPUNGE", /missing argument/, "a"],
    ["a UID EXPUNGE 1 2", /unexpected/, "a"],
  ]);
});

Deno.test("parseCommand() parses GETQUOTA, GETQUOTAROOT and SETQUOTA", () => {
  good([
    ['a GETQUOTA ""', { tag: "a", name: "GETQUOTA", root: "" }],
    ['a getquota "User quota"', { tag: "a", name: "GETQUOTA", root: "User quota" }],
    ["a GETQUOTA user.alice", { tag: "a", name: "GETQUOTA", root: "user.alice" }],
    [wire("a GETQUOTA ", lit("")), { tag: "a", name: "GETQUOTA", root: "" }],
    ["a GETQUOTAROOT INBOX", { tag: "a", name: "GETQUOTAROOT", mailbox: "INBOX" }],
    ["a getquotaroot inbox", { tag: "a", name: "GETQUOTAROOT", mailbox: "INBOX" }],
    ['a GETQUOTAROOT "Sent Items"', { tag: "a", name: "GETQUOTAROOT", mailbox: "Sent Items" }],
    ["a GETQUOTAROOT &AOQ-", { tag: "a", name: "GETQUOTAROOT", mailbox: "ä" }],
    ['a SETQUOTA "" (STORAGE 512)', {
      tag: "a",
      name: "SETQUOTA",
      root: "",
      limits: [{ resource: "STORAGE", limit: 512 }],
    }],
    ['a setquota "" (storage 0 message 1000 x-custom 9007199254740991)', {
      tag: "a",
      name: "SETQUOTA",
      root: "",
      limits: [
        { resource: "STORAGE", limit: 0 },
        { resource: "MESSAGE", limit: 1000 },
        { resource: "X-CUSTOM", limit: Number.MAX_SAFE_INTEGER },
      ],
    }],
    ['a SETQUOTA "" ()', { tag: "a", name: "SETQUOTA", root: "", limits: [] }],
  ]);
  good([
    ['a GETQUOTAROOT "Entwürfe"', { tag: "a", name: "GETQUOTAROOT", mailbox: "Entwürfe" }],
  ], true);
  bad([
    ["a GETQUOTA", /missing argument/, "a"],
    ["a GETQUOTA ", /missing quota root/, "a"],
    ['a GETQUOTA "" x', /unexpected " x"/, "a"],
    ["a GETQUOTA (x)", /invalid quota root/, "a"],
    ["a GETQUOTAROOT", /missing argument/, "a"],
    ["a GETQUOTAROOT INBOX Sent", /unexpected " Sent"/, "a"],
    ["a GETQUOTAROOT %", /invalid mailbox name/, "a"],
    ['a GETQUOTAROOT "&Jjo"', /invalid mailbox name/, "a"],
    ["a SETQUOTA", /missing argument/, "a"],
    ['a SETQUOTA ""', /missing argument/, "a"],
    ['a SETQUOTA "" STORAGE 512', /expected "\("/, "a"],
    ['a SETQUOTA "" (STORAGE)', /missing argument/, "a"],
    ['a SETQUOTA "" (STORAGE x)', /invalid resource limit/, "a"],
    ['a SETQUOTA "" (STORAGE -1)', /invalid resource limit/, "a"],
    ['a SETQUOTA "" (STORAGE 9007199254740992)', /resource limit out of range/, "a"],
    ['a SETQUOTA "" ("STORAGE" 512)', /invalid resource name/, "a"],
    ['a SETQUOTA "" (512)', /missing argument/, "a"],
    ['a SETQUOTA "" (STORAGE 512', /missing "\)"/, "a"],
    ['a SETQUOTA "" (STORAGE 512 )', /invalid resource name/, "a"],
  ]);
});

Deno.test("parseCommand() parses FETCH items as real clients send them", () => {
  const body = (
    section: Record<string, unknown>,
    peek = false,
    partial?: { offset: number; count: number },
  ) => ({ item: "BODY[]", section: { part: [], ...section }, peek, ...partial && { partial } });
  const fetch = (
    tag: string,
    name: "FETCH" | "UID FETCH",
    s: SequenceSet,
    items: unknown[],
    rest = {},
  ) => ({ tag, name, args: { set: s, items: items as FetchItem[], ...rest } });
  good([
    [
      "a1 UID FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE " +
      "BODY.PEEK[HEADER.FIELDS (From To Subject Date)])",
      fetch("a1", "UID FETCH", set([1, "*"]), [
        { item: "UID" },
        { item: "FLAGS" },
        { item: "RFC822.SIZE" },
        { item: "ENVELOPE" },
        { item: "BODYSTRUCTURE" },
        body({ text: "HEADER.FIELDS", fields: ["FROM", "TO", "SUBJECT", "DATE"] }, true),
      ]),
    ],
    // Thunderbird
    [
      "8 UID fetch 5 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject " +
      "Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type " +
      "Reply-To)])",
      fetch("8", "UID FETCH", set(5), [
        { item: "UID" },
        { item: "RFC822.SIZE" },
        { item: "FLAGS" },
        body({
          text: "HEADER.FIELDS",
          fields: [
            "FROM",
            "TO",
            "CC",
            "BCC",
            "SUBJECT",
            "DATE",
            "MESSAGE-ID",
            "PRIORITY",
            "X-PRIORITY",
            "REFERENCES",
            "NEWSGROUPS",
            "IN-REPLY-TO",
            "CONTENT-TYPE",
            "REPLY-TO",
          ],
        }, true),
      ]),
    ],
    ["6 UID fetch 1:* (FLAGS)", fetch("6", "UID FETCH", set([1, "*"]), [{ item: "FLAGS" }])],
    // imaplib
    ["AAAB3 FETCH 1 (RFC822)", fetch("AAAB3", "FETCH", set(1), [{ item: "RFC822" }])],
    [
      "AAAB4 FETCH 1:3 (BODY[HEADER])",
      fetch("AAAB4", "FETCH", set([1, 3]), [
        body({ text: "HEADER" }),
      ]),
    ],
    // mutt
    [
      "a0005 UID FETCH 1:5 (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS " +
      "(DATE FROM SENDER SUBJECT TO CC MESSAGE-ID REFERENCES CONTENT-TYPE " +
      "CONTENT-DESCRIPTION IN-REPLY-TO REPLY-TO LINES LIST-POST X-LABEL X-ORIGINAL-TO)])",
      fetch("a0005", "UID FETCH", set([1, 5]), [
        { item: "UID" },
        { item: "FLAGS" },
        { item: "INTERNALDATE" },
        { item: "RFC822.SIZE" },
        body({
          text: "HEADER.FIELDS",
          fields: [
            "DATE",
            "FROM",
            "SENDER",
            "SUBJECT",
            "TO",
            "CC",
            "MESSAGE-ID",
            "REFERENCES",
            "CONTENT-TYPE",
            "CONTENT-DESCRIPTION",
            "IN-REPLY-TO",
            "REPLY-TO",
            "LINES",
            "LIST-POST",
            "X-LABEL",
            "X-ORIGINAL-TO",
          ],
        }, true),
      ]),
    ],
    [
      "a FETCH 1 ALL",
      fetch("a", "FETCH", set(1), [
        { item: "FLAGS" },
        { item: "INTERNALDATE" },
        { item: "RFC822.SIZE" },
        { item: "ENVELOPE" },
      ]),
    ],
    [
      "a FETCH 1 fast",
      fetch("a", "FETCH", set(1), [
        { item: "FLAGS" },
        { item: "INTERNALDATE" },
        { item: "RFC822.SIZE" },
      ]),
    ],
    [
      "a FETCH 1:2 FULL",
      fetch("a", "FETCH", set([1, 2]), [
        { item: "FLAGS" },
        { item: "INTERNALDATE" },
        { item: "RFC822.SIZE" },
        { item: "ENVELOPE" },
        { item: "BODY" },
      ]),
    ],
    ["a FETCH * FLAGS", fetch("a", "FETCH", set("*"), [{ item: "FLAGS" }])],
    ["a FETCH $ uid", fetch("a", "FETCH", SAVED, [{ item: "UID" }])],
    [
      "a fetch 1 (rfc822.header rfc822.text internaldate body modseq)",
      fetch(
        "a",
        "FETCH",
        set(1),
        [
          { item: "RFC822.HEADER" },
          { item: "RFC822.TEXT" },
          { item: "INTERNALDATE" },
          { item: "BODY" },
          { item: "MODSEQ" },
        ],
      ),
    ],
    ["a FETCH 1 BODY[]", fetch("a", "FETCH", set(1), [body({})])],
    [
      "a FETCH 1 BODY.PEEK[]<0.1024>",
      fetch("a", "FETCH", set(1), [
        body({}, true, { offset: 0, count: 1024 }),
      ]),
    ],
    [
      "a FETCH 1 (BODY[1.2.MIME] BODY[1.TEXT] body[2] BODY[TEXT]<10.20> BODY[HEADER] " +
      "BODY[3.HEADER.FIELDS.NOT (Received DKIM-Signature)] BODY[4.1.2.3] BODY[1.HEADER])",
      fetch("a", "FETCH", set(1), [
        body({ part: [1, 2], text: "MIME" }),
        body({ part: [1], text: "TEXT" }),
        body({ part: [2] }),
        body({ text: "TEXT" }, false, { offset: 10, count: 20 }),
        body({ text: "HEADER" }),
        body({
          part: [3],
          text: "HEADER.FIELDS.NOT",
          fields: ["RECEIVED", "DKIM-SIGNATURE"],
        }),
        body({ part: [4, 1, 2, 3] }),
        body({ part: [1], text: "HEADER" }),
      ]),
    ],
    [
      'a FETCH 1 BODY.PEEK[HEADER.FIELDS ("From" list-id)]',
      fetch("a", "FETCH", set(1), [
        body({ text: "HEADER.FIELDS", fields: ["FROM", "LIST-ID"] }, true),
      ]),
    ],
    [
      wire("a FETCH 1 BODY.PEEK[HEADER.FIELDS (", lit("X-Spam"), ")]"),
      fetch("a", "FETCH", set(1), [
        body({ text: "HEADER.FIELDS", fields: ["X-SPAM"] }, true),
      ]),
    ],
    [
      "a FETCH 1 (BINARY.PEEK[1]<100.200> BINARY.SIZE[1] BINARY[] binary[2.1] BINARY.SIZE[])",
      fetch("a", "FETCH", set(1), [
        {
          item: "BINARY[]",
          section: { part: [1] },
          peek: true,
          partial: { offset: 100, count: 200 },
        },
        { item: "BINARY.SIZE[]", section: { part: [1] }, peek: false },
        { item: "BINARY[]", section: { part: [] }, peek: false },
        { item: "BINARY[]", section: { part: [2, 1] }, peek: false },
        { item: "BINARY.SIZE[]", section: { part: [] }, peek: false },
      ]),
    ],
    // RFC 7162 §3.1.4.1, §3.2.6
    [
      "s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",
      fetch(
        "s100",
        "UID FETCH",
        set([1, "*"]),
        [{ item: "FLAGS" }],
        { changedSince: 12345n },
      ),
    ],
    [
      "s101 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
      fetch(
        "s101",
        "UID FETCH",
        set([300, 500]),
        [{ item: "FLAGS" }],
        { changedSince: 12345n, vanished: true },
      ),
    ],
    [
      "a UID FETCH 1:* FLAGS (vanished changedsince 1)",
      fetch(
        "a",
        "UID FETCH",
        set([1, "*"]),
        [{ item: "FLAGS" }],
        { changedSince: 1n, vanished: true },
      ),
    ],
    [
      "a FETCH 1:* (FLAGS MODSEQ) (CHANGEDSINCE 9223372036854775807)",
      fetch(
        "a",
        "FETCH",
        set([1, "*"]),
        [{ item: "FLAGS" }, { item: "MODSEQ" }],
        { changedSince: 9223372036854775807n },
      ),
    ],
  ]);
  bad([
    ["a FETCH", /missing argument/, "a"],
    ["a FETCH 1", /missing argument/, "a"],
    ["a FETCH 1 ", /missing fetch item/, "a"],
    ["a FETCH 0 FLAGS", /invalid sequence set 0/, "a"],
    ["a FETCH 1 (ALL)", /unknown fetch item ALL/, "a"],
    ["a FETCH 1 (FAST FLAGS)", /unknown fetch item FAST/, "a"],
    ["a FETCH 1 ()", /invalid fetch item at "\)"/, "a"],
    ["a FETCH 1 (FLAGS", /missing "\)"/, "a"],
    ["a FETCH 1 (FLAGS )", /missing fetch item|invalid fetch item/, "a"],
    ["a FETCH 1 FLAGS UID", /expected "\("/, "a"],
    ["a FETCH 1 X-GM-LABELS", /unknown fetch item X-GM-LABELS/, "a"],
    ["a FETCH 1 BODYSTRUCTURE[]", /unexpected "\[\]"/, "a"],
    ["a FETCH 1 BODY.PEEK", /missing "\["/, "a"],
    ["a FETCH 1 BODY.PEEK<0.1>", /expected "\["/, "a"],
    ["a FETCH 1 BODY[", /missing section/, "a"],
    ["a FETCH 1 BODY[HEADER", /missing "\]"/, "a"],
    ["a FETCH 1 BODY[MIME]", /MIME needs a part number/, "a"],
    ["a FETCH 1 BODY[FOO]", /invalid section FOO/, "a"],
    ["a FETCH 1 BODY[1.FOO]", /invalid section FOO/, "a"],
    ["a FETCH 1 BODY[HEADER.FIELDS]", /expected a space at "\]"/, "a"],
    ["a FETCH 1 BODY[HEADER.FIELDS ()]", /invalid header field name/, "a"],
    ["a FETCH 1 BODY[HEADER.FIELDS From]", /expected "\("/, "a"],
    ["a FETCH 1 BODY[HEADER.FIELDS (From)", /missing "\]"/, "a"],
    ["a FETCH 1 BODY[0]", /invalid section part 0/, "a"],
    ["a FETCH 1 BODY[1.0]", /invalid section FOO|invalid section part|invalid section/, "a"],
    ["a FETCH 1 BODY[1.]", /invalid section at "\]"/, "a"],
    ["a FETCH 1 BODY[.1]", /invalid section/, "a"],
    ["a FETCH 1 BODY[1 ]", /expected "\]"/, "a"],
    ["a FETCH 1 BODY[]<0.0>", /invalid partial length 0/, "a"],
    ["a FETCH 1 BODY[]<5>", /expected "\."/, "a"],
    ["a FETCH 1 BODY[]<5.>", /invalid partial length/, "a"],
    ["a FETCH 1 BODY[]<.5>", /invalid partial offset/, "a"],
    ["a FETCH 1 BODY[]<0.5", /missing ">"/, "a"],
    ["a FETCH 1 BODY[]<99999999999999999999.5>", /partial offset out of range/, "a"],
    ["a FETCH 1 BINARY.SIZE[1]<0.5>", /unexpected "<0.5>"/, "a"],
    ["a FETCH 1 BINARY[HEADER]", /invalid section part/, "a"],
    ["a FETCH 1 BINARY[1.MIME]", /expected "\]"/, "a"],
    ["a FETCH 1 BINARY", /missing "\["/, "a"],
    ["a FETCH 1 FLAGS ()", /invalid fetch modifier/, "a"],
    ["a FETCH 1 FLAGS (FOO)", /unknown fetch modifier FOO/, "a"],
    ["a FETCH 1 FLAGS (CHANGEDSINCE)", /missing argument/, "a"],
    ["a FETCH 1 FLAGS (CHANGEDSINCE 0)", /invalid CHANGEDSINCE 0/, "a"],
    ["a FETCH 1 FLAGS (CHANGEDSINCE x)", /invalid CHANGEDSINCE/, "a"],
    ["a FETCH 1 FLAGS (VANISHED)", /VANISHED needs UID FETCH and CHANGEDSINCE/, "a"],
    ["a FETCH 1 FLAGS (CHANGEDSINCE 5 VANISHED)", /VANISHED needs UID FETCH/, "a"],
    ["a UID FETCH 1 FLAGS (VANISHED)", /VANISHED needs UID FETCH and CHANGEDSINCE/, "a"],
    ["a FETCH 1 FLAGS (CHANGEDSINCE 5) x", /unexpected/, "a"],
  ]);
});

Deno.test("parseCommand() parses STORE with modes, .SILENT and UNCHANGEDSINCE", () => {
  const store = (
    tag: string,
    name: "STORE" | "UID STORE",
    s: SequenceSet,
    mode: "set" | "add" | "remove",
    silent: boolean,
    flags: string[],
    unchangedSince?: bigint,
  ) => ({
    tag,
    name,
    args: { set: s, mode, silent, flags, ...unchangedSince !== undefined && { unchangedSince } },
  });
  good([
    ["a STORE 1 +FLAGS (\\Seen)", store("a", "STORE", set(1), "add", false, ["\\Seen"])],
    [
      "a UID STORE 1:3 -FLAGS.SILENT (\\Deleted \\Flagged)",
      store("a", "UID STORE", set([1, 3]), "remove", true, ["\\Deleted", "\\Flagged"]),
    ],
    ["a STORE 2 FLAGS ()", store("a", "STORE", set(2), "set", false, [])],
    [
      "a STORE 1 +FLAGS \\Seen \\Answered",
      store("a", "STORE", set(1), "add", false, ["\\Seen", "\\Answered"]),
    ],
    [
      "a store 1 +flags.silent (\\seen \\ANSWERED \\dRaFt $forwarded Junk)",
      store("a", "STORE", set(1), "add", true, [
        "\\Seen",
        "\\Answered",
        "\\Draft",
        "$forwarded",
        "Junk",
      ]),
    ],
    [
      "d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
      store("d105", "STORE", set(7, 5, 9), "add", true, ["\\Deleted"], 320162338n),
    ],
    [
      "a UID STORE 1 (UNCHANGEDSINCE 0) FLAGS ($Forwarded Work)",
      store("a", "UID STORE", set(1), "set", false, ["$Forwarded", "Work"], 0n),
    ],
    [
      "a STORE $ -FLAGS \\Custom",
      store("a", "STORE", SAVED, "remove", false, ["\\Custom"]),
    ],
  ]);
  bad([
    ["a STORE", /missing argument/, "a"],
    ["a STORE 1", /missing argument/, "a"],
    ["a STORE 1 FLAGS", /missing argument/, "a"],
    ["a STORE 1 FLAGS ", /missing flag/, "a"],
    ["a STORE 1 ++FLAGS (\\Seen)", /invalid store item at "\+FLAGS/, "a"],
    ["a STORE 1 +-FLAGS (\\Seen)", /invalid store item/, "a"],
    ["a STORE 1 +FLAGS.LOUD (\\Seen)", /invalid store item FLAGS.LOUD/, "a"],
    ["a STORE 1 +LABELS (x)", /invalid store item LABELS/, "a"],
    ["a STORE 1 +FLAGS (\\*)", /invalid flag/, "a"],
    ["a STORE 1 +FLAGS (\\)", /invalid flag/, "a"],
    ["a STORE 1 +FLAGS (\\Seen", /missing "\)"/, "a"],
    ["a STORE 1 +FLAGS (\\Seen  \\Deleted)", /invalid flag/, "a"],
    ["a STORE 1 +FLAGS \\Seen (\\Deleted)", /invalid flag/, "a"],
    ["a STORE 1 +FLAGS ((\\Seen))", /invalid flag/, "a"],
    ['a STORE 1 +FLAGS ("x")', /invalid flag/, "a"],
    ["a STORE 1 (UNCHANGEDSINCE) FLAGS ()", /missing argument/, "a"],
    ["a STORE 1 (UNCHANGEDSINCE 01) FLAGS ()", /invalid UNCHANGEDSINCE 01/, "a"],
    ["a STORE 1 (FOO 1) FLAGS ()", /unknown store modifier FOO/, "a"],
    ["a STORE 1 (UNCHANGEDSINCE 5)", /missing argument/, "a"],
    ["a STORE 1 (UNCHANGEDSINCE 5) x", /invalid store item X/, "a"],
  ]);
});

// ---------------------------------------------------------------------------
// SEARCH

Deno.test("parseCommand() parses SEARCH with RETURN, CHARSET and every search key", () => {
  const search = (tag: string, key: unknown, rest = {}, name = "SEARCH") => ({
    tag,
    name,
    args: { ...rest, key },
  });
  const flag = (f: string, has = true) => ({ op: "flag", flag: f, has });
  good([
    [
      "a UID SEARCH RETURN (ALL) UNDELETED SINCE 1-Feb-2024",
      search(
        "a",
        {
          op: "and",
          keys: [flag("\\Deleted", false), { op: "since", date: "2024-02-01" }],
        },
        { returns: ["ALL"] },
        "UID SEARCH",
      ),
    ],
    ["a SEARCH ALL", search("a", { op: "all" })],
    // imaplib sends `SEARCH None UNSEEN` without a charset as `SEARCH UNSEEN`.
    ["AAAB5 SEARCH UNSEEN", search("AAAB5", flag("\\Seen", false))],
    [
      'a SEARCH CHARSET UTF-8 SUBJECT "héllo wörld"',
      search("a", { op: "header", name: "SUBJECT", value: "héllo wörld" }, { charset: "UTF-8" }),
    ],
    [
      'a search charset "us-ascii" text foo',
      search("a", { op: "text", value: "foo" }, { charset: "US-ASCII" }),
    ],
    [
      wire("a SEARCH CHARSET UTF-8 TEXT ", lit("héllo")),
      search("a", { op: "text", value: "héllo" }, { charset: "UTF-8" }),
    ],
    [
      wire("a SEARCH CHARSET UTF-8 BODY ", lit("naïve", "+"), " FROM ", lit("zoë")),
      search("a", {
        op: "and",
        keys: [{ op: "body", value: "naïve" }, { op: "header", name: "FROM", value: "zoë" }],
      }, { charset: "UTF-8" }),
    ],
    [
      "a SEARCH OR FROM alice TO bob",
      search("a", {
        op: "or",
        left: { op: "header", name: "FROM", value: "alice" },
        right: { op: "header", name: "TO", value: "bob" },
      }),
    ],
    ["a SEARCH NOT DELETED", search("a", { op: "not", key: flag("\\Deleted") })],
    [
      "a SEARCH (SEEN FLAGGED) OR ANSWERED (DRAFT)",
      search("a", {
        op: "and",
        keys: [
          { op: "and", keys: [flag("\\Seen"), flag("\\Flagged")] },
          { op: "or", left: flag("\\Answered"), right: flag("\\Draft") },
        ],
      }),
    ],
    ["a SEARCH (ALL)", search("a", { op: "all" })],
    [
      "a SEARCH 1:5,7 UID 10:*",
      search("a", {
        op: "and",
        keys: [{ op: "seq", set: set([1, 5], 7) }, { op: "uid", set: set([10, "*"]) }],
      }),
    ],
    ["a SEARCH *", search("a", { op: "seq", set: set("*") })],
    ["a SEARCH $", search("a", { op: "seq", set: SAVED })],
    [
      "a UID SEARCH UID $ SEEN",
      search(
        "a",
        {
          op: "and",
          keys: [{ op: "uid", set: SAVED }, flag("\\Seen")],
        },
        {},
        "UID SEARCH",
      ),
    ],
    [
      'a SEARCH HEADER Message-ID "<abc@example.com>"',
      search("a", { op: "header", name: "MESSAGE-ID", value: "<abc@example.com>" }),
    ],
    ['a SEARCH HEADER "X-Spam" ""', search("a", { op: "header", name: "X-SPAM", value: "" })],
    [
      "a SEARCH LARGER 1024 SMALLER 5000",
      search("a", {
        op: "and",
        keys: [{ op: "larger", size: 1024 }, { op: "smaller", size: 5000 }],
      }),
    ],
    ["a SEARCH LARGER 0", search("a", { op: "larger", size: 0 })],
    [
      "a SEARCH KEYWORD $Forwarded UNKEYWORD Work",
      search("a", { op: "and", keys: [flag("$Forwarded"), flag("Work", false)] }),
    ],
    [
      "a SEARCH NEW OLD RECENT",
      search("a", { op: "and", keys: [{ op: "new" }, { op: "old" }, { op: "recent" }] }),
    ],
    [
      "a SEARCH ANSWERED DELETED DRAFT FLAGGED SEEN",
      search("a", {
        op: "and",
        keys: ["\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen"].map((f) => flag(f)),
      }),
    ],
    [
      "a SEARCH unanswered undeleted undraft unflagged unseen",
      search("a", {
        op: "and",
        keys: ["\\Answered", "\\Deleted", "\\Draft", "\\Flagged", "\\Seen"].map((f) =>
          flag(f, false)
        ),
      }),
    ],
    ["a SEARCH MODSEQ 620162338", search("a", { op: "modseq", modseq: 620162338n })],
    ["a SEARCH MODSEQ 0", search("a", { op: "modseq", modseq: 0n })],
    // RFC 7162 §3.1.5 example.
    [
      'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338',
      search("a", { op: "modseq", modseq: 620162338n }),
    ],
    [
      'a SEARCH MODSEQ "/flags/$Forwarded" PRIV 5 SEEN',
      search("a", { op: "and", keys: [{ op: "modseq", modseq: 5n }, flag("\\Seen")] }),
    ],
    [
      'a SEARCH BEFORE "5-Mar-2024" ON 29-Feb-2024 SENTBEFORE 1-Jan-2000 SENTON 31-dec-1999 ' +
      "SENTSINCE 01-JAN-2024",
      search("a", {
        op: "and",
        keys: [
          { op: "before", date: "2024-03-05" },
          { op: "on", date: "2024-02-29" },
          { op: "sentbefore", date: "2000-01-01" },
          { op: "senton", date: "1999-12-31" },
          { op: "sentsince", date: "2024-01-01" },
        ],
      }),
    ],
    [
      "a SEARCH BCC x CC y BODY z",
      search("a", {
        op: "and",
        keys: [
          { op: "header", name: "BCC", value: "x" },
          { op: "header", name: "CC", value: "y" },
          { op: "body", value: "z" },
        ],
      }),
    ],
    ["a SEARCH RETURN () ALL", search("a", { op: "all" }, { returns: [] })],
    [
      "a SEARCH RETURN (MIN MAX COUNT SAVE all) CHARSET UTF-8 ALL",
      search("a", { op: "all" }, {
        returns: ["MIN", "MAX", "COUNT", "SAVE", "ALL"],
        charset: "UTF-8",
      }),
    ],
    // imapflow
    [
      "5 UID SEARCH OR SEEN (UNSEEN SINCE 1-Jan-2024)",
      search(
        "5",
        {
          op: "or",
          left: flag("\\Seen"),
          right: {
            op: "and",
            keys: [flag("\\Seen", false), { op: "since", date: "2024-01-01" }],
          },
        },
        {},
        "UID SEARCH",
      ),
    ],
    [
      "a SEARCH NOT NOT OR NOT SEEN NOT (FLAGGED)",
      search("a", {
        op: "not",
        key: {
          op: "not",
          key: {
            op: "or",
            left: { op: "not", key: flag("\\Seen") },
            right: { op: "not", key: flag("\\Flagged") },
          },
        },
      }),
    ],
  ]);
});

Deno.test("parseCommand() rejects malformed SEARCH programs", () => {
  bad([
    ["a SEARCH", /^Cannot parse SEARCH: missing argument$/, "a"],
    ["a SEARCH ", /missing search key/, "a"],
    ["a SEARCH FOO", /unknown search key FOO/, "a"],
    ["a SEARCH SEEN ", /missing search key/, "a"],
    ["a SEARCH SEEN  FLAGGED", /invalid search key/, "a"],
    ["a SEARCH SINCE", /missing argument/, "a"],
    ["a SEARCH SINCE 30-Feb-2024", /invalid date "30-Feb-2024"/, "a"],
    ["a SEARCH SINCE 29-Feb-2023", /invalid date/, "a"],
    ["a SEARCH SINCE 0-Jan-2024", /invalid date/, "a"],
    ["a SEARCH SINCE 2024-02-01", /invalid date/, "a"],
    ["a SEARCH SINCE 1-Foo-2024", /invalid date/, "a"],
    ["a SEARCH SINCE 1-Feb-24", /invalid date/, "a"],
    ["a SEARCH SINCE 100-Feb-2024", /invalid date/, "a"],
    ['a SEARCH SINCE "1-Feb-2024', /unterminated quoted string/, "a"],
    ['a SEARCH SINCE "1-Feb-2024 00:00"', /invalid date/, "a"],
    ["a SEARCH SINCE (1-Feb-2024)", /invalid date|missing date/, "a"],
    ["a SEARCH OR SEEN", /missing argument/, "a"],
    ["a SEARCH NOT", /missing argument/, "a"],
    ["a SEARCH ()", /invalid search key at "\)"/, "a"],
    ["a SEARCH (SEEN", /missing "\)"/, "a"],
    ["a SEARCH SEEN)", /unexpected "\)"/, "a"],
    ["a SEARCH (SEEN))", /unexpected "\)"/, "a"],
    ["a SEARCH RETURN (FOO) ALL", /unknown return option FOO/, "a"],
    ["a SEARCH RETURN (PARTIAL 1:10) ALL", /unknown return option PARTIAL/, "a"],
    ["a SEARCH RETURN ALL", /expected "\("/, "a"],
    ["a SEARCH RETURN (ALL)", /missing argument/, "a"],
    ["a SEARCH CHARSET", /missing argument/, "a"],
    ["a SEARCH CHARSET UTF-8", /missing argument/, "a"],
    ["a SEARCH ALL CHARSET UTF-8", /unknown search key CHARSET/, "a"],
    ["a SEARCH CHARSET UTF-8 RETURN (ALL) ALL", /unknown search key RETURN/, "a"],
    ["a SEARCH LARGER x", /invalid size/, "a"],
    ["a SEARCH LARGER -1", /invalid size/, "a"],
    ["a SEARCH LARGER 99999999999999999999", /size out of range/, "a"],
    ["a SEARCH KEYWORD \\Seen", /invalid keyword/, "a"],
    ["a SEARCH KEYWORD", /missing argument/, "a"],
    ["a SEARCH HEADER Subject", /missing argument/, "a"],
    ['a SEARCH MODSEQ "/foo" all 5', /invalid MODSEQ entry name "\/foo"/, "a"],
    ['a SEARCH MODSEQ "/flags/" all 5', /invalid MODSEQ entry name/, "a"],
    ['a SEARCH MODSEQ "/flags/\\\\seen" mine 5', /invalid MODSEQ entry type MINE/, "a"],
    ['a SEARCH MODSEQ "/flags/\\\\seen" all', /missing argument/, "a"],
    ["a SEARCH MODSEQ", /missing argument/, "a"],
    ["a SEARCH MODSEQ 01", /invalid modseq 01/, "a"],
    ["a SEARCH MODSEQ 9223372036854775808", /modseq out of range/, "a"],
    ["a SEARCH UID 0", /invalid sequence set 0/, "a"],
    ["a SEARCH UID", /missing argument/, "a"],
    ["a SEARCH 0", /invalid sequence set/, "a"],
    ["a SEARCH BODY", /missing argument/, "a"],
    ["a SEARCH TEXT (x)", /invalid search string/, "a"],
    ["a SEARCH FUZZY TEXT x", /unknown search key FUZZY/, "a"],
    ["a SEARCH SAVEDBEFORE 1-Jan-2024", /unknown search key SAVEDBEFORE/, "a"],
  ]);
});

Deno.test("parseCommand() bounds the nesting of search keys", () => {
  const nested = (depth: number, open: string, close: string) =>
    `a SEARCH ${open.repeat(depth)}SEEN${close.repeat(depth)}`;
  // Depth 5 of each kind parses to the expected tree.
  const seen = { op: "flag", flag: "\\Seen", has: true };
  let notTree: unknown = seen;
  for (let i = 0; i < 5; i++) notTree = { op: "not", key: notTree };
  assert.deepEqual(parse(nested(5, "NOT ", "")), {
    tag: "a",
    name: "SEARCH",
    args: { key: notTree },
  });
  assert.deepEqual(parse(nested(5, "(", ")")), { tag: "a", name: "SEARCH", args: { key: seen } });
  assert.deepEqual(parse(nested(5, "(ALL ", ")")).name, "SEARCH");
  assert.deepEqual(parse(nested(5, "OR ALL ", "")).name, "SEARCH");
  // Up to the cap (the top-level key is depth 1): fine.
  for (const [open, close] of [["NOT ", ""], ["(", ")"], ["OR ALL ", ""], ["(ALL ", ")"]]) {
    assert.equal(parse(nested(MAX_SEARCH_DEPTH - 1, open, close)).name, "SEARCH", open);
  }
  // One more, or 10,000 more, is refused without exhausting the stack.
  for (const depth of [MAX_SEARCH_DEPTH, 10_000]) {
    for (const [open, close] of [["NOT ", ""], ["(", ")"], ["OR ALL ", ""], ["OR (", "ALL)"]]) {
      bad([[nested(depth, open, close), /search keys nested too deeply/, "a"]]);
    }
  }
  // A long flat list is not nesting.
  const flat = `a SEARCH ${"SEEN ".repeat(10_000)}ALL`;
  const got = parse(flat);
  assert.ok(
    got.name === "SEARCH" && got.args.key.op === "and" && got.args.key.keys.length === 10_001,
  );
});
