/**
 * The IMAP session limits a server owner sets: sessions per user
 * (`limits.imap_sessions_per_user`) and the autologout timer
 * (`timeouts.imap_idle`, RFC 9051 §5.4), IDLE included.
 */
import assert from "node:assert/strict";
import { RawImap, startImapServer, USERS } from "./support/imap_fixture.ts";

Deno.test("a user over the session cap gets NO [LIMIT]; a freed slot can be used again", async () => {
  await using imap = await startImapServer({ env: { POSTINO_IMAP_SESSIONS_PER_USER: "2" } });
  await using a = await RawImap.login(imap.imap);
  const b = await RawImap.login(imap.imap);
  await using c = await RawImap.connect(imap.imap);
  const login = `LOGIN ${USERS.alice.address} ${JSON.stringify(USERS.alice.password)}`;
  const refused = await c.command(login);
  assert.equal(refused.status, "NO", refused.text);
  assert.match(refused.text, /^\[LIMIT\] /);
  assert.equal((await c.command("NOOP")).status, "OK", "the refused session goes on");
  assert.equal((await b.command("LOGOUT")).status, "OK");
  await b.close();
  // The slot is freed when the session ends, which the server sees just after LOGOUT.
  let retried = await c.command(login);
  for (let i = 0; i < 20 && retried.status !== "OK"; i++) {
    await new Promise((r) => setTimeout(r, 100));
    retried = await c.command(login);
  }
  assert.equal(retried.status, "OK", retried.text);
  assert.equal((await a.command("SELECT INBOX")).status, "OK");
});

Deno.test("an idle session, IDLE included, is logged out with BYE after timeouts.imap_idle", async () => {
  await using imap = await startImapServer({ env: { POSTINO_IMAP_IDLE_TIMEOUT: "2s" } });
  await using quiet = await RawImap.login(imap.imap);
  await using idler = await RawImap.login(imap.imap);
  assert.equal((await idler.command("SELECT INBOX")).status, "OK");
  await idler.idle();
  const started = Date.now();
  for (const session of [quiet, idler]) {
    const { lines } = await session.waitFor(/^\* BYE /, 10_000);
    assert.match(lines.at(-1)!, /^\* BYE .*[Aa]utologout/);
    await assert.rejects(async () => {
      for (;;) await session.line(5_000);
    }, /Connection closed/);
  }
  const waited = Date.now() - started;
  assert.ok(waited >= 1_000 && waited < 9_000, `logged out after ${waited} ms`);
});
