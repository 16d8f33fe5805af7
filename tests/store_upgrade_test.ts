/**
 * Upgrade safety: every store fixture (tests/fixtures/stores/, a store made
 * by each schema version with that version's code) opens in the current
 * server, which first copies it beside itself and logs where, migrates it,
 * and serves the same mail: the same users with the same passwords, over
 * IMAP the same mailboxes, UIDVALIDITY, UIDNEXT, UIDs, flags, internal
 * dates and bytes, over POP3 the same maildrop with the same UIDLs.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { migrations } from "../src/store/migrations.ts";
import type { Manifest } from "./fixtures/make_store_fixtures.ts";
import { mailSnapshot } from "./support/mail_snapshot.ts";
import { startPostino, withStore } from "./support/server.ts";

const STORES = new URL("./fixtures/stores/", import.meta.url).pathname;
const manifest: Manifest = JSON.parse(Deno.readTextFileSync(join(STORES, "manifest.json")));

/** Unpacks a fixture into a new data directory; gives the directory. */
async function unpack(file: string): Promise<string> {
  const dataDir = await Deno.makeTempDir({ prefix: "postino-upgrade-test-" });
  const source = await Deno.open(join(STORES, file));
  const plain = new Response(source.readable.pipeThrough(new DecompressionStream("gzip")));
  await Deno.writeFile(join(dataDir, "postino.db"), new Uint8Array(await plain.arrayBuffer()));
  return dataDir;
}

function inspect(path: string): { version: number; integrity: string } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return {
      version: (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
      integrity: (db.prepare("PRAGMA integrity_check").get() as { integrity_check: string })
        .integrity_check,
    };
  } finally {
    db.close();
  }
}

Deno.test("There is a store fixture for every schema version, oldest first", () => {
  const versions = manifest.fixtures.map((f) => f.version);
  const want = migrations.map((_, i) => i + 1);
  assert.deepEqual(
    versions,
    want,
    `fixtures for ${versions}; the schema has ${migrations.length} versions: run ` +
      "deno run -A tests/fixtures/make_store_fixtures.ts (see tests/fixtures/stores/README.md)",
  );
});

for (const fixture of manifest.fixtures) {
  Deno.test(`The store of schema ${fixture.version} upgrades and serves its mail unchanged`, async () => {
    const dataDir = await unpack(fixture.file);
    const store = join(dataDir, "postino.db");
    const newest = migrations.length;
    try {
      await using server = await startPostino({
        dataDir,
        args: ["--dev", "--imap", "127.0.0.1:0", "--pop3", "127.0.0.1:0"],
      });
      // The copy kept before the upgrade, named in the log.
      const backup = `${store}.v${fixture.version}.backup`;
      const logged = server.entries().filter((e) => e.message.includes("Upgraded the store"));
      if (fixture.version < newest) {
        assert.deepEqual(inspect(backup), { version: fixture.version, integrity: "ok" });
        assert.equal(logged.length, 1, server.logs().join("\n"));
        assert.deepEqual(logged[0].properties, {
          from: fixture.version,
          to: newest,
          backup,
        });
      } else {
        assert.equal(logged.length, 0);
        await assert.rejects(Deno.stat(backup), Deno.errors.NotFound);
      }
      assert.equal(withStore(server, (s) => s.schemaVersion), newest);

      const got = await mailSnapshot({
        imap: server.addresses.imap.port,
        pop3: server.addresses.pop3.port,
        users: fixture.users,
      });
      for (const user of fixture.users) {
        const mine = got[user.address];
        assert.deepEqual(mine.pop3, user.pop3, `${user.address} over POP3`);
        for (const [name, box] of Object.entries(user.imap)) {
          assert.deepEqual(mine.imap?.[name], box, `${user.address}'s ${name} over IMAP`);
        }
        // Mailboxes the old version did not have (standard folders made later) are empty.
        for (const [name, box] of Object.entries(mine.imap ?? {})) {
          if (!(name in user.imap)) {
            assert.deepEqual(box.messages, [], `${user.address}'s new mailbox ${name}`);
          }
        }
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  });
}
