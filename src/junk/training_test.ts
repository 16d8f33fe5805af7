import assert from "node:assert/strict";
import { lessonOfMove, lessonOfStore, type MailboxKind } from "./training.ts";

const box = (name: string, specialUse?: string): MailboxKind => ({ name, specialUse });
const INBOX = box("INBOX");
const JUNK = box("Junk", "\\Junk");
const TRASH = box("Trash", "\\Trash");
const SENT = box("Sent", "\\Sent");
const DRAFTS = box("Drafts", "\\Drafts");
const ARCHIVE = box("Archive", "\\Archive");
const FOLDER = box("Projects/2026");

Deno.test("lessonOfMove(): into Junk spam; out of Junk or filed from INBOX ham; Trash nothing", () => {
  const table: [MailboxKind, MailboxKind, string | undefined][] = [
    [INBOX, JUNK, "spam"],
    [SENT, JUNK, "spam"],
    [TRASH, JUNK, "spam"],
    [FOLDER, JUNK, "spam"],
    [JUNK, INBOX, "ham"],
    [JUNK, ARCHIVE, "ham"],
    [JUNK, FOLDER, "ham"],
    [JUNK, TRASH, undefined],
    [JUNK, JUNK, undefined],
    [INBOX, ARCHIVE, "ham"],
    [box("inbox"), FOLDER, "ham"],
    [INBOX, TRASH, undefined],
    [INBOX, SENT, undefined],
    [INBOX, DRAFTS, undefined],
    [INBOX, INBOX, undefined],
    [ARCHIVE, FOLDER, undefined],
    [TRASH, INBOX, undefined],
    [SENT, ARCHIVE, undefined],
  ];
  for (const [from, to, want] of table) {
    assert.equal(lessonOfMove(from, to), want, `${from.name} -> ${to.name}`);
  }
});

Deno.test("lessonOfStore(): $Junk spam, $NotJunk ham, \\Answered outside Junk ham", () => {
  const table: [MailboxKind, boolean, string[], string | undefined][] = [
    [INBOX, false, ["$Junk"], "spam"],
    [INBOX, false, ["$junk", "$Label1"], "spam"],
    [JUNK, false, ["$NotJunk"], "ham"],
    [INBOX, false, ["$NOTJUNK"], "ham"],
    [INBOX, false, ["$Junk", "$NotJunk"], undefined],
    [INBOX, true, ["$Junk", "$NotJunk"], undefined],
    [INBOX, false, [], undefined],
    [INBOX, false, ["Junk"], undefined],
    [INBOX, true, [], "ham"],
    [ARCHIVE, true, [], "ham"],
    [JUNK, true, [], undefined],
    [INBOX, true, ["$Junk"], "spam"],
  ];
  for (const [mailbox, answered, keywords, want] of table) {
    assert.equal(
      lessonOfStore(mailbox, answered, keywords),
      want,
      `${mailbox.name} answered=${answered} ${keywords.join(" ")}`,
    );
  }
});
