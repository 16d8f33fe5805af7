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
import { Buffer } from "node:buffer";
import { join } from "node:path";
import {
  accepted,
  assertAllOk,
  assertDelivered,
  bytes,
  deliver,
  DOTTED,
  EIGHT_BIT,
  EMPTY_BODY,
  HEADERS_ONLY,
  large,
  login,
  type Outgoing,
  poplib,
  run,
  simple,
  startPop3Server,
  USERS,
} from "./support/pop3_fixture.ts";

const MDA = new URL("./support/pop3_mda.sh", import.meta.url).pathname;

const MESSAGES: [string, Outgoing][] = [
  ["dotted lines", DOTTED],
  ["8-bit", EIGHT_BIT],
  ["headers only", HEADERS_ONLY],
  ["empty body", EMPTY_BODY],
  ["empty DATA", "empty"],
  ["plain", simple(6)],
  ["10 MiB", large(10 * 1024 * 1024)],
];

/** Removes the header blocks fetchmail adds (its Received line with continuations). */
function stripFetchmail(message: Uint8Array): Uint8Array {
  const head = Buffer.from(message.subarray(0, 8192)).toString("latin1"); // one char per octet
  const end = head.search(/\r\n\r\n|$/);
  const blocks = [...head.slice(0, end + 2).matchAll(/^[^\r\n]+\r\n(?:[ \t][^\r\n]*\r\n)*/gm)];
  const keep: Uint8Array[] = [];
  let at = 0;
  for (const b of blocks) {
    if (!b[0].includes("fetchmail")) continue;
    keep.push(message.subarray(at, b.index));
    at = b.index + b[0].length;
  }
  keep.push(message.subarray(at));
  return new Uint8Array(Buffer.concat(keep));
}

/** True when the message has the blank line that ends its header section. */
function hasHeaderEnd(message: Outgoing): boolean {
  const text = Buffer.from(accepted(message)).toString("latin1");
  return text.startsWith("\r\n") || text.includes("\r\n\r\n");
}

/** Runs fetchmail with `poll` settings; gives the messages its MDA stored, in order. */
async function fetchmail(
  dir: string,
  name: string,
  port: number,
  tls: string,
): Promise<Uint8Array[] & { log: string }> {
  const home = join(dir, `${name}-home`);
  const out = join(dir, `${name}-out`);
  await Deno.mkdir(home);
  await Deno.mkdir(out);
  const rcfile = join(home, "fetchmailrc");
  await Deno.writeTextFile(
    rcfile,
    `set no bouncemail\npoll 127.0.0.1 service ${port} protocol pop3 timeout 30\n` +
      `  user "${USERS.alice.address}" there with password "${USERS.alice.password}"\n` +
      `  options keep fetchall no rewrite no stripcr no mimedecode ${tls}\n` +
      `  mda "sh ${MDA} ${out}"\n`,
    { mode: 0o600 },
  );
  await Deno.chmod(rcfile, 0o600);
  const r = await run("fetchmail", ["-f", rcfile, "-a", "-k", "-v", "--nosyslog", "--nodetach"], {
    env: { ...Deno.env.toObject(), HOME: home, FETCHMAILHOME: home, LC_ALL: "C" },
    timeoutMs: 60_000,
  });
  const log = new TextDecoder().decode(r.stdout) + r.stderr;
  assert.equal(r.code, 0, `fetchmail failed (${r.code}):\n${log}`);
  const files = [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => n.endsWith(".eml"))
    .sort();
  const messages = await Promise.all(files.map((f) => Deno.readFile(join(out, f))));
  return Object.assign(messages, { log });
}

Deno.test("fetchmail fetches every message byte for byte over STLS, POP3S and plain POP3", async (t) => {
  await using pop = await startPop3Server();
  await deliver(pop.smtp, MESSAGES.map(([, m]) => m));
  const dir = await Deno.makeTempDir({ prefix: "postino-fetchmail-" });
  try {
    const check = (got: Uint8Array[], log: string) => {
      assert.equal(got.length, MESSAGES.length, `messages fetched:\n${log.slice(-3000)}`);
      MESSAGES.forEach(([what, message], i) => {
        let fetched = stripFetchmail(got[i]);
        if (!hasHeaderEnd(message)) {
          // fetchmail ends a header section that has no blank line with one of its own.
          assert.deepEqual(fetched.subarray(-4), bytes("\r\n\r\n"), what);
          fetched = fetched.subarray(0, -2);
        }
        assertDelivered(fetched, message, `${what} (message ${i + 1})`);
      });
    };
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
