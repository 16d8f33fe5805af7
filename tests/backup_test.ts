/**
 * `postino backup` and `postino restore` against the real server: a backup
 * taken while four smtplib clients keep delivering holds every message
 * acknowledged before it started and passes integrity_check; restored into
 * a fresh data directory, the server serves the same users with the same
 * passwords and the same messages byte for byte with the same UIDs and
 * UIDVALIDITY. Also the refusals of restore, the progress bar on a terminal,
 * and scheduled backups pruned to `keep`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { imaplib, imapLogin } from "./support/imap_fixture.ts";
import { mailSnapshot, type UserSnapshot } from "./support/mail_snapshot.ts";
import { MAIN_TS, runCli, type RunningPostino, startPostino } from "./support/server.ts";
import { startSmtpStream } from "./support/smtp_stream.ts";

const USERS = [
  { address: "alice@localhost", password: "alice-secret" },
  { address: "bob@localhost", password: "bob has a long secret" },
];
const LISTENERS = ["--smtp", "127.0.0.1:0", "--imap", "127.0.0.1:0", "--pop3", "127.0.0.1:0"];

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "postino-backup-test-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function addUsers(server: RunningPostino): Promise<void> {
  for (const u of USERS) {
    const r = await server.cli(["user", "add", u.address, "--password-stdin"], `${u.password}\n`);
    assert.equal(r.code, 0, r.stderr);
  }
}

/** The Message-IDs in a user's mailboxes of a store file, read directly. */
function messageIds(file: string, address: string): Set<string> {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const rows = db.prepare(
      `SELECT m.body FROM mailbox_entries e JOIN messages m ON m.id = e.message_id
       JOIN mailboxes b ON b.id = e.mailbox_id JOIN users u ON u.id = b.user_id
       WHERE u.address = ?`,
    ).all(address) as { body: Uint8Array }[];
    return new Set(rows.map((r) => idOf(r.body)).filter((id): id is string => id !== undefined));
  } finally {
    db.close();
  }
}

function idOf(body: Uint8Array): string | undefined {
  return /^Message-ID: <([^>]+)>/im.exec(new TextDecoder().decode(body.subarray(0, 4096)))?.[1];
}

function integrity(file: string): string {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string })
      .integrity_check;
  } finally {
    db.close();
  }
}

/** A snapshot without the bodies' bytes (they are compared by hash). */
function withoutBodies(snap: UserSnapshot): UserSnapshot {
  return {
    imap: Object.fromEntries(
      Object.entries(snap.imap ?? {}).map(([name, box]) => [
        name,
        { ...box, messages: box.messages.map(({ b64: _, ...m }) => m) },
      ]),
    ),
    pop3: snap.pop3?.map(({ b64: _, ...m }) => m),
  };
}

