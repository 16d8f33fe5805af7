/**
 * fetchmail over IMAP, as people use it to pull a mailbox into a local MDA:
 * STARTTLS, IMAPS and plain IMAP on loopback; every message byte for byte
 * what SMTP accepted (fetchmail reassembles RFC822.HEADER and
 * BODY.PEEK[TEXT]), and with `keep` nothing is removed, only marked \Seen.
 */
import assert from "node:assert/strict";
import { assertFetched, fetchmail } from "./support/fetchmail.ts";
import { RawImap, startImapServer } from "./support/imap_fixture.ts";
import { AWKWARD, deliver, large, type Outgoing, simple } from "./support/pop3_fixture.ts";

const MESSAGES: [string, Outgoing][] = [
  ...AWKWARD,
  ["plain", simple(6)],
  ["2 MiB", large(2 * 1024 * 1024)],
];

Deno.test("fetchmail fetches every message byte for byte over IMAP with STARTTLS, IMAPS and plain", async (t) => {
  await using imap = await startImapServer();
  await deliver(imap.smtp, MESSAGES.map(([, m]) => m));
  const dir = await Deno.makeTempDir({ prefix: "postino-fetchmail-imap-" });
  try {
    await t.step("IMAP with STARTTLS (certificate not checked)", async () => {
      const got = await fetchmail(
        dir,
        "starttls",
        imap.imap,
        "sslproto TLS1.2+ no sslcertck",
        "imap",
      );
      assert.match(got.log, /IMAP> A\d+ STARTTLS/, "fetchmail used STARTTLS");
      assertFetched(got, got.log, MESSAGES);
    });

    await t.step("IMAPS (implicit TLS)", async () => {
      const got = await fetchmail(dir, "imaps", imap.imaps, "ssl no sslcertck", "imap");
      assertFetched(got, got.log, MESSAGES);
    });

    await t.step("plain IMAP on loopback", async () => {
      const got = await fetchmail(dir, "plain", imap.imap, `sslproto ""`, "imap");
      assert.doesNotMatch(got.log, /IMAP> A\d+ STARTTLS/, "no STARTTLS when TLS is turned off");
      assertFetched(got, got.log, MESSAGES);
    });

    await t.step("keep removed nothing; the messages are \\Seen", async () => {
      await using c = await RawImap.login(imap.imap);
      const selected = await c.command("EXAMINE INBOX");
      assert.ok(selected.untagged.includes(`* ${MESSAGES.length} EXISTS`), `${selected.untagged}`);
      const unseen = await c.command("SEARCH UNSEEN");
      assert.deepEqual(unseen.untagged, ["* SEARCH"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
