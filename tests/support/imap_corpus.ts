/**
 * The INBOX the imaplib message tests work on: four messages with different
 * senders, subjects, bodies, sizes, flags and internal dates, APPENDed after
 * a first one that is expunged, so message numbers and uids differ (message
 * n has uid n + 1). Message 3 is a MIME fixture whose FETCH answers Dovecot
 * gave are stored beside it (tests/fixtures/mime/alternative.*).
 */
import assert from "node:assert/strict";
import { assertOk, bytesArg, call, imaplib, imapLogin, message, raw } from "./imap_fixture.ts";

const FIXTURES = new URL("../fixtures/mime/", import.meta.url);

/** A MIME fixture's bytes (CRLF line ends, as APPEND sends them). */
export function fixture(name: string): Uint8Array {
  const text = new TextDecoder().decode(Deno.readFileSync(new URL(`${name}.eml`, FIXTURES)));
  return new TextEncoder().encode(text.replace(/\r?\n/g, "\r\n"));
}

/** Dovecot's FETCH answers for a fixture: request -> untagged response without "* ". */
export function dovecotAnswers(name: string): { request: string; response: string }[] {
  const json = JSON.parse(
    new TextDecoder().decode(Deno.readFileSync(new URL(`${name}.dovecot.json`, FIXTURES))),
  );
  return json.responses;
}

/** 6000 octets or so of text lines. */
function bigBody(): string {
  const lines: string[] = [];
  for (let i = 0; i < 100; i++) lines.push(`line ${String(i).padStart(3, "0")} ${"x".repeat(50)}`);
  return lines.join("\n") + "\n";
}

/** One message of the corpus. */
export interface CorpusMessage {
  bytes: Uint8Array;
  /** APPEND flags. */
  flags: string;
  /** APPEND date-time. */
  date: string;
}

/** Message number n (1-based) is CORPUS[n - 1]; its uid is n + 1. */
export const CORPUS: CorpusMessage[] = [
  {
    bytes: message({
      from: '"Alice Example" <alice@remote.example>',
      subject: "Quarterly report",
      body: "The numbers are in.\n",
    }),
    flags: "(\\Seen)",
    date: "01-Jan-2020 10:00:00 +0000",
  },
  {
    bytes: message({
      from: "bob@remote.example",
      subject: "Lunch?",
      body: "Pizza at noon, Bob\n",
      headers: { "X-Mailer": "Postino-Test" },
    }),
    flags: "()",
    date: "15-Jun-2021 12:00:00 +0200",
  },
  { bytes: fixture("alternative"), flags: "($Work \\Flagged)", date: "05-Mar-2026 13:00:00 +0000" },
  {
    bytes: message({
      from: "Carol <carol@remote.example>",
      subject: "Big attachment",
      body: bigBody(),
    }),
    flags: "(\\Draft)",
    date: "20-Feb-2026 08:30:00 +0000",
  },
];

/**
 * Fills alice's INBOX with the corpus (a throwaway first, expunged), checking
 * APPENDUID on the way: imaplib's APPEND (synchronising literal) for three,
 * a raw APPEND with a LITERAL+ non-synchronising literal for the big one.
 */
export async function seedInbox(port: number): Promise<void> {
  const throwaway = message({ subject: "throwaway", body: "gone soon\n" });
  const [a, b, c, d] = CORPUS;
  const r = await imaplib([
    ...imapLogin(port),
    call("append", "INBOX", null, null, bytesArg(throwaway)), // 2
    call("append", "INBOX", a.flags, `"${a.date}"`, bytesArg(a.bytes)), // 3
    call("append", "INBOX", b.flags, `"${b.date}"`, bytesArg(b.bytes)), // 4
    call("append", "INBOX", c.flags, `"${c.date}"`, bytesArg(c.bytes)), // 5
    raw(`APPEND INBOX ${d.flags} "${d.date}"`, { literal_b64: bytesArg(d.bytes).b64, plus: true }), // 6
    call("select", "INBOX"), // 7
    call("store", "1", "+FLAGS", "(\\Deleted)"), // 8
    call("expunge"), // 9
    { op: "logout" },
  ]);
  r.forEach((x, i) => assertOk(x, `seeding step ${i}`));
  for (const [i, uid] of [[2, 1], [3, 2], [4, 3], [5, 4], [6, 5]]) {
    assert.match(r[i].wire, new RegExp(`^\\S+ OK \\[APPENDUID \\d+ ${uid}\\] `, "m"));
  }
  assert.deepEqual(r[7].data, ["5"]);
  assert.deepEqual(r[9].data, ["1"], "EXPUNGE reports message 1");
}
