/**
 * Mailboxes with Python's imaplib: LIST with special-use attributes and
 * LIST-EXTENDED/LIST-STATUS, LSUB, CREATE/DELETE/RENAME with a hierarchy,
 * RENAME of INBOX (INBOX stays, its messages move), SUBSCRIBE/UNSUBSCRIBE,
 * STATUS with SIZE and HIGHESTMODSEQ, and what SELECT and EXAMINE answer.
 */
import assert from "node:assert/strict";
import {
  assertOk,
  bytesArg,
  call,
  imaplib,
  imapLogin,
  message,
  raw,
  startImapServer,
  untagged,
} from "./support/imap_fixture.ts";

/** One LIST/LSUB line: its attributes and mailbox name (quotes removed). */
interface Listed {
  attributes: string[];
  name: string;
}

/** Parses `(\A \B) "/" name` (imaplib's data) or `* LIST (...) "/" name` (a wire line). */
function parseListed(line: string): Listed {
  const m = /^(?:\* (?:LIST|LSUB) )?\(([^)]*)\) (?:"\/"|NIL) (.*)$/.exec(line);
  assert.ok(m, `not a LIST line: ${JSON.stringify(line)}`);
  const name = m[2].startsWith('"') ? JSON.parse(m[2]) : m[2];
  return { attributes: m[1] === "" ? [] : m[1].split(" "), name };
}

function byName(lines: string[]): Map<string, string[]> {
  return new Map(lines.map(parseListed).map((l) => [l.name, l.attributes]));
}

/** Parses imaplib's STATUS data `name (ITEM n ...)`. */
function parseStatus(data: string): Record<string, number> {
  const m = /\(([^)]*)\)$/.exec(data);
  assert.ok(m, `not a STATUS answer: ${data}`);
  const words = m[1].split(" ");
  const out: Record<string, number> = {};
  for (let i = 0; i < words.length; i += 2) out[words[i]] = Number(words[i + 1]);
  return out;
}

const SPECIAL = {
  Sent: "\\Sent",
  Drafts: "\\Drafts",
  Trash: "\\Trash",
  Junk: "\\Junk",
  Archive: "\\Archive",
} as const;

function note(n: number) {
  return message({ subject: `note ${n}`, body: `note number ${n}\n` });
}