Deno.test("A backup taken under SMTP load holds every acknowledged message and restores exactly", async () => {
  await withTempDir(async (dir) => {
    await using server = await startPostino({ args: ["--dev", ...LISTENERS] });
    await addUsers(server);
    const { smtp, imap, pop3 } = server.addresses;

    // Some mail filed and flagged over IMAP before the load.
    const early = startSmtpStream({
      port: smtp.port,
      recipients: [USERS[0].address],
      clients: 1,
      perClient: 3,
      prefix: "early",
    });
    assert.deepEqual((await early.done).errors, []);
    const imapSteps = await imaplib([
      ...imapLogin(imap.port),
      { op: "call", method: "create", args: ["Kept"] },
      { op: "call", method: "select", args: ["INBOX"] },
      { op: "call", method: "store", args: ["2", "+FLAGS", "(\\Flagged \\Seen $Later)"] },
      { op: "call", method: "copy", args: ["1:2", "Kept"] },
      { op: "logout" },
    ]);
    for (const r of imapSteps) assert.ok(r.ok && (r.typ ?? "OK") !== "NO", JSON.stringify(r));

    // Four clients, 200 messages to both users, while the backup runs.
    const load = startSmtpStream({
      port: smtp.port,
      recipients: [USERS[0].address, USERS[1].address],
      clients: 4,
      perClient: 50,
      size: 20_000,
      pauseMs: 20,
    });
    await load.waitFor(40);
    const file = join(dir, "postino-backup.db");
    // Sub-millisecond wall-clock times, as the clients' time.time() gives: Date.now() is
    // floored, so an ack in the same millisecond would look later than the start.
    const wallClock = () => performance.timeOrigin + performance.now();
    const started = wallClock();
    const backup = await server.cli(["backup", file]);
    const ended = wallClock();
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(backup.stderr, "");
    assert.match(
      backup.stdout,
      /^Backed up \S+postino\.db to \S+postino-backup\.db: [\d.]+ [KMG]iB, [\d,]+ messages in \d+ mailboxes of 2 users \(schema \d+\), integrity ok, [\d.]+ s\n$/,
    );
    assert.deepEqual((await load.done).errors, []);
    assert.equal(load.acks.length, 200);
    const before = load.acks.filter((a) => a.t < started);
    const during = load.acks.filter((a) => a.t >= started && a.t <= ended);
    assert.ok(before.length >= 40, `${before.length} acknowledged before the backup`);
    assert.ok(during.length > 0, "SMTP kept acknowledging mail while the backup ran");
    assert.ok(before.length < 200, "the load went on after the backup started");

    assert.equal(integrity(file), "ok");
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["postino-backup.db"],
      "no partial file beside the backup",
    );
    for (const user of USERS) {
      const ids = messageIds(file, user.address);
      const missing = before.filter((a) => !ids.has(a.id)).map((a) => a.id);
      assert.deepEqual(missing, [], `acknowledged before the backup, missing for ${user.address}`);
    }

    // The server as it is now, after the load; then the backup restored into a fresh data dir.
    const original = await mailSnapshot({ imap: imap.port, pop3: pop3.port, users: USERS });
    const fresh = join(dir, "restored");
    const restore = await runCli(["restore", file], { dataDir: fresh });
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /^Restored \S+ into \S+restored\/postino\.db: /);
    await using restored = await startPostino({ dataDir: fresh, args: ["--dev", ...LISTENERS] });
    const got = await mailSnapshot({
      imap: restored.addresses.imap.port,
      pop3: restored.addresses.pop3.port,
      users: USERS, // the same passwords log in
      bodies: true,
    });
    for (const user of USERS) {
      const mine = got[user.address];
      const theirs = original[user.address];
      const backedUp = messageIds(file, user.address);
      const served = new Set<string>();
      for (const [name, box] of Object.entries(mine.imap!)) {
        const was = theirs.imap![name];
        assert.ok(was, `${user.address}'s ${name} exists on the original`);
        assert.equal(box.uidvalidity, was.uidvalidity, `${name} UIDVALIDITY`);
        assert.ok(box.uidnext <= was.uidnext, `${name} UIDNEXT`);
        const byUid = new Map(was.messages.map((m) => [m.uid, m]));
        for (const { b64, ...m } of box.messages) {
          // The same message, byte for byte (its SHA-256 over IMAP), under the same UID.
          assert.deepEqual(m, byUid.get(m.uid), `${user.address}'s ${name} UID ${m.uid}`);
          const id = idOf(Uint8Array.from(atob(b64!), (c) => c.charCodeAt(0)));
          if (id) served.add(id);
        }
      }
      assert.deepEqual([...served].sort(), [...backedUp].sort(), `${user.address}: the backup`);
      // POP3: the maildrop of the backup is the start of today's, with the same UIDLs.
      const pop = withoutBodies(mine).pop3!;
      assert.deepEqual(pop, theirs.pop3!.slice(0, pop.length));
    }
    const kept = got[USERS[0].address].imap!.Kept.messages;
    assert.deepEqual(kept.map((m) => m.flags), [[], ["$Later", "\\Flagged", "\\Seen"]]);
  });
});

