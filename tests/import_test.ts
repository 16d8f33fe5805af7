/**
 * `postino import` of what other programs write: an mbox and a Maildir tree
 * made by Python's `mailbox` module (From lines in bodies, an empty message,
 * 8-bit content, a 10 MiB message, flags, folders), checked over IMAP with
 * imaplib; importing the same source again adds nothing; broken messages in
 * the middle are reported with their position and skipped.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startImapServer, USERS } from "./support/imap_fixture.ts";
import {
  b64,
  bigMail,
  cli,
  crlf,
  type Dumped,
  imapDump,
  latin1,
  latin1Bytes,
  lf,
  mail,
  mailboxTool,
  unb64,
} from "./support/transfer_fixture.ts";

const T0 = Date.UTC(2024, 5, 1, 12, 0, 0) / 1000;
const MiB = 1024 * 1024;

/** What a test expects of an imported message. */
interface Want {
  bytes: Uint8Array;
  flags: string[];
  date?: number;
}

function assertMailbox(got: Dumped[] | undefined, want: Want[], name: string) {
  assert.ok(got, `mailbox ${name} exists`);
  assert.equal(got.length, want.length, `${name}: messages`);
  got.forEach((m, i) => {
    const what = `${name} message ${i + 1}`;
    const bytes = unb64(m.b64);
    if (m.b64 !== b64(want[i].bytes)) {
      assert.equal(latin1(bytes).slice(0, 2000), latin1(want[i].bytes).slice(0, 2000), what);
      assert.equal(bytes.length, want[i].bytes.length, `${what}: size`);
      assert.fail(`${what}: the bytes differ`);
    }
    assert.deepEqual(m.flags, [...want[i].flags].sort(), `${what}: flags`);
    if (want[i].date !== undefined) assert.equal(m.date, want[i].date, `${what}: internal date`);
  });
}

const EIGHT_BIT = latin1Bytes(
  "Subject: 8-bit\r\nMessage-ID: <8bit@remote.example>\r\n" +
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
    "Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln, \xe9\xff (Latin-1 too)\r\n",
);