Deno.test("imaplib: LIST with special-use attributes, LIST-EXTENDED and LIST-STATUS", async (t) => {
  await using imap = await startImapServer();
  const r = await imaplib([
    ...imapLogin(imap.imap),
    call("list"), // 2
    raw('LIST (SPECIAL-USE) "" "*"'), // 3
    raw('LIST "" "*" RETURN (SPECIAL-USE)'), // 4
    raw('LIST "" ""'), // 5
    raw('LIST "" "inbox"'), // 6
    call("append", "INBOX", null, null, bytesArg(note(1))), // 7
    raw('LIST "" "INBOX" RETURN (STATUS (MESSAGES UNSEEN SIZE))'), // 8
    raw('LIST "" ("Sent" "Drafts")'), // 9
    { op: "logout" },
  ]);
  r.slice(0, 10).forEach((x) => assertOk(x));

  await t.step("INBOX and the five special-use mailboxes, each with its attribute", () => {
    const listed = byName(r[2].data!);
    assert.deepEqual(
      [...listed.keys()].sort(),
      ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"],
    );
    for (const [name, use] of Object.entries(SPECIAL)) {
      assert.ok(listed.get(name)!.includes(use), `${name}: ${listed.get(name)}`);
      assert.ok(listed.get(name)!.includes("\\HasNoChildren"), `${name}: ${listed.get(name)}`);
    }
    assert.ok(
      !listed.get("INBOX")!.some((a) => Object.values(SPECIAL).includes(a as never)),
      `INBOX: ${listed.get("INBOX")}`,
    );
  });

  await t.step("LIST (SPECIAL-USE) selects only the special-use mailboxes", () => {
    const listed = byName(untagged(r[3].wire));
    assert.deepEqual([...listed.keys()].sort(), Object.keys(SPECIAL).sort());
    for (const [name, use] of Object.entries(SPECIAL)) {
      assert.ok(listed.get(name)!.includes(use));
    }
  });

  await t.step("RETURN (SPECIAL-USE) lists every mailbox with the attributes", () => {
    const listed = byName(untagged(r[4].wire));
    assert.equal(listed.size, 6);
    assert.ok(listed.get("Junk")!.includes("\\Junk"));
  });

  await t.step('LIST "" "" gives the separator and the root', () => {
    assert.deepEqual(untagged(r[5].wire), ['* LIST (\\Noselect) "/" ""']);
  });

  await t.step("INBOX matches case-insensitively", () => {
    assert.deepEqual(untagged(r[6].wire).map((l) => parseListed(l).name), ["INBOX"]);
  });

  await t.step("RETURN (STATUS ...) adds a STATUS line after the LIST line", () => {
    const lines = untagged(r[8].wire);
    assert.equal(lines.length, 2, r[8].wire);
    assert.equal(parseListed(lines[0]).name, "INBOX");
    const size = note(1).length;
    assert.match(lines[1], new RegExp(`^\\* STATUS INBOX \\(MESSAGES 1 UNSEEN 1 SIZE ${size}\\)$`));
  });

  await t.step("several patterns in one LIST", () => {
    const names = untagged(r[9].wire).map((l) => parseListed(l).name).sort();
    assert.deepEqual(names, ["Drafts", "Sent"]);
  });
});

