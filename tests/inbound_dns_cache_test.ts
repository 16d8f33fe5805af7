/**
 * A run of mail from one sending domain costs one DNS query per name per
 * TTL: the real server, its checks asking a loopback stub that logs every
 * query, messages sent by Python's smtplib, several at once.
 */
import assert from "node:assert/strict";
import {
  ALICE,
  assertDelivered,
  deliver,
  mail,
  startInbound,
  storedMessages,
} from "./support/inbound_fixture.ts";

/** Above the resolver's 5 s floor, so the records' own TTL is what counts. */
const TTL = 6;

const ZONE = {
  "flood.test": { TXT: ["v=spf1 ip4:127.0.0.1 -all"] },
  "_dmarc.flood.test": { TXT: ["v=DMARC1; p=none"] },
};

function countsByQuestion(queries: { name: string; type: string }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const q of queries) {
    counts.set(`${q.name} ${q.type}`, (counts.get(`${q.name} ${q.type}`) ?? 0) + 1);
  }
  return counts;
}

Deno.test("a run of messages from one domain makes one DNS query per name per TTL", async () => {
  // Negative answers (a name mailauth may look for that the zone lacks) cached for 30 s.
  await using mx = await startInbound(ZONE, { ttl: TTL, negativeTtl: 30 });
  const send = (i: number) =>
    deliver(mx, {
      sender: `bounce@flood.test`,
      message: mail({ from: `news@flood.test`, subject: `flood ${i}` }),
    });
  // Eight at once (their lookups in flight together), then four one after the other.
  for (const r of await Promise.all(Array.from({ length: 8 }, (_, i) => send(i)))) {
    assertDelivered(r);
  }
  for (let i = 8; i < 12; i++) assertDelivered(await send(i));
  const first = countsByQuestion(mx.dns.queries);
  assert.equal(first.get("flood.test TXT"), 1, "SPF asked once");
  assert.equal(first.get("_dmarc.flood.test TXT"), 1, "DMARC asked once");
  for (const [question, n] of first) assert.equal(n, 1, `${question} asked ${n} times`);
  const stored = storedMessages(mx, ALICE.user);
  assert.equal(stored.length, 12);
  for (const m of stored) assert.match(m, /spf=pass/);

  // After the TTL, the next message asks again, once per name.
  await new Promise((resolve) => setTimeout(resolve, TTL * 1000 + 200));
  assertDelivered(await send(12));
  const second = countsByQuestion(mx.dns.queries);
  assert.equal(second.get("flood.test TXT"), 2);
  assert.equal(second.get("_dmarc.flood.test TXT"), 2);
  assert.match(storedMessages(mx, ALICE.user).at(-1)!, /spf=pass/);
});
