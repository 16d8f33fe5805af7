/**
 * Bounded fuzzing of the IMAP command parser with a fixed seed: mutations of
 * valid commands (bytes dropped, repeated, swapped, replaced with syntax
 * characters) must either parse or fail with ImapParseError, never with
 * anything else, so no client input can crash a session.
 */
import assert from "node:assert/strict";
import { ImapParseError } from "./command.ts";
import { parseCommand } from "./parse.ts";
import { random } from "../../tests/support/random.ts";

const SEEDS = [
  'a1 LOGIN alice@example.com "a long secret"',
  "a2 SELECT INBOX (CONDSTORE)",
  "a3 UID FETCH 1:*,5,$ (UID FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100> BINARY[1] MODSEQ) (CHANGEDSINCE 5 VANISHED)",
  'a4 SEARCH RETURN (MIN MAX COUNT SAVE) CHARSET UTF-8 OR (FROM bob SINCE 1-Jan-2026) NOT (SMALLER 10 UID 3:5 MODSEQ 7) SUBJECT "x y"',
  "a5 STORE 1:3 +FLAGS.SILENT (\\Seen $Work) ",
  "a6 UID STORE 2 (UNCHANGEDSINCE 9) FLAGS (\\Deleted)",
  'a7 LIST (SUBSCRIBED SPECIAL-USE) "" ("*" INBOX%) RETURN (CHILDREN STATUS (MESSAGES UNSEEN SIZE))',
  'a8 STATUS "Sent" (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)',
  'a9 APPEND Drafts (\\Draft) "05-Mar-2026 22:30:00 -0500" {3+}',
  "b1 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1,3,5 1,7,9)))",
  "b2 UID MOVE 4:* Archive",
  "b3 ENABLE QRESYNC IMAP4rev2 UTF8=ACCEPT",
  'b4 ID ("name" "test" "version" NIL)',
  "b5 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
  'b6 RENAME "Work/Old" Work/New',
  "b7 UID EXPUNGE 1:5,9",
  "b8 FETCH 1 (BODY[]<0.10> RFC822.SIZE ENVELOPE BODYSTRUCTURE INTERNALDATE)",
];
const SPECIALS = [
  '"',
  "(",
  ")",
  "{",
  "}",
  "[",
  "]",
  "<",
  ">",
  "\\",
  "*",
  "%",
  " ",
  "$",
  ":",
  ",",
  ".",
  "~",
  "+",
  "\0",
  "\u00e9",
  "9",
];

function mutate(text: string, rnd: () => number): string {
  let s = text;
  const edits = 1 + Math.floor(rnd() * 4);
  for (let e = 0; e < edits; e++) {
    const i = Math.floor(rnd() * (s.length + 1));
    const what = rnd();
    if (what < 0.3) s = s.slice(0, i) + s.slice(i + 1 + Math.floor(rnd() * 5));
    else if (what < 0.6) {
      s = s.slice(0, i) + SPECIALS[Math.floor(rnd() * SPECIALS.length)] + s.slice(i);
    } else if (what < 0.8) {
      s = s.slice(0, i) + s.slice(i, i + 8).repeat(1 + Math.floor(rnd() * 3)) + s.slice(i);
    } else s = s.slice(0, i) + s.slice(i).split("").reverse().join("");
  }
  return s;
}

Deno.test("parseCommand() answers mutated commands with a command or ImapParseError only", () => {
  const rnd = random(20261129);
  let parsed = 0;
  for (let n = 0; n < 20_000; n++) {
    const text = mutate(SEEDS[n % SEEDS.length], rnd);
    const literal = rnd() < 0.2 ? new TextEncoder().encode("abc") : undefined;
    const parts = literal ? [`${text} {3}`, literal, ""] : [text];
    for (const utf8 of [false, true]) {
      try {
        parseCommand({ parts }, { utf8 });
        parsed++;
      } catch (err) {
        assert.ok(err instanceof ImapParseError, `${JSON.stringify(text)}: ${err}`);
      }
    }
  }
  assert.ok(parsed > 1000, `only ${parsed} mutations parsed: the mutations are too destructive`);
});
