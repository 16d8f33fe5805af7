import assert from "node:assert/strict";
import {
  folderFileName,
  folderLevels,
  maildirFileName,
  maildirFolderDir,
  maildirInfo,
  mboxFileName,
  parseMaildirName,
  parseUidlist,
  uidlistHeader,
  uidlistLine,
} from "./maildir.ts";

Deno.test("parseMaildirName() reads the flags of the :2, info suffix", async (t) => {
  const cases: [string, string, string[], string[]][] = [
    ["1700000000.M1P2Q3.host:2,S", "1700000000.M1P2Q3.host", ["\\Seen"], []],
    ["1700000000.M1P2Q3.host:2,DFRST", "1700000000.M1P2Q3.host", [
      "\\Draft",
      "\\Flagged",
      "\\Answered",
      "\\Seen",
      "\\Deleted",
    ], []],
    ["a:2,", "a", [], []],
    ["a:2,P", "a", [], []],
    ["a!2,FS", "a", ["\\Flagged", "\\Seen"], []],
    ["a,S=1234:2,Sab", "a,S=1234", ["\\Seen"], ["a", "b"]],
    ["a:2,baS", "a", ["\\Seen"], ["a", "b"]],
    ["1700000000.M1P2Q3.host", "1700000000.M1P2Q3.host", [], []],
    ["odd:1,S", "odd:1,S", [], []],
    ["a:b:2,R", "a:b", ["\\Answered"], []],
  ];
  for (const [name, unique, flags, letters] of cases) {
    await t.step(name, () => {
      const got = parseMaildirName(name);
      assert.equal(got.unique, unique);
      assert.deepEqual(got.flags, flags);
      assert.deepEqual(got.keywordLetters, letters);
    });
  }
});

Deno.test("maildirInfo() writes the flags as letters in ASCII order", () => {
  assert.equal(maildirInfo([]), ":2,");
  assert.equal(maildirInfo(["\\Seen", "\\Draft", "\\Answered"]), ":2,DRS");
  assert.equal(maildirInfo(["\\deleted", "\\FLAGGED"]), ":2,FT");
  assert.equal(maildirInfo(["\\Seen", "$Junk"], ["b", "a"]), ":2,Sab");
  for (const flags of [["\\Seen"], ["\\Draft", "\\Flagged", "\\Answered", "\\Seen", "\\Deleted"]]) {
    assert.deepEqual(parseMaildirName(`x${maildirInfo(flags)}`).flags.sort(), [...flags].sort());
  }
});

Deno.test("maildirFileName() is unique by mailbox and uid and carries size and flags", () => {
  const name = maildirFileName({
    internalDate: 1_700_000_000_999,
    uidvalidity: 42,
    uid: 7,
    size: 1234,
    flags: ["\\Seen", "\\Flagged"],
  });
  assert.equal(name, "1700000000.V42U7.postino,S=1234:2,FS");
  assert.ok(!name.includes("/"));
  assert.deepEqual(parseMaildirName(name).flags, ["\\Flagged", "\\Seen"]);
});

Deno.test("folder names: levels joined with '.', escaped so they read back", async (t) => {
  const cases: [string, string][] = [
    ["INBOX", "INBOX"],
    ["Work", "Work"],
    ["Work/Projects", "Work.Projects"],
    ["v1.2", "v1%2E2"],
    ["a/b.c/d", "a.b%2Ec.d"],
    ["R&D", "R%26D"],
    ["Grüße/Über", "Grüße.Über"],
    ["50% off", "50%25 off"],
    ["a:b", "a%3Ab"],
    ["~home", "%7Ehome"],
  ];
  for (const [mailbox, file] of cases) {
    await t.step(mailbox, () => {
      assert.equal(folderFileName(mailbox), file);
      assert.equal(maildirFolderDir(mailbox), `.${file}`);
      assert.equal(mboxFileName(mailbox), `${file}.mbox`);
      // Back: "%" cannot be in a stored name, so it reads back as "_".
      assert.equal(folderLevels(file).join("/"), mailbox.replace("%", "_"));
    });
  }
});

Deno.test("folderLevels() reads other programs' folder names", () => {
  // Python's mailbox.Maildir.add_folder("Work.Projects"), Courier and Dovecot Maildir++.
  assert.deepEqual(folderLevels("Work.Projects"), ["Work", "Projects"]);
  assert.deepEqual(folderLevels("INBOX.Sent"), ["INBOX", "Sent"]);
  // Empty levels go; characters a mailbox name cannot hold become "_".
  assert.deepEqual(folderLevels("a..b."), ["a", "b"]);
  assert.deepEqual(folderLevels("a*b"), ["a_b"]);
  assert.deepEqual(folderLevels("tab%09"), ["tab_"]);
  // Modified UTF-7 (Dovecot, Courier), when the decoder takes it.
  const mutf7 = (s: string) => s === "Gr&APwA3w-e" ? "Grüße" : undefined;
  assert.deepEqual(folderLevels("Gr&APwA3w-e.x", mutf7), ["Grüße", "x"]);
  assert.deepEqual(folderLevels("R&D", mutf7), ["R&D"]);
});

Deno.test("dovecot-uidlist: written lines read back, Dovecot's versions 1 and 3 read", () => {
  const name = "1700000000.V42U7.postino,S=1234:2,FS";
  const text = uidlistHeader(42, 8) + uidlistLine(7, name) + uidlistLine(3, "b:2,") + "junk\n";
  assert.equal(text, "3 V42 N8\n7 :1700000000.V42U7.postino,S=1234\n3 :b\njunk\n");
  assert.deepEqual([...parseUidlist(text)], [["1700000000.V42U7.postino,S=1234", 7], ["b", 3]]);
  const v3 = "3 V1275660208 N3 G4a8fa8a5d5b2c24c9b7e0000b6b4d9ab\n" +
    "1 W2181 S2147 :1275660208.M12P34.host,S=2147,W=2181\n2 :1275660210.M5P6.host\n";
  assert.deepEqual([...parseUidlist(v3)], [
    ["1275660208.M12P34.host,S=2147,W=2181", 1],
    ["1275660210.M5P6.host", 2],
  ]);
  const v1 = "1 1275660208 3\n1 1275660208.M12P34.host\n2 1275660210.M5P6.host\n";
  assert.deepEqual([...parseUidlist(v1).values()], [1, 2]);
});
