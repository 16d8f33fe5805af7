import assert from "node:assert/strict";
import { lessonOfKeywords, lessonOfMove } from "./training.ts";

Deno.test("lessonOfMove(): into Junk is spam, out of it ham, except to Trash", () => {
  const table: [string | undefined, string | undefined, string | undefined][] = [
    [undefined, "\\Junk", "spam"],
    ["\\Sent", "\\Junk", "spam"],
    ["\\Trash", "\\Junk", "spam"],
    ["\\Junk", undefined, "ham"],
    ["\\Junk", "\\Archive", "ham"],
    ["\\Junk", "\\Trash", undefined],
    ["\\Junk", "\\Junk", undefined],
    [undefined, undefined, undefined],
    [undefined, "\\Trash", undefined],
  ];
  for (const [from, to, want] of table) {
    assert.equal(lessonOfMove(from, to), want, `${from} -> ${to}`);
  }
});

Deno.test("lessonOfKeywords(): $Junk is spam, $NotJunk ham, case-insensitive; both or neither nothing", () => {
  const table: [string[], string | undefined][] = [
    [["$Junk"], "spam"],
    [["$junk", "$Label1"], "spam"],
    [["$NotJunk"], "ham"],
    [["$NOTJUNK"], "ham"],
    [["$Junk", "$NotJunk"], undefined],
    [[], undefined],
    [["Junk"], undefined],
  ];
  for (const [keywords, want] of table) {
    assert.equal(lessonOfKeywords(keywords), want, keywords.join(" "));
  }
});