Deno.test("imaplib: CREATE, DELETE and RENAME with a hierarchy", async (t) => {
  await using imap = await startImapServer();

  await t.step("CREATE makes the parents; LIST shows \\HasChildren; % stops at /", async () => {
    const r = await imaplib([
      ...imapLogin(imap.imap),
      call("create", "Projects/2026/Q1"), // 2
      call("create", "Projects/2026/Q1"), // 3: exists
      call("list", '""', '"Projects/*"'), // 4
      call("list", '""', "%"), // 5
      call("list", "Projects", "%"), // 6: reference + pattern
      call("create", "Lists/"), // 7: a trailing separator
      call("create", '"My Folder"'), // 8
      call("create", "Entw&APw-rfe"), // 9: "Entwürfe" in modified UTF-7
      call("list", '""', "*"), // 10
      { op: "logout" },
    ]);
    assertOk(r[2]);
    assert.equal(r[3].typ, "NO", r[3].wire);
    const sub = byName(r[4].data!);
    assert.deepEqual([...sub.keys()].sort(), ["Projects/2026", "Projects/2026/Q1"]);
    assert.ok(sub.get("Projects/2026")!.includes("\\HasChildren"));
    assert.ok(sub.get("Projects/2026/Q1")!.includes("\\HasNoChildren"));
    const top = byName(r[5].data!);
    assert.ok(top.get("Projects")!.includes("\\HasChildren"), `${r[5].wire}`);
    assert.ok(!top.has("Projects/2026"), "% does not cross the separator");
    assert.deepEqual([...byName(r[6].data!).keys()], ["Projects/2026"]);
    for (const i of [7, 8, 9]) assertOk(r[i]);
    const all = byName(r[10].data!);
    assert.ok(all.has("Lists"), `a trailing / is dropped: ${[...all.keys()]}`);
    assert.ok(all.has("My Folder"), `${[...all.keys()]}`);
    assert.ok(all.has("Entw&APw-rfe"), `modified UTF-7 kept for IMAP4rev1: ${[...all.keys()]}`);
  });

  await t.step(
    "DELETE refuses INBOX, a missing mailbox and a parent; RENAME moves children",
    async () => {
      const r = await imaplib([
        ...imapLogin(imap.imap),
        call("append", "Projects/2026/Q1", null, null, bytesArg(note(1))), // 2
        call("delete", "INBOX"), // 3
        call("delete", "Nope"), // 4
        call("delete", "Projects"), // 5: has children
        call("rename", "Projects", "Work"), // 6
        call("list", '""', "*"), // 7
        call("status", "Work/2026/Q1", "(MESSAGES)"), // 8
        call("rename", "Work/2026/Q1", "Archive"), // 9: exists
        call("rename", "Nope", "Other"), // 10
        call("delete", "Work/2026/Q1"), // 11
        call("delete", "Work/2026"), // 12
        call("delete", "Work"), // 13
        call("list", '""', "Work*"), // 14
        call("select", "Work"), // 15
        { op: "logout" },
      ]);
      assertOk(r[2]);
      for (const i of [3, 4, 5]) assert.equal(r[i].typ, "NO", `step ${i}: ${r[i].wire}`);
      assertOk(r[6]);
      const names = [...byName(r[7].data!).keys()];
      assert.ok(names.includes("Work") && names.includes("Work/2026"), `${names}`);
      assert.ok(names.includes("Work/2026/Q1"), `${names}`);
      assert.ok(!names.some((n) => n.startsWith("Projects")), `${names}`);
      assertOk(r[8]);
      assert.equal(parseStatus(r[8].data![0]).MESSAGES, 1, "the message moved with its mailbox");
      assert.equal(r[9].typ, "NO", r[9].wire);
      assert.equal(r[10].typ, "NO", r[10].wire);
      for (const i of [11, 12, 13]) assertOk(r[i]);
      assert.deepEqual(r[14].data, [null], `nothing left: ${r[14].wire}`);
      assert.equal(r[15].typ, "NO", r[15].wire);
    },
  );

  await t.step(
    "RENAME INBOX: INBOX stays, empty; the messages move; uids are not reused",
    async () => {
      const r = await imaplib([
        ...imapLogin(imap.imap),
        call("append", "INBOX", null, null, bytesArg(note(10))), // 2
        call("append", "INBOX", null, null, bytesArg(note(11))), // 3
        call("rename", "INBOX", "Old-Inbox"), // 4
        call("list"), // 5
        call("status", "INBOX", "(MESSAGES UIDNEXT)"), // 6
        call("status", "Old-Inbox", "(MESSAGES)"), // 7
        call("select", "Old-Inbox"), // 8
        call("fetch", "1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])"), // 9
        call("append", "INBOX", null, null, bytesArg(note(12))), // 10
        { op: "logout" },
      ]);
      r.slice(0, 11).forEach((x) => assertOk(x));
      const names = [...byName(r[5].data!).keys()];
      assert.ok(names.includes("INBOX") && names.includes("Old-Inbox"), `${names}`);
      assert.equal(parseStatus(r[6].data![0]).MESSAGES, 0);
      assert.equal(parseStatus(r[6].data![0]).UIDNEXT, 3);
      assert.equal(parseStatus(r[7].data![0]).MESSAGES, 2);
      assert.match(r[9].wire, /Subject: note 10\r\n/);
      assert.match(r[9].wire, /Subject: note 11\r\n/);
      assert.match(r[10].wire, /OK \[APPENDUID \d+ 3\]/, "INBOX's next uid is 3, not 1 again");
    },
  );
});

