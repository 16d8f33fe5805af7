/**
 * The POP3 autologout timer (RFC 1939 §3) end to end, with the idle timeout
 * shortened to one second through POSTINO_POP3_IDLE_TIMEOUT: a session that
 * idles with pending DELEs is told, closed, removes nothing and frees the
 * maildrop lock.
 */
import assert from "node:assert/strict";
import {
  assertAllOk,
  deliver,
  large,
  login,
  poplib,
  RawPop3,
  simple,
  startPop3Server,
  USERS,
} from "./support/pop3_fixture.ts";

Deno.test("an idle POP3 session times out, removes nothing and frees the lock", async (t) => {
  await using pop = await startPop3Server({ env: { POSTINO_POP3_IDLE_TIMEOUT: "1" } });
  await deliver(pop.smtp, [simple(1), simple(2)]);

  await t.step("DELE, then idle: -ERR [SYS/TEMP], nothing removed", async () => {
    const r = await poplib([
      ...login(pop.pop3),
      { op: "dele", arg: 1 },
      { op: "dele", arg: 2 },
      { op: "sleep", ms: 1800 },
      { op: "stat" },
      ...login(pop.pop3, "alice", "b"), // the lock is free again
      { s: "b", op: "stat" },
      { s: "b", op: "quit" },
    ]);
    assertAllOk([...r.slice(0, 6), ...r.slice(7)]);
    assert.equal(r[6].ok, false);
    assert.match(r[6].error ?? "", /^-ERR \[SYS\/TEMP\]/, JSON.stringify(r[6]));
    assert.equal(r[10].count, 2, "the timed-out session removed nothing");
  });

  await t.step("idle in AUTHORIZATION and inside an AUTH exchange", async () => {
    const { client, greeting } = await RawPop3.connect(pop.pop3);
    using _ = client;
    assert.match(greeting, /^\+OK/);
    await client.send("AUTH PLAIN\r\n");
    assert.match(await client.line(), /^\+ ?$/);
    // Nothing more: the session must end on its own, without an internal error.
    const rest = await client.rest();
    assert.match(rest, /^-ERR \[SYS\/TEMP\] /);
    assert.doesNotMatch(rest, /[Ii]nternal/);
    assert.ok(
      !pop.server.entries().some((e) => e.level === "ERROR" && e.logger.startsWith("postino.pop3")),
      "no error-level log for a client that idles",
    );
  });

  await t.step({
    name: "a client that stops reading a large RETR does not hold the lock forever",
    fn: async () => {
      await deliver(pop.smtp, [large(16 * 1024 * 1024)], USERS.bob.address);
      const { client } = await RawPop3.connect(pop.pop3);
      using _ = client;
      await client.send(`USER ${USERS.bob.address}\r\nPASS ${USERS.bob.password}\r\nRETR 1\r\n`);
      // Read nothing more: the server's writes back up.
      const deadline = Date.now() + 8_000;
      let last: string | undefined;
      for (;;) {
        const r = await poplib([...login(pop.pop3, "bob"), { op: "quit" }]);
        if (r[2].ok) break;
        last = r[2].error;
        assert.match(last ?? "", /^-ERR \[IN-USE\]/);
        assert.ok(Date.now() < deadline, `still locked after 8 s: ${last}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    },
  });
});
