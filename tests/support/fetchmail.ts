/**
 * Runs fetchmail against a test server and gives what its MDA stored:
 * HOME and FETCHMAILHOME in a temp dir (so it never touches ~/.fetchmail*),
 * a 0600 rcfile, `keep` and `fetchall`, and `no rewrite` / `no stripcr` so
 * it leaves the messages alone. Shared by the POP3 and IMAP fetchmail tests.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { accepted, assertDelivered, bytes, type Outgoing, run, USERS } from "./pop3_fixture.ts";

const MDA = new URL("./pop3_mda.sh", import.meta.url).pathname;

/** Removes the header blocks fetchmail adds (its Received line with continuations). */
export function stripFetchmail(message: Uint8Array): Uint8Array {
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
export function hasHeaderEnd(message: Outgoing): boolean {
  const text = Buffer.from(accepted(message)).toString("latin1");
  return text.startsWith("\r\n") || text.includes("\r\n\r\n");
}

/** Runs fetchmail with `poll` settings; gives the messages its MDA stored, in order. */
export async function fetchmail(
  dir: string,
  name: string,
  port: number,
  tls: string,
  protocol: "pop3" | "imap" = "pop3",
): Promise<Uint8Array[] & { log: string }> {
  const home = join(dir, `${name}-home`);
  const out = join(dir, `${name}-out`);
  await Deno.mkdir(home);
  await Deno.mkdir(out);
  const rcfile = join(home, "fetchmailrc");
  await Deno.writeTextFile(
    rcfile,
    `set no bouncemail\npoll 127.0.0.1 service ${port} protocol ${protocol} timeout 30\n` +
      `  user "${USERS.alice.address}" there with password "${USERS.alice.password}"\n` +
      `  options keep fetchall no rewrite no stripcr no mimedecode ${tls}\n` +
      `  mda "sh ${MDA} ${out}"\n`,
    { mode: 0o600 },
  );
  await Deno.chmod(rcfile, 0o600);
  const r = await run("fetchmail", [
    ...["-f", rcfile, "-a", "-k", "-v", "--nosyslog", "--nodetach"],
    // As root fetchmail locks a system-wide pidfile; parallel tests need their own.
    ...["--pidfile", join(home, "fetchmail.pid")],
  ], {
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

/** Checks that fetchmail stored each of `messages`, in order, as SMTP accepted it. */
export function assertFetched(got: Uint8Array[], log: string, messages: [string, Outgoing][]) {
  assert.equal(got.length, messages.length, `messages fetched:\n${log.slice(-3000)}`);
  messages.forEach(([what, message], i) => {
    let fetched = stripFetchmail(got[i]);
    if (!hasHeaderEnd(message)) {
      // fetchmail ends a header section that has no blank line with one of its own.
      assert.deepEqual(fetched.subarray(-4), bytes("\r\n\r\n"), what);
      fetched = fetched.subarray(0, -2);
    }
    assertDelivered(fetched, message, `${what} (message ${i + 1})`);
  });
}