Deno.test("imaplib: SUBSCRIBE, UNSUBSCRIBE and LSUB", async () => {
  await using imap = await startImapServer();
  const r = await imaplib([
    ...imapLogin(imap.imap),
    call("lsub"), // 2
    call("unsubscribe", "Junk"), // 3
    call("lsub"), // 4
    raw('LIST (SUBSCRIBED) "" "*"'), // 5
    call("create", "Lists/deno"), // 6
    call("unsubscribe", "Lists/deno"), // 7
    call("lsub", '""', "Lists/*"), // 8
    call("subscribe", "Junk"), // 9
    call("subscribe", "Lists/deno"), // 10
    call("lsub"), // 11
    { op: "logout" },
  ]);
  r.forEach((x) => assertOk(x));
  const all = ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"];
  assert.deepEqual([...byName(r[2].data!).keys()].sort(), all, "new mailboxes are subscribed");
  assert.deepEqual([...byName(r[4].data!).keys()].sort(), all.filter((n) => n !== "Junk"));
  const subscribed = byName(untagged(r[5].wire));
  assert.ok(!subscribed.has("Junk"), r[5].wire);
  for (const [name, attributes] of subscribed) {
    assert.ok(attributes.includes("\\Subscribed"), `${name}: ${attributes}`);
  }
  assert.deepEqual(r[8].data, [null], `no subscribed Lists/*: ${r[8].wire}`);
  const after = [...byName(r[11].data!).keys()].sort();
  assert.deepEqual(after, [...all, "Lists", "Lists/deno"].sort());
});

Deno.test("imaplib: STATUS, SELECT and EXAMINE", async (t) => {
  await using imap = await startImapServer();
  const messages = [note(1), note(2), note(3)];
  const r = await imaplib([
    ...imapLogin(imap.imap),
    call("create", "Reports"), // 2
    call("append", "Reports", "(\\Seen)", null, bytesArg(messages[0])), // 3
    call("append", "Reports", "($Work)", null, bytesArg(messages[1])), // 4
    call("append", "Reports", null, null, bytesArg(messages[2])), // 5
    call("status", "Reports", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ)"), // 6
    call("select", "Reports"), // 7
    call("status", "Reports", "(MESSAGES)"), // 8: STATUS of the selected mailbox
    call("select", "Reports", true), // 9: EXAMINE
    call("store", "1", "+FLAGS", "(\\Flagged)"), // 10
    call("fetch", "2", "(BODY[])"), // 11
    call("fetch", "2", "(FLAGS)"), // 12
    call("select", "Nope"), // 13
    raw("SELECT INBOX (BOGUS)"), // 14
    { op: "logout" },
  ]);
  for (const i of [2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 15]) assertOk(r[i], `step ${i}`);
  const status = parseStatus(r[6].data![0]);

  await t.step("STATUS: MESSAGES UIDNEXT UIDVALIDITY UNSEEN SIZE HIGHESTMODSEQ", () => {
    assert.equal(status.MESSAGES, 3);
    assert.equal(status.UIDNEXT, 4);
    assert.ok(status.UIDVALIDITY > 0, `${r[6].wire}`);
    assert.equal(status.UNSEEN, 2);
    assert.equal(status.SIZE, messages.reduce((n, m) => n + m.length, 0));
    assert.ok(status.HIGHESTMODSEQ > 0, `${r[6].wire}`);
  });

  await t.step(
    "SELECT: EXISTS, RECENT, FLAGS, UNSEEN, PERMANENTFLAGS, UIDVALIDITY, UIDNEXT, READ-WRITE",
    () => {
      assert.deepEqual(r[7].data, ["3"]);
      const lines = untagged(r[7].wire);
      assert.ok(lines.includes("* 3 EXISTS"), r[7].wire);
      // IMAP4rev1 (imaplib does not enable IMAP4rev2): the first session to select gets \Recent.
      assert.ok(lines.includes("* 3 RECENT"), r[7].wire);
      const flags = lines.find((l) => l.startsWith("* FLAGS "));
      assert.ok(flags, r[7].wire);
      for (const f of ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "$Work"]) {
        assert.ok(flags.includes(f), `FLAGS lacks ${f}: ${flags}`);
      }
      // RFC 3501 §6.3.1: message 1 is \Seen, so the first unseen is message 2.
      assert.ok(lines.some((l) => l.startsWith("* OK [UNSEEN 2]")), r[7].wire);
      const permanent = lines.find((l) => l.startsWith("* OK [PERMANENTFLAGS ("));
      assert.ok(permanent?.includes("\\*"), `keywords can be created: ${permanent}`);
      assert.ok(permanent?.includes("\\Seen"), `${permanent}`);
      assert.ok(lines.includes(`* OK [UIDVALIDITY ${status.UIDVALIDITY}] UIDs valid`), r[7].wire);
      assert.ok(lines.some((l) => l.startsWith("* OK [UIDNEXT 4]")), r[7].wire);
      assert.match(r[7].wire, /^\S+ OK \[READ-WRITE\] /m);
    },
  );

  await t.step("STATUS of the selected mailbox works", () => {
    assert.equal(parseStatus(r[8].data![0]).MESSAGES, 3);
  });

  await t.step("EXAMINE: READ-ONLY, no \\Recent left, no permanent flags", () => {
    assert.deepEqual(r[9].data, ["3"]);
    const lines = untagged(r[9].wire);
    assert.ok(lines.includes("* 0 RECENT"), r[9].wire);
    assert.ok(lines.some((l) => l.startsWith("* OK [PERMANENTFLAGS ()]")), r[9].wire);
    assert.match(r[9].wire, /^\S+ OK \[READ-ONLY\] /m);
  });

  await t.step("in EXAMINE, STORE is refused and BODY[] does not set \\Seen", () => {
    assert.equal(r[10].typ, "NO", r[10].wire);
    assert.match(r[11].wire, /BODY\[\] \{\d+\}\r\nFrom: /);
    assert.doesNotMatch(r[12].wire, /\\Seen/);
  });

  await t.step("SELECT of a missing mailbox: NO [NONEXISTENT]; bad parameters: BAD", () => {
    assert.equal(r[13].typ, "NO");
    assert.match(r[13].wire, /^\S+ NO \[NONEXISTENT\] /m);
    assert.equal(r[14].typ, "BAD", r[14].wire);
  });
});