Deno.test({
  name: "an mbox and a Maildir tree written by Python's mailbox module import correctly, once",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await using s = await startImapServer({ users: ["alice", "bob"] });
    const { server, imap } = s;
    const dir = await Deno.makeTempDir({ prefix: "postino-import-test-" });
    const big = bigMail("ten MiB", 10 * MiB);
    try {
      const fromLines = mail("from lines", "From the start of a line\nFrom\nin the middle\n");
      const mboxPath = join(dir, "python.mbox");
      await t.step("Python's mailbox.mbox", async () => {
        await mailboxTool({
          op: "write_mbox",
          path: mboxPath,
          messages: [
            { b64: b64(lf(fromLines)), sender: "a@remote.example", date: T0, flags: "RF" },
            { b64: "", sender: "MAILER-DAEMON", date: T0 + 60 },
            { b64: b64(lf(EIGHT_BIT)), sender: "j@remote.example", date: T0 + 120, flags: "A" },
            { b64: b64(lf(big)), sender: "big@remote.example", date: T0 + 180, flags: "RD" },
          ],
        });
        const r = await cli(server, ["import", USERS.alice.address, mboxPath]);
        assert.match(r.stdout, /^Imported 4 messages \(10\.0 MiB\) from an mbox file into alice@/);
        assert.match(r.stdout, /0 duplicates skipped, 0 broken skipped/);
        const got = await imapDump(imap, USERS.alice.address, USERS.alice.password);
        assertMailbox(got.INBOX, [
          // Python quotes the body's From lines (mboxo); they come back unquoted.
          { bytes: fromLines, flags: ["\\Seen", "\\Flagged"], date: T0 },
          // Python writes an empty message as one empty line.
          { bytes: latin1Bytes("\r\n"), flags: [], date: T0 + 60 },
          { bytes: EIGHT_BIT, flags: ["\\Answered"], date: T0 + 120 },
          { bytes: big, flags: ["\\Seen", "\\Deleted"], date: T0 + 180 },
        ], "INBOX");
      });

      const maildirPath = join(dir, "python.maildir");
      const quoted = mail("quoted", ">From stays quoted in a Maildir\nFrom too\n");
      const work = mail("work", "W\n");
      const projects = mail("projects", "P\n");
      const deep = mail("deep", "D\n");
      await t.step("Python's mailbox.Maildir with folders", async () => {
        await mailboxTool({
          op: "write_maildir",
          path: maildirPath,
          folders: {
            "": [
              { b64: b64(lf(quoted)), flags: "FS", date: T0 + 1 },
              { b64: "", flags: "", date: T0 + 2, subdir: "new" },
              { b64: b64(lf(EIGHT_BIT)), flags: "R", date: T0 + 3 },
              { b64: b64(lf(big)), flags: "ST", date: T0 + 4 },
            ],
            "Work": [{ b64: b64(lf(work)), flags: "D", date: T0 + 5 }],
            // Maildir++: the folder Projects below Work.
            "Work.Projects": [{ b64: b64(lf(projects)), flags: "", date: T0 + 6 }],
          },
        });
        // Python's own nesting: a folder inside a folder's directory (.Work/.Deep).
        const deepDir = join(maildirPath, ".Work", ".Deep");
        for (const sub of ["cur", "new", "tmp"]) {
          Deno.mkdirSync(join(deepDir, sub), { recursive: true });
        }
        Deno.writeFileSync(join(deepDir, "cur", "1.deep:2,S"), lf(deep));
        Deno.utimeSync(join(deepDir, "cur", "1.deep:2,S"), T0 + 7, T0 + 7);

        const r = await cli(server, ["import", USERS.bob.address, maildirPath]);
        assert.match(r.stdout, /^Imported 7 messages .* from a Maildir with 3 folders into bob@/);
        const got = await imapDump(imap, USERS.bob.address, USERS.bob.password);
        assertMailbox(got.INBOX, [
          { bytes: quoted, flags: ["\\Flagged", "\\Seen"], date: T0 + 1 },
          { bytes: latin1Bytes("\r\n"), flags: [], date: T0 + 2 },
          { bytes: EIGHT_BIT, flags: ["\\Answered"], date: T0 + 3 },
          { bytes: big, flags: ["\\Seen", "\\Deleted"], date: T0 + 4 },
        ], "INBOX");
        assertMailbox(got.Work, [{ bytes: work, flags: ["\\Draft"], date: T0 + 5 }], "Work");
        assertMailbox(got["Work/Projects"], [{ bytes: projects, flags: [], date: T0 + 6 }], "P");
        assertMailbox(got["Work/Deep"], [{ bytes: deep, flags: ["\\Seen"], date: T0 + 7 }], "D");
      });

      await t.step("importing the same sources again adds nothing", async () => {
        const aliceBefore = await imapDump(imap, USERS.alice.address, USERS.alice.password);
        const bobBefore = await imapDump(imap, USERS.bob.address, USERS.bob.password);
        const a = await cli(server, ["import", USERS.alice.address, mboxPath]);
        assert.match(a.stdout, /^Imported 0 messages .*; 4 duplicates skipped, 0 broken skipped/);
        const b = await cli(server, [
          "import",
          USERS.bob.address,
          maildirPath,
          "--format",
          "maildir",
        ]);
        assert.match(b.stdout, /^Imported 0 messages .*; 7 duplicates skipped, 0 broken skipped/);
        assert.deepEqual(
          await imapDump(imap, USERS.alice.address, USERS.alice.password),
          aliceBefore,
        );
        assert.deepEqual(await imapDump(imap, USERS.bob.address, USERS.bob.password), bobBefore);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

/** An mbox entry: a From line and the message with its lines as given. */
function entry(fromLine: string, message: string, eol: string): string {
  return `${fromLine}${eol}${message.replace(/\r?\n/g, eol)}${eol}`;
}

Deno.test({
  name: "broken messages in the middle are reported with their position and skipped",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    await using s = await startImapServer({ users: ["alice", "bob"] });
    const { server, imap } = s;
    const dir = await Deno.makeTempDir({ prefix: "postino-import-test-" });
    try {
      await t.step("mbox (CRLF line ends): byte offsets and message numbers", async () => {
        const good = [1, 2, 3].map((n) => latin1(mail(`good ${n}`, `Message ${n}.\n`)));
        const from = (n: number) => `From sender@remote.example Mon Jun  3 10:00:0${n} 2024`;
        const parts = [
          entry(from(1), good[0], "\r\n"),
          entry(from(2), "This is not a message:\nno header, no empty line after one.\n", "\r\n"),
          entry(from(3), "\0".repeat(3000), "\r\n"),
          entry(from(4), good[1], "\r\n"),
          entry(from(5), latin1(bigMail("too large", 2 * MiB)), "\r\n"),
          entry(from(6), good[2], "\r\n"),
        ];
        const offsets = parts.map((_, i) => parts.slice(0, i).join("").length);
        const path = join(dir, "broken.mbox");
        Deno.writeFileSync(path, latin1Bytes(parts.join("")));
        const r = await cli(server, ["import", USERS.alice.address, path], {
          env: { POSTINO_MAX_MESSAGE_SIZE: "1M" },
        });
        assert.match(r.stdout, /^Imported 3 messages .*; 0 duplicates skipped, 3 broken skipped/);
        const lines = r.stderr.trim().split("\n");
        assert.equal(lines.length, 3, r.stderr);
        assert.match(
          lines[0],
          new RegExp(`broken\\.mbox message 2 \\(byte ${offsets[1]}\\): line 1`),
        );
        assert.match(
          lines[1],
          new RegExp(`broken\\.mbox message 3 \\(byte ${offsets[2]}\\): a NUL`),
        );
        assert.match(
          lines[2],
          new RegExp(`broken\\.mbox message 5 \\(byte ${offsets[4]}\\): it is too large`),
        );
        const got = await imapDump(imap, USERS.alice.address, USERS.alice.password);
        assert.deepEqual(
          got.INBOX.map((m) => latin1(unb64(m.b64))),
          good.map((g) => latin1(crlf(latin1Bytes(g)))),
        );
        // The dates of their From lines.
        assert.deepEqual(
          got.INBOX.map((m) => m.date),
          [1, 4, 6].map((n) => Date.UTC(2024, 5, 3, 10, 0, n) / 1000),
        );
      });

      await t.step("Maildir: the file name", async () => {
        const md = join(dir, "broken.maildir");
        for (const sub of ["cur", "new", "tmp"]) Deno.mkdirSync(join(md, sub), { recursive: true });
        const files: [string, Uint8Array, number][] = [
          ["1.a:2,S", mail("first", "1\n"), T0 + 1],
          ["2.b:2,S", latin1Bytes("garbage without any header\n"), T0 + 2],
          ["3.c:2,", mail("third", "3\n"), T0 + 3],
        ];
        for (const [name, bytes, date] of files) {
          Deno.writeFileSync(join(md, "cur", name), bytes);
          Deno.utimeSync(join(md, "cur", name), date, date);
        }
        const r = await cli(server, ["import", USERS.bob.address, md]);
        assert.match(r.stdout, /^Imported 2 messages .*1 broken skipped/);
        assert.match(r.stderr, /skipped cur\/2\.b:2,S: line 1 is neither a header field/);
        const got = await imapDump(imap, USERS.bob.address, USERS.bob.password);
        assert.equal(got.INBOX.length, 2);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
