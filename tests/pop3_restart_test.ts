/**
 * UIDL stability (RFC 1939 §7) across sessions and across a restart of the
 * server on the same data, and a server shutdown in the middle of a session
 * with pending DELEs: nothing is removed.
 */
import assert from "node:assert/strict";
import {
  assertAllOk,
  assertDelivered,
  dataOf,
  deliver,
  login,
  poplib,
  simple,
  startPop3Server,
} from "./support/pop3_fixture.ts";

/** UIDL lines as [number, id] pairs. */
function pairs(lines: string[] | undefined): [number, string][] {
  assert.ok(lines);
  return lines.map((l) => {
    const [n, id] = l.split(" ");
    return [Number(n), id];
  });
}

/** Waits (bounded) until `count()` exceeds `before`. */
async function waitForMore(
  count: () => number,
  before: number,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (count() <= before) {
    assert.ok(Date.now() < deadline, "no new log entry in time");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

Deno.test("UIDL is stable across sessions and restarts; a shutdown removes nothing", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "postino-pop3-restart-" });
  try {
    const messages = [simple(1), simple(2), simple(3)];
    let ids: [number, string][];
    {
      await using pop = await startPop3Server({ dataDir });
      await deliver(pop.smtp, messages);
      const first = await poplib([...login(pop.pop3), { op: "uidl" }, { op: "quit" }]);
      const second = await poplib([
        ...login(pop.pop3),
        { op: "uidl" },
        { op: "uidl", arg: 3 },
        { op: "quit" },
      ]);
      assertAllOk([...first, ...second]);
      ids = pairs(first[3].lines);
      assert.equal(ids.length, 3);
      assert.equal(new Set(ids.map(([, id]) => id)).size, 3, "unique ids");
      assert.deepEqual(pairs(second[3].lines), ids, "same ids in the next session");
      assert.equal(second[4].resp, `+OK 3 ${ids[2][1]}`);

      // A session with pending deletions when the server stops.
      const logins = () =>
        pop.server.entries().filter((e) =>
          e.logger === "postino.auth" && e.properties.protocol === "pop3" &&
          e.properties.user === "alice@localhost" && / login /.test(e.message)
        ).length;
      const before = logins();
      const session = poplib([
        ...login(pop.pop3),
        { op: "dele", arg: 1 },
        { op: "dele", arg: 2 },
        { op: "sleep", ms: 3000 },
        { op: "stat" },
      ]);
      await waitForMore(logins, before);
      await new Promise((resolve) => setTimeout(resolve, 500)); // the DELEs are in
      const { code } = await pop.server.stop();
      assert.equal(code, 0, "a clean exit on SIGTERM");
      const r = await session;
      assertAllOk(r.slice(0, 5));
      assert.equal(r[6].ok, false, "the session ended with the server");
      // The session is told before the server hangs up (RFC 2449 §8.1.2 [SYS/TEMP]).
      assert.match(r[6].error ?? "", /^-ERR \[SYS\/TEMP\]/, JSON.stringify(r[6]));
    }

    await using pop = await startPop3Server({ dataDir, addUsers: false });
    const after = await poplib([
      ...login(pop.pop3),
      { op: "stat" },
      { op: "uidl" },
      ...messages.map((_, i) => ({ op: "retr", arg: i + 1 })),
      { op: "quit" },
    ]);
    assertAllOk(after);
    assert.equal(after[3].count, 3, "the shutdown removed nothing");
    assert.deepEqual(pairs(after[4].lines), ids, "same ids after a restart");
    messages.forEach((m, i) => assertDelivered(dataOf(after[5 + i]), m));

    // A new message gets a new id; QUIT after DELE removes for good across a restart.
    await deliver(pop.smtp, [simple(4)]);
    const more = await poplib([
      ...login(pop.pop3),
      { op: "uidl" },
      { op: "dele", arg: 2 },
      { op: "quit" },
    ]);
    assertAllOk(more);
    const four = pairs(more[3].lines);
    assert.deepEqual(four.slice(0, 3), ids);
    assert.equal(new Set(four.map(([, id]) => id)).size, 4);
    const [validity, uid] = four[3][1].split(".").map(Number);
    assert.equal(String(validity), ids[0][1].split(".")[0]);
    assert.ok(uid > Number(ids[2][1].split(".")[1]), "uids grow");
    await pop.server.stop();

    await using again = await startPop3Server({ dataDir, addUsers: false });
    const last = await poplib([...login(again.pop3), { op: "uidl" }, { op: "quit" }]);
    assertAllOk(last);
    assert.deepEqual(
      pairs(last[3].lines).map(([, id]) => id),
      [ids[0][1], ids[2][1], four[3][1]],
    );
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