Deno.test("restore refuses a data dir that is not empty, a corrupt file, a file that is no store", async () => {
  await withTempDir(async (dir) => {
    const source = join(dir, "source");
    assert.equal((await runCli(["domain", "add", "localhost"], { dataDir: source })).code, 0);
    const add = await runCli(["user", "add", "alice@localhost", "--password-stdin"], {
      dataDir: source,
      stdin: "pw\n",
    });
    assert.equal(add.code, 0, add.stderr);
    const good = join(dir, "good.db");
    assert.equal((await runCli(["backup", good], { dataDir: source })).code, 0);

    const fails = async (args: string[], dataDir: string, re: RegExp, code = 1) => {
      const r = await runCli(args, { dataDir });
      assert.equal(r.code, code, `${args.join(" ")}: ${r.stderr}`);
      assert.equal(r.stdout, "");
      const lines = r.stderr.split("\n").filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], re);
      assert.doesNotMatch(r.stderr, /Unexpected error|^\s+at /m);
    };

    // A data directory with anything in it.
    const busy = join(dir, "busy");
    Deno.mkdirSync(busy);
    Deno.writeTextFileSync(join(busy, "notes.txt"), "mine");
    await fails(
      ["restore", good],
      busy,
      /^postino: The data directory \S+ is not empty; give --force/,
    );
    assert.deepEqual([...Deno.readDirSync(busy)].map((e) => e.name), ["notes.txt"]);

    // A corrupt backup: pages overwritten in the middle.
    const bytes = Deno.readFileSync(good);
    bytes.fill(0x5a, 16384 * 2, bytes.length - 16384);
    const corrupt = join(dir, "corrupt.db");
    Deno.writeFileSync(corrupt, bytes);
    await fails(
      ["restore", corrupt],
      join(dir, "a"),
      /^postino: \S+corrupt\.db fails its integrity check: /,
    );

    // A truncated one.
    const truncated = join(dir, "truncated.db");
    Deno.writeFileSync(truncated, Deno.readFileSync(good).subarray(0, 16384 * 3));
    await fails(["restore", truncated], join(dir, "b"), /truncated\.db fails its integrity check/);

    // Not a store: text, and an SQLite database of something else.
    const text = join(dir, "mail.mbox");
    Deno.writeTextFileSync(text, "From alice@example.com Mon Jan  1 00:00:00 2024\n\nhello\n");
    await fails(
      ["restore", text],
      join(dir, "c"),
      /mail\.mbox is not a Postino store \(not an SQLite database\)/,
    );
    const other = join(dir, "other.db");
    const db = new DatabaseSync(other);
    db.exec("CREATE TABLE notes (text TEXT)");
    db.close();
    await fails(["restore", other], join(dir, "d"), /other\.db is not a Postino store/);
    await fails(["restore", join(dir, "missing.db")], join(dir, "e"), /There is no file/);
    await fails(["restore"], join(dir, "f"), /^postino: Missing argument/, 2);
    for (const d of ["a", "b", "c", "d", "e", "f"]) {
      const left = (() => {
        try {
          return [...Deno.readDirSync(join(dir, d))].map((e) => e.name);
        } catch {
          return [];
        }
      })();
      assert.deepEqual(left, [], `nothing left in ${d}`);
    }

    // --force replaces a store, but never one a running server holds open.
    {
      await using server = await startPostino({ dataDir: busy, args: ["--dev", ...LISTENERS] });
      await fails(["restore", good, "--force"], server.dataDir, /is in use: stop postino serve/);
    }
    const forced = await runCli(["restore", good, "--force"], { dataDir: busy });
    assert.equal(forced.code, 0, forced.stderr);
    const listed = await runCli(["user", "list"], { dataDir: busy });
    assert.match(listed.stdout, /^alice@localhost\t/);
  });
});

Deno.test("backup shows a progress bar on a terminal", async () => {
  const script = await new Deno.Command("script", { args: ["--version"] }).output().catch(
    () => undefined,
  );
  if (!script?.success) return; // util-linux's script gives the command a terminal
  await withTempDir(async (dir) => {
    const data = join(dir, "data");
    assert.equal((await runCli(["domain", "add", "example.test"], { dataDir: data })).code, 0);
    const file = join(dir, "b.db");
    const command = `${Deno.execPath()} run -A ${MAIN_TS} backup ${file} --data ${data} </dev/null`;
    const out = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, text);
    assert.match(text, /\r\[#+\]\s+100%\s+[\d,]+\/[\d,]+ pages\s+[\d.]+ KiB\/[\d.]+ KiB/);
    assert.match(text, /Backed up \S+ to \S+b\.db: .* integrity ok/);
  });
});

Deno.test("Scheduled backups: every 1s into backup.dir, pruned to the newest keep", async () => {
  await withTempDir(async (dir) => {
    const backups = join(dir, "backups");
    Deno.mkdirSync(backups);
    Deno.writeTextFileSync(join(backups, "README"), "not a backup: never removed");
    await using server = await startPostino({
      args: ["--dev", "--smtp", "127.0.0.1:0"],
      env: { POSTINO_BACKUP_DIR: backups, POSTINO_BACKUP_EVERY: "1", POSTINO_BACKUP_KEEP: "2" },
    });
    await addUsers(server);
    const written = () => server.entries().filter((e) => e.message.startsWith("Backup written"));
    const deadline = Date.now() + 20_000;
    while (written().length < 4 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(written().length >= 4, server.logs().join("\n"));
    await server.waitForLog((e) => e.message.startsWith("Removed old backup"));
    await server.stop();
    const names = [...Deno.readDirSync(backups)].map((e) => e.name).sort();
    assert.equal(names.length, 3, names.join(" "));
    assert.equal(names[0], "README");
    for (const name of names.slice(1)) {
      assert.match(name, /^postino-\d{8}T\d{6}Z\.db$/);
      assert.equal(integrity(join(backups, name)), "ok");
    }
    const last = written().at(-1)!;
    assert.equal(typeof last.properties.file, "string");
    assert.equal(last.properties.users, 2);
  });
});