// RENAME of a mailbox to a name under itself ("Work" to "Work/Sub") would leave "Work/Sub"
// with no "Work" above it; it is refused, as Dovecot does.
Deno.test({
  name: "imaplib: RENAME into its own child is refused",
  fn: async () => {
    await using imap = await startImapServer();
    const r = await imaplib([
      ...imapLogin(imap.imap),
      call("create", "Work/Deep"), // 2
      call("rename", "Work", "Work/Sub"), // 3
      call("list", '""', "%"), // 4
      { op: "logout" },
    ]);
    assertOk(r[2]);
    const top = [...byName(r[4].data!).keys()];
    assert.ok(
      r[3].typ === "NO" && top.includes("Work"),
      `RENAME answered ${r[3].typ}; LIST "" "%" gives ${top}`,
    );
  },
});

// RFC 9051 §2.3.1.1: a mailbox created again under a deleted one's name gets a new UIDVALIDITY,
// or a client that cached the old mailbox would take new messages for old ones.
Deno.test({
  name: "imaplib: a mailbox name used again gets a new UIDVALIDITY",
  fn: async () => {
    await using imap = await startImapServer();
    const r = await imaplib([
      ...imapLogin(imap.imap),
      call("create", "Again"), // 2
      call("status", "Again", "(UIDVALIDITY UIDNEXT)"), // 3
      call("delete", "Again"), // 4
      call("create", "Again"), // 5
      call("status", "Again", "(UIDVALIDITY UIDNEXT)"), // 6
      { op: "logout" },
    ]);
    r.forEach((x, i) => assertOk(x, `step ${i}`));
    assert.notEqual(
      parseStatus(r[3].data![0]).UIDVALIDITY,
      parseStatus(r[6].data![0]).UIDVALIDITY,
      `before: ${r[3].data![0]}; after: ${r[6].data![0]}`,
    );
  },
});
