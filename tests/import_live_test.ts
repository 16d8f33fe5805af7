/**
 * `postino import` while the server runs: the import shares the store with
 * the server (SMTP keeps delivering meanwhile, nothing is lost), and an IMAP
 * client idling in INBOX (imaplib) hears of the imported mail without
 * doing anything (the server notices another process's commits within a
 * second, src/store/changes.ts).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { deliver, startImapServer, USERS } from "./support/imap_fixture.ts";
import { cli, imapDump, latin1, mail } from "./support/transfer_fixture.ts";

/** imaplib logs in, selects INBOX, starts IDLE, says so, and reports the EXISTS it hears. */
const IDLER = `
import imaplib, json, re, sys, time
port, user, password, want = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
conn = imaplib.IMAP4("127.0.0.1", port, timeout=60)
conn.login(user, password)
typ, data = conn.select("INBOX")
start = int(data[0])
tag = conn._new_tag()
conn.send(tag + b" IDLE\\r\\n")
assert conn.readline().startswith(b"+"), "no continuation"
print("idling", start, flush=True)
began = time.monotonic()
first = None
count = start
conn.sock.settimeout(60)
while count < want:
    line = conn.readline()
    if not line:
        break
    m = re.match(rb"\\* (\\d+) EXISTS", line)
    if m:
        count = int(m.group(1))
        if first is None:
            first = time.monotonic()
print(json.dumps({"count": count, "first": first, "last": time.monotonic()}), flush=True)
conn.send(b"DONE\\r\\n")
conn.logout()
`;

Deno.test({
  name: "an IMAP client idling in INBOX sees mail imported while the server runs",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await using s = await startImapServer({ users: ["alice"] });
    const { server, imap, smtp } = s;
    const dir = await Deno.makeTempDir({ prefix: "postino-import-live-test-" });
    try {
      const count = 2000;
      const parts: string[] = [];
      for (let i = 0; i < count; i++) {
        parts.push(
          `From sender@remote.example Mon Jun  3 10:00:00 2024\n` +
            latin1(mail(`imported ${i}`, `Message ${i}.\n${"x".repeat(2000)}\n`))
              .replace(/\r\n/g, "\n") +
            "\n",
        );
      }
      const path = join(dir, "live.mbox");
      await Deno.writeTextFile(path, parts.join(""));
      const smtpCount = 20;

      const idler = new Deno.Command("python3", {
        args: ["-c", IDLER, String(imap), USERS.alice.address, USERS.alice.password, String(count)],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const lines = idler.stdout.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("\n")) {
        const { value, done } = await lines.read();
        if (done) break;
        text += value;
      }
      assert.match(text, /^idling 0\n/, "imaplib is idling in an empty INBOX");

      // The import and SMTP deliveries at the same time.
      const imported = cli(server, ["import", USERS.alice.address, path]);
      await deliver(
        smtp,
        Array.from({ length: smtpCount }, (_, i) => mail(`smtp ${i}`, "During the import.\n")),
      );
      const r = await imported;
      const importDone = performance.now();
      assert.match(r.stdout, new RegExp(`^Imported ${count} messages`));

      while (!text.includes("}")) {
        const { value, done } = await lines.read();
        if (done) break;
        text += value;
      }
      const status = await idler.status;
      const stderr = await new Response(idler.stderr).text();
      assert.ok(status.success, `the imaplib client failed: ${stderr}`);
      const heard = JSON.parse(text.split("\n")[1]);
      assert.ok(heard.count >= count, `IDLE heard EXISTS up to ${heard.count}`);
      assert.ok(heard.first !== null, "IDLE heard an EXISTS");
      // Within a few seconds of the import's end (not the 10 s IDLE poll of the sessions).
      const waited = performance.now() - importDone;
      assert.ok(waited < 5000, `the last EXISTS came ${waited} ms after the import ended`);

      const dump = await imapDump(imap, USERS.alice.address, USERS.alice.password);
      assert.equal(dump.INBOX.length, count + smtpCount, "every imported and delivered message");
      const subjects = dump.INBOX.map((m) => /Subject: ([^\r]*)/.exec(atob(m.b64))![1]);
      for (let i = 0; i < smtpCount; i++) assert.ok(subjects.includes(`smtp ${i}`), `smtp ${i}`);
      for (let i = 0; i < count; i++) assert.ok(subjects.includes(`imported ${i}`), `${i}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
