import assert from "node:assert/strict";
import { mboxFromLine, mboxrdEntry } from "./mbox.ts";

/** Bytes from a string of code points 0-255, one byte each (so 8-bit bytes are easy to write). */
function bytes(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => {
    const code = c.charCodeAt(0);
    assert.ok(code < 256, `one byte: ${JSON.stringify(c)}`);
    return code;
  });
}

/** The inverse of {@link bytes}: every byte as one code point (TextDecoder's "latin1" is windows-1252). */
function latin1(b: Uint8Array): string {
  return Array.from(b, (byte) => String.fromCharCode(byte)).join("");
}

const DATE = new Date("2026-12-03T09:05:57Z");
const FROM_LINE = "From alice@example.com Thu Dec  3 09:05:57 2026\n";

// mboxFromLine()

const FROM_LINES: { name: string; sender: string; date: Date; line: string }[] = [
  {
    name: "pads a one-digit day with a space",
    sender: "alice@example.com",
    date: DATE,
    line: FROM_LINE,
  },
  {
    name: "writes a two-digit day as is",
    sender: "bob@example.org",
    date: new Date("2026-12-12T23:59:59Z"),
    line: "From bob@example.org Sat Dec 12 23:59:59 2026\n",
  },
  {
    name: "writes the time in UTC",
    sender: "alice@example.com",
    date: new Date("2027-01-01T01:00:00+01:00"),
    line: "From alice@example.com Fri Jan  1 00:00:00 2027\n",
  },
  {
    name: "writes MAILER-DAEMON for the null sender",
    sender: "",
    date: new Date("2024-02-29T12:00:00Z"),
    line: "From MAILER-DAEMON Thu Feb 29 12:00:00 2024\n",
  },
  {
    name: "replaces whitespace in a quoted local part",
    sender: '"john doe"@example.com',
    date: DATE,
    line: 'From "john_doe"@example.com Thu Dec  3 09:05:57 2026\n',
  },
  {
    name: "replaces line breaks, tabs and control characters",
    sender: '"a\r\nb\tc\u0000d"@example.com',
    date: DATE,
    line: 'From "a__b_c_d"@example.com Thu Dec  3 09:05:57 2026\n',
  },
  {
    name: "keeps a UTF-8 address",
    sender: "jörg@bücher.example",
    date: DATE,
    line: "From jörg@bücher.example Thu Dec  3 09:05:57 2026\n",
  },
];

for (const { name, sender, date, line } of FROM_LINES) {
  Deno.test(`mboxFromLine() ${name}`, () => {
    assert.equal(mboxFromLine(sender, date), line);
  });
}

Deno.test("mboxFromLine() refuses an invalid date", () => {
  assert.throws(() => mboxFromLine("a@b", new Date(NaN)), RangeError);
});

// mboxrdEntry()

/** Messages (as byte strings) and what the entry holds between its From line and its final empty line. */
const ENTRIES: { name: string; message: string; body: string }[] = [
  { name: "turns CRLF into LF", message: "A: 1\r\n\r\nbody\r\n", body: "A: 1\n\nbody\n" },
  { name: "keeps LF line ends", message: "A: 1\n\nbody\n", body: "A: 1\n\nbody\n" },
  { name: "normalises mixed line ends", message: "A: 1\r\n\nx\ny\r\n", body: "A: 1\n\nx\ny\n" },
  { name: "keeps a bare CR", message: "A: 1\r\n\r\na\rb\r\n", body: "A: 1\n\na\rb\n" },
  { name: "ends a last line without newline", message: "A: 1\r\n\r\nend", body: "A: 1\n\nend\n" },
  {
    name: "keeps trailing empty lines",
    message: "A: 1\r\n\r\nx\r\n\r\n\r\n",
    body: "A: 1\n\nx\n\n\n",
  },
  { name: "writes no line for an empty message", message: "", body: "" },
  { name: "writes one empty line for a lone newline", message: "\r\n", body: "\n" },
  { name: "quotes From at depth 0", message: "\r\nFrom here\r\n", body: "\n>From here\n" },
  { name: "quotes From at depth 1", message: "\r\n>From here\r\n", body: "\n>>From here\n" },
  { name: "quotes From at depth 3", message: "\r\n>>>From here\r\n", body: "\n>>>>From here\n" },
  { name: "quotes a From line first in the message", message: "From x\r\n", body: ">From x\n" },
  {
    name: "quotes a last From line without newline",
    message: "a\r\n>From x",
    body: "a\n>>From x\n",
  },
  { name: "quotes an empty From line", message: "From \r\n", body: ">From \n" },
  {
    name: "leaves From not at the start of a line",
    message: "\r\nsaid From here\r\n From x\r\n> From y\r\n>x>From z\r\n",
    body: "\nsaid From here\n From x\n> From y\n>x>From z\n",
  },
  {
    name: "leaves lines that are not From-space",
    message: "From: a@b\r\n\r\nFrom\r\n>From\r\nfrom x\r\nFROM x\r\nFrom\tx\r\nFro\r\n",
    body: "From: a@b\n\nFrom\n>From\nfrom x\nFROM x\nFrom\tx\nFro\n",
  },
  {
    name: "keeps 8-bit bytes",
    message: "Subject: caf\xe9\r\n\r\n\xff\xfe\x80\r\nFrom \xe9t\xe9\r\n\xc3\xa9\r\n",
    body: "Subject: caf\xe9\n\n\xff\xfe\x80\n>From \xe9t\xe9\n\xc3\xa9\n",
  },
];

