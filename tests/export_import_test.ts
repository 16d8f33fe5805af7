/**
 * `postino export` then `postino import`, mbox and Maildir: every message
 * comes back byte for byte with its flags, keywords and internal date
 * (checked over IMAP with imaplib), folders keep their hierarchy, and
 * Python's `mailbox` module reads the exports and finds the same messages
 * and flags.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startImapServer, USERS } from "./support/imap_fixture.ts";
import {
  addUser,
  bigMail,
  cli,
  type Dumped,
  type Filled,
  imapDump,
  imapFill,
  latin1,
  latin1Bytes,
  mail,
  mailboxTool,
  unb64,
} from "./support/transfer_fixture.ts";

const T0 = Date.UTC(2025, 0, 15, 8, 30, 0) / 1000;

/** Alice's mail: hierarchy, a dot in a name, non-ASCII, 8-bit, From lines, every flag. */
function aliceMail(): Record<string, Filled[]> {
  return {
    INBOX: [
      { bytes: mail("plain", "Hello.\n"), flags: ["\\Seen"], date: T0 },
      {
        bytes: mail(
          "from lines",
          "From the start of a line\n>From already quoted\n>>From twice\nFrom\nend\n",
        ),
        flags: ["\\Answered", "\\Flagged"],
        date: T0 + 60,
      },
      {
        bytes: latin1Bytes(
          "From: =?utf-8?q?J=C3=BCrgen?= <j@remote.example>\r\nSubject: 8-bit\r\n" +
            "Message-ID: <8bit@remote.example>\r\nContent-Type: text/plain; charset=utf-8\r\n" +
            "Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe, caf\xc3\xa9 \xe9\xff\r\n",
        ),
        flags: [],
        date: T0 + 120,
      },
      {
        bytes: latin1Bytes("Subject: headers only\r\nMessage-ID: <h@remote.example>\r\n"),
        flags: ["\\Draft", "\\Seen"],
        date: T0 + 180,
      },
      { bytes: mail("empty body", ""), flags: ["\\Deleted"], date: T0 + 240 },
      {
        bytes: mail("keywords", "Tagged.\n"),
        flags: ["$Forwarded", "work", "\\Seen"],
        date: T0 + 300,
      },
      {
        bytes: mail("x-mailer", "One more field.\n", { "X-Mailer": "old" }),
        flags: ["\\Flagged"],
        date: T0 + 360,
      },
    ],
    Work: [{ bytes: mail("work", "Work.\n"), flags: ["\\Seen"], date: T0 - 86400 }],
    "Work/Projects": [
      { bytes: mail("project a", "A.\n"), flags: [], date: T0 - 3600 },
      { bytes: mail("project b", "B.\n.\n..dots\n"), flags: ["\\Seen", "work"], date: T0 - 7200 },
    ],
    "v1.2": [{ bytes: mail("dotted mailbox", "In v1.2.\n"), flags: [], date: T0 + 1 }],
    // Modified UTF-7 of "Grüße" (imaplib speaks IMAP4rev1).
    "Gr&APwA3w-e": [{ bytes: mail("umlaut mailbox", "Hi.\n"), flags: [], date: T0 + 2 }],
    Archive: [{ bytes: bigMail("one MiB", 1024 * 1024), flags: ["\\Seen"], date: T0 - 1 }],
    Empty: [],
  };
}

/** The dump without uids (they are the store's, not the message's). */
function content(dump: Record<string, Dumped[]>): Record<string, Omit<Dumped, "uid">[]> {
  return Object.fromEntries(
    Object.entries(dump).map(([name, list]) => [
      name,
      list.map(({ flags, date, b64 }) => ({ flags, date, b64 })),
    ]),
  );
}

/** Asserts that two users' mailboxes hold the same messages, flags and dates, in the same order. */
function assertSameMail(got: Record<string, Dumped[]>, want: Record<string, Dumped[]>) {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), "mailboxes");
  const g = content(got);
  const w = content(want);
  for (const name of Object.keys(w)) {
    assert.equal(g[name].length, w[name].length, `${name}: messages`);
    g[name].forEach((m, i) => {
      const what = `${name} message ${i + 1}`;
      assert.equal(m.b64, w[name][i].b64, `${what}: BODY[] byte for byte`);
      assert.deepEqual(m.flags, w[name][i].flags, `${what}: FLAGS`);
      assert.equal(m.date, w[name][i].date, `${what}: INTERNALDATE`);
    });
  }
}

