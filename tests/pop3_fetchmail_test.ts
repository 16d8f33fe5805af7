/**
 * fetchmail fetches every message of a maildrop filled over SMTP, over POP3
 * with STLS, over POP3S and over plain POP3 on loopback, and hands each one
 * to an MDA that stores it unchanged; every message must be byte for byte
 * what SMTP accepted, once fetchmail's own Received header is taken out.
 *
 * fetchmail runs with HOME and FETCHMAILHOME in a temp dir (so it never
 * touches ~/.fetchmail*), a 0600 rcfile, `keep` and `fetchall`, and
 * `no rewrite` / `no stripcr` so it leaves the messages alone.
 */
import assert from "node:assert/strict";
import { assertFetched, fetchmail } from "./support/fetchmail.ts";
import {
  assertAllOk,
  AWKWARD,
  deliver,
  large,
  login,
  type Outgoing,
  poplib,
  simple,
  startPop3Server,
} from "./support/pop3_fixture.ts";

const MESSAGES: [string, Outgoing][] = [
  ...AWKWARD,
  ["plain", simple(6)],
  ["10 MiB", large(10 * 1024 * 1024)],
];

Deno.test("fetchmail fetches every message byte for byte over STLS, POP3S and plain POP3", async (t) => {
  await using pop = await startPop3Server();
  await deliver(pop.smtp, MESSAGES.map(([, m]) => m));
  const dir = await Deno.makeTempDir({ prefix: "postino-fetchmail-" });
  try {
    const check = (got: Uint8Array[], log: string) => assertFetched(got, log, MESSAGES);
    await t.step("POP3 with STLS (certificate not checked)", async () => {
      const got = await fetchmail(dir, "stls", pop.pop3, "sslproto TLS1.2+ no sslcertck");
      const log = got.log;
      assert.match(log, /STLS/, "fetchmail used STLS");
      assert.match(log, /upgrade to TLS succeeded/);
      check(got, log);
    });

    await t.step("POP3S (implicit TLS)", async () => {
      const got = await fetchmail(dir, "pop3s", pop.pop3s, "ssl no sslcertck");
      check(got, got.log);
    });

    await t.step("plain POP3 on loopback", async () => {
      const got = await fetchmail(dir, "plain", pop.pop3, `sslproto ""`);
      const log = got.log;
      assert.doesNotMatch(log, /POP3> STLS/, "no STLS when TLS is turned off");
      check(got, log);
    });

    await t.step("fetchmail with keep removed nothing", async () => {
      const r = await poplib([...login(pop.pop3), { op: "stat" }, { op: "quit" }]);
      assertAllOk(r);
      assert.equal(r[3].count, MESSAGES.length);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
