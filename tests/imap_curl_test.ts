/**
 * IMAP end to end with curl: `imap://` with STARTTLS required (`--ssl-reqd
 * -k`), plain IMAP on loopback and `imaps://`: listing mailboxes, fetching
 * messages delivered over SMTP by UID, by number and by section, searching,
 * custom commands, an upload (APPEND), and a refused login.
 */
import assert from "node:assert/strict";
import { assertDelivered } from "./support/pop3_fixture.ts";
import { deliver, message, run, startImapServer, USERS } from "./support/imap_fixture.ts";

const decoder = new TextDecoder();

/** Runs curl, bounded, with a per-transfer limit too. */
function curl(args: string[]) {
  return run("curl", ["-sS", "--max-time", "20", ...args], { timeoutMs: 30_000 });
}

Deno.test("curl lists, fetches and searches over imap:// with STARTTLS, plain and imaps://", async (t) => {
  await using imap = await startImapServer({ users: ["alice", "bob"] });
  const messages = [
    message({ from: "bob@remote.example", subject: "first", body: "one\n" }),
    message({ from: "carol@remote.example", subject: "second", body: "two\n" }),
    message({ from: "dave@remote.example", subject: "third", body: "three\nlines\nhere\n" }),
  ];
  await deliver(imap.smtp, messages);
  const alice = ["--user", `${USERS.alice.address}:${USERS.alice.password}`];
  const base = `imap://127.0.0.1:${imap.imap}`;
  const tls = ["--ssl-reqd", "-k"];

  await t.step("--ssl-reqd: the mailbox list, with special-use attributes", async () => {
    const r = await curl([...tls, ...alice, `${base}/`]);
    assert.equal(r.code, 0, r.stderr);
    const out = decoder.decode(r.stdout);
    assert.match(out, /^\* LIST \([^)]*\) "\/" INBOX\r$/m);
    for (const name of ["Sent", "Drafts", "Trash", "Junk", "Archive"]) {
      assert.match(out, new RegExp(`^\\* LIST \\([^)]*\\\\${name}[^)]*\\) "/" ${name}\\r$`, "m"));
    }
  });

  await t.step("--ssl-reqd: INBOX;UID=1 gives the first message as delivered", async () => {
    const r = await curl([...tls, ...alice, `${base}/INBOX;UID=1`]);
    assert.equal(r.code, 0, r.stderr);
    assertDelivered(r.stdout, messages[0], "UID 1");
  });

  await t.step("INBOX;MAILINDEX=2 (FETCH by message number)", async () => {
    const r = await curl([...tls, ...alice, `${base}/INBOX;MAILINDEX=2`]);
    assert.equal(r.code, 0, r.stderr);
    assertDelivered(r.stdout, messages[1], "message 2");
  });

  await t.step("INBOX;UID=3;SECTION=TEXT gives just the body", async () => {
    const r = await curl([...tls, ...alice, `${base}/INBOX;UID=3;SECTION=TEXT`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decoder.decode(r.stdout), "three\r\nlines\r\nhere\r\n");
  });

  await t.step("-X 'UID SEARCH ...' on INBOX", async () => {
    const r = await curl([...tls, ...alice, "-X", "UID SEARCH FROM bob", `${base}/INBOX`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decoder.decode(r.stdout), "* SEARCH 1\r\n");
    const all = await curl([...tls, ...alice, "-X", "UID SEARCH ALL", `${base}/INBOX`]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(decoder.decode(all.stdout), "* SEARCH 1 2 3\r\n");
  });

  await t.step("a URL query is a SEARCH", async () => {
    const r = await curl([...tls, ...alice, `${base}/INBOX?SUBJECT%20third`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decoder.decode(r.stdout), "* SEARCH 3\r\n");
  });

  await t.step("-X STATUS without a mailbox in the URL", async () => {
    const r = await curl([...tls, ...alice, "-X", "STATUS INBOX (MESSAGES UIDNEXT)", `${base}/`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decoder.decode(r.stdout), "* STATUS INBOX (MESSAGES 3 UIDNEXT 4)\r\n");
  });

  await t.step("--sasl-ir, and bob's password with spaces", async () => {
    const r = await curl([
      ...tls,
      "--sasl-ir",
      "--user",
      `${USERS.bob.address}:${USERS.bob.password}`,
      "-X",
      "STATUS INBOX (MESSAGES)",
      `${base}/`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decoder.decode(r.stdout), "* STATUS INBOX (MESSAGES 0)\r\n");
  });

  await t.step("an upload is an APPEND; the message reads back as sent", async () => {
    const draft = message({ subject: "draft", body: "unfinished thoughts\n" });
    const file = await Deno.makeTempFile({ suffix: ".eml" });
    try {
      await Deno.writeFile(file, draft);
      const up = await curl([...tls, ...alice, "-T", file, `${base}/Drafts`]);
      assert.equal(up.code, 0, up.stderr);
    } finally {
      await Deno.remove(file);
    }
    const r = await curl([...tls, ...alice, `${base}/Drafts;UID=1`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(decoder.decode(r.stdout), decoder.decode(draft));
  });

  await t.step("plain imap:// on loopback (credentials allowed without TLS)", async () => {
    const r = await curl([...alice, `${base}/INBOX;UID=2`]);
    assert.equal(r.code, 0, r.stderr);
    assertDelivered(r.stdout, messages[1], "UID 2 over plain IMAP");
  });

  await t.step("imaps:// (implicit TLS): list and fetch", async () => {
    const imaps = `imaps://127.0.0.1:${imap.imaps}`;
    const l = await curl(["-k", ...alice, `${imaps}/`]);
    assert.equal(l.code, 0, l.stderr);
    assert.match(decoder.decode(l.stdout), /^\* LIST \([^)]*\\Archive[^)]*\) "\/" Archive\r$/m);
    const r = await curl(["-k", ...alice, `${imaps}/INBOX;UID=3`]);
    assert.equal(r.code, 0, r.stderr);
    assertDelivered(r.stdout, messages[2], "UID 3 over imaps");
  });

  await t.step("a wrong password: curl reports a refused login (67)", async () => {
    const r = await curl([...tls, "--user", `${USERS.alice.address}:wrong`, `${base}/`]);
    assert.equal(r.code, 67, r.stderr);
  });
});