Deno.test({
  name: "export then import, mbox and Maildir, gives back every message, flag and date",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await using s = await startImapServer({ users: ["alice"] });
    const { server, imap } = s;
    const alice = USERS.alice;
    await imapFill(imap, alice.address, alice.password, aliceMail());
    const before = await imapDump(imap, alice.address, alice.password);
    assert.equal(before["Work/Projects"].length, 2);
    assert.ok(before.INBOX[5].flags.includes("work"), JSON.stringify(before.INBOX[5].flags));
    const out = await Deno.makeTempDir({ prefix: "postino-export-test-" });
    try {
      await t.step("mbox: a directory of NAME.mbox files, imported into another user", async () => {
        const dir = join(out, "mbox");
        const r = await cli(server, ["export", alice.address, dir]);
        assert.match(r.stdout, /Exported 13 messages .* from 11 mailboxes/);
        const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
        assert.deepEqual(files, [
          "Archive.mbox",
          "Drafts.mbox",
          "Empty.mbox",
          "Grüße.mbox",
          "INBOX.mbox",
          "Junk.mbox",
          "Sent.mbox",
          "Trash.mbox",
          "Work.Projects.mbox",
          "Work.mbox",
          "v1%2E2.mbox",
        ]);
        await addUser(server, "mbox@localhost", "mbox-secret");
        const imported = await cli(server, ["import", "mbox@localhost", dir]);
        assert.match(imported.stdout, /Imported 13 messages .*0 duplicates skipped, 0 broken/);
        assertSameMail(await imapDump(imap, "mbox@localhost", "mbox-secret"), before);
      });

      await t.step("Maildir: one Maildir++ tree, imported into another user", async () => {
        const dir = join(out, "maildir");
        await cli(server, ["export", alice.address, dir, "--format", "maildir"]);
        const folders = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
        assert.deepEqual(folders, [
          ".Archive",
          ".Drafts",
          ".Empty",
          ".Grüße",
          ".Junk",
          ".Sent",
          ".Trash",
          ".Work",
          ".Work.Projects",
          ".v1%2E2",
          "cur",
          "dovecot-keywords",
          "dovecot-uidlist",
          "new",
          "tmp",
        ]);
        await addUser(server, "maildir@localhost", "maildir-secret");
        const imported = await cli(server, ["import", "maildir@localhost", dir]);
        assert.match(imported.stdout, /Imported 13 messages .*from a Maildir with 10 folders/);
        assertSameMail(await imapDump(imap, "maildir@localhost", "maildir-secret"), before);
      });

      await t.step("one mailbox with --mailbox, both formats, into another mailbox", async () => {
        const file = join(out, "projects.mbox");
        await cli(server, ["export", alice.address, file, "--mailbox", "Work/Projects"]);
        const dir = join(out, "projects.maildir");
        await cli(server, [
          "export",
          alice.address,
          dir,
          "--mailbox",
          "Work/Projects",
          "--format",
          "maildir",
        ]);
        await addUser(server, "one@localhost", "one-secret");
        await cli(server, ["import", "one@localhost", file, "--mailbox", "Old/From mbox"]);
        await cli(server, ["import", "one@localhost", dir, "--mailbox", "Old/From Maildir"]);
        const got = await imapDump(imap, "one@localhost", "one-secret");
        assert.ok("Old" in got, "the parent is created");
        assertSameMail(
          { a: got["Old/From mbox"], b: got["Old/From Maildir"] },
          { a: before["Work/Projects"], b: before["Work/Projects"] },
        );
      });

      await t.step("Python's mailbox reads the mbox export: same messages and flags", async () => {
        for (
          const [name, file] of [["INBOX", "INBOX.mbox"], ["Work/Projects", "Work.Projects.mbox"]]
        ) {
          const { messages } = await mailboxTool<{
            messages: { from_line: string; flags: string; b64: string }[];
          }>({ op: "read_mbox", path: join(out, "mbox", file) });
          const want = before[name];
          assert.equal(messages.length, want.length, name);
          messages.forEach((m, i) => {
            const what = `${name} message ${i + 1}`;
            const flags = want[i].flags;
            // mbox letters: R read, F flagged, A answered, D deleted (Python's mboxMessage).
            assert.equal(m.flags.includes("R"), flags.includes("\\Seen"), `${what}: R`);
            assert.equal(m.flags.includes("F"), flags.includes("\\Flagged"), `${what}: F`);
            assert.equal(m.flags.includes("A"), flags.includes("\\Answered"), `${what}: A`);
            assert.equal(m.flags.includes("D"), flags.includes("\\Deleted"), `${what}: D`);
            // "From SENDER asctime-date", the internal date in UTC.
            const date = new Date(want[i].date * 1000);
            assert.match(m.from_line, /^MAILER-DAEMON \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
            assert.equal(Date.parse(`${m.from_line.slice(14)} UTC`), date.getTime(), what);
            // What Python sees is the message with LF line ends, its From lines quoted, and our
            // Status/X-Status/X-Keywords fields in its header.
            const seen = latin1(unb64(m.b64))
              .replace(/^(?:Status|X-Status|X-Keywords): [^\n]*\n/gm, "")
              .replace(/^>(>*From )/gm, "$1")
              .replace(/\n/g, "\r\n");
            assert.equal(seen, latin1(unb64(want[i].b64)), `${what}: the message`);
          });
        }
      });

      await t.step("Python's mailbox reads the Maildir export: folders, flags, dates", async () => {
        const { folders } = await mailboxTool<{
          folders: Record<string, { flags: string; date: number; subdir: string; b64: string }[]>;
        }>({ op: "read_maildir", path: join(out, "maildir") });
        const names: Record<string, string> = {
          "": "INBOX",
          "Work": "Work",
          "Work.Projects": "Work/Projects",
          "v1%2E2": "v1.2",
          "Grüße": "Gr&APwA3w-e",
          "Archive": "Archive",
          "Empty": "Empty",
          "Drafts": "Drafts",
          "Sent": "Sent",
          "Junk": "Junk",
          "Trash": "Trash",
        };
        assert.deepEqual(Object.keys(folders).sort(), Object.keys(names).sort());
        const letter: Record<string, string> = {
          "\\Draft": "D",
          "\\Flagged": "F",
          "\\Answered": "R",
          "\\Seen": "S",
          "\\Deleted": "T",
        };
        for (const [folder, mailbox] of Object.entries(names)) {
          // Python lists a Maildir in no particular order: match by the message bytes.
          const got = [...folders[folder]].sort((a, b) => a.b64 < b.b64 ? -1 : 1);
          const want = [...before[mailbox]].sort((a, b) => a.b64 < b.b64 ? -1 : 1);
          assert.equal(got.length, want.length, folder);
          got.forEach((m, i) => {
            assert.equal(m.b64, want[i].b64, `${folder}: bytes as stored`);
            const letters = want[i].flags.map((f) => letter[f] ?? "").join("").split("").sort();
            // Keywords are Dovecot's lowercase letters after the flags.
            assert.equal(m.flags.replace(/[a-z]/g, ""), letters.join(""), `${folder}: flags`);
            assert.equal(Math.round(m.date), want[i].date, `${folder}: mtime is the internal date`);
            assert.equal(m.subdir, "cur");
          });
        }
      });
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "export refuses what it must not overwrite and says what is unknown",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using s = await startImapServer({ users: ["alice"] });
    const { server } = s;
    const out = await Deno.makeTempDir({ prefix: "postino-export-test-" });
    try {
      const a = USERS.alice.address;
      await Deno.writeTextFile(join(out, "full.mbox"), "x");
      Deno.mkdirSync(join(out, "full"));
      await Deno.writeTextFile(join(out, "full", "f"), "x");
      const cases: [string[], number, RegExp][] = [
        [["export", a, join(out, "full.mbox"), "--mailbox", "INBOX"], 1, /exists and is not empty/],
        [["export", a, join(out, "full")], 1, /exists and is not empty/],
        [["export", a, join(out, "full"), "--format", "maildir"], 1, /not empty/],
        [["export", "nobody@localhost", join(out, "x")], 1, /nobody@localhost does not exist/],
        [["export", a, join(out, "x"), "--mailbox", "Nope"], 1, /has no mailbox Nope/],
        [["export", a, join(out, "x"), "--format", "mh"], 2, /--format must be mbox or maildir/],
        [["export", a], 2, /Missing argument/],
        [["import", a, join(out, "missing")], 1, /does not exist/],
        [["import", a, join(out, "full", "f")], 1, /Cannot tell the format/],
        [["import", a, join(out, "full"), "--format", "maildir"], 1, /is not a Maildir/],
        [["import", "nobody@localhost", join(out, "full.mbox")], 1, /does not exist/],
      ];
      for (const [args, code, message] of cases) {
        const r = await cli(server, args, { code });
        assert.match(r.stderr, message, args.join(" "));
        assert.doesNotMatch(r.stderr, /Unexpected error|\bat .*\.ts:\d+/, "no stack trace");
      }
      // An empty file or directory may be written into.
      await Deno.writeTextFile(join(out, "empty.mbox"), "");
      Deno.mkdirSync(join(out, "empty"));
      await cli(server, ["export", a, join(out, "empty.mbox"), "--mailbox", "inbox"]);
      await cli(server, ["export", a, join(out, "empty")]);
      assert.ok(Deno.statSync(join(out, "empty", "INBOX.mbox")).isFile);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