for (const { name, message, body } of ENTRIES) {
  Deno.test(`mboxrdEntry() ${name}`, () => {
    const entry = mboxrdEntry(bytes(message), "alice@example.com", DATE);
    assert.equal(latin1(entry), `${FROM_LINE}${body}\n`);
  });
}

Deno.test("mboxrdEntry() does not change its input", () => {
  const message = bytes("From x\r\n");
  mboxrdEntry(message, "", DATE);
  assert.deepEqual(message, bytes("From x\r\n"));
});

// The oracle: Python's mailbox.mbox reads a file of our entries. It reads mboxo, which takes
// no ">" away, so each body it gives back is our quoted text; one level of unquoting (the
// mboxrd reader's job) must then give the message back with LF line ends.

const READ_MBOX = `
import base64, calendar, json, mailbox, sys, time
box = mailbox.mbox(sys.argv[1], create=False)
out = []
for key in box.keys():
    raw = box.get_bytes(key, from_=True)
    first, _, body = raw.partition(b"\\n")
    sender, date = first.decode("utf-8")[len("From "):].split(" ", 1)
    out.append({
        "fromLine": first.decode("utf-8"),
        "getFrom": box.get_message(key).get_from(),
        "sender": sender,
        "time": calendar.timegm(time.strptime(date, "%a %b %d %H:%M:%S %Y")),
        "body": base64.b64encode(body).decode("ascii"),
    })
print(json.dumps(out))
`;

interface PythonEntry {
  fromLine: string;
  getFrom: string;
  sender: string;
  time: number;
  body: string;
}

/** What Python's mailbox.mbox finds in the file `path`. */
async function pythonRead(path: string): Promise<PythonEntry[]> {
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args: ["-c", READ_MBOX, path],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, `python3 could not read the mbox: ${new TextDecoder().decode(stderr)}`);
  return JSON.parse(new TextDecoder().decode(stdout));
}

/** What an mboxrd reader does to a body: one ">" less on each quoted From line. */
function unquote(body: string): string {
  return body.replace(/^>(>*From )/gm, "$1");
}

Deno.test("mboxrdEntry() writes entries that Python's mailbox.mbox reads back", async () => {
  const messages: { message: string; sender: string; date: Date }[] = [
    {
      message: "From: Alice <alice@example.com>\r\nSubject: one\r\n\r\n" +
        "From the start\r\n>From quoted\r\n>>From twice\r\nnot From here\r\n",
      sender: "alice@example.com",
      date: DATE,
    },
    { message: "", sender: "", date: new Date("2024-02-29T12:00:00Z") },
    {
      message: "Subject: caf\xe9\n\n\xff\xfe 8-bit\nFrom \xe9t\xe9\nno final newline",
      sender: '"john doe"@example.com',
      date: new Date("2026-12-12T23:59:59Z"),
    },
    {
      message: "Subject: blank lines\r\n\r\nx\r\n\r\n\r\nFrom y\r\n\r\n",
      sender: "bob@example.org",
      date: new Date("2027-01-01T00:00:00Z"),
    },
  ];
  const entries = messages.map((m) => mboxrdEntry(bytes(m.message), m.sender, m.date));
  const path = await Deno.makeTempFile({ prefix: "postino-mbox-", suffix: ".mbox" });
  try {
    await Deno.writeFile(path, new Uint8Array(entries.flatMap((e) => [...e])));
    const read = await pythonRead(path);
    assert.equal(read.length, messages.length, "one message per entry");
    // mboxo: the quoted lines come back quoted.
    assert.match(
      latin1(Uint8Array.from(atob(read[0].body), (c) => c.charCodeAt(0))),
      /\n>From the start\n>>From quoted\n>>>From twice\n/,
    );
    read.forEach((got, i) => {
      const { message, sender, date } = messages[i];
      const line = mboxFromLine(sender, date).slice(0, -1);
      assert.equal(got.fromLine, line, `From line ${i}`);
      assert.equal(got.getFrom, line.slice("From ".length), `get_from() ${i}`);
      assert.equal(got.sender, sender === "" ? "MAILER-DAEMON" : sender.replace(/\s/g, "_"));
      assert.equal(got.time * 1000, date.getTime(), `the date of ${i} parses`);
      const body = latin1(Uint8Array.from(atob(got.body), (c) => c.charCodeAt(0)));
      let lf = message.replace(/\r\n/g, "\n");
      if (lf !== "" && !lf.endsWith("\n")) lf += "\n";
      const entry = latin1(entries[i]);
      assert.equal(body, entry.slice(entry.indexOf("\n") + 1, -1), `message ${i} as written`);
      assert.equal(unquote(body), lf, `message ${i} back after unquoting one level`);
    });
  } finally {
    await Deno.remove(path);
  }
});
