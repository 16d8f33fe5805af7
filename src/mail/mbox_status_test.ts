import assert from "node:assert/strict";
import { takeMboxStatus, withMboxStatus } from "./mbox_status.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const b = (s: string) => encoder.encode(s);

Deno.test("takeMboxStatus() takes Status, X-Status and X-Keywords out and reads them", async (t) => {
  const cases: {
    name: string;
    input: string;
    message: string;
    flags: string[];
    keywords?: string[];
  }[] = [
    {
      name: "none: the same bytes",
      input: "Subject: a\r\n\r\nbody\r\n",
      message: "Subject: a\r\n\r\nbody\r\n",
      flags: [],
    },
    {
      name: "mutt and Python: Status RO, X-Status AF",
      input: "Subject: a\r\nStatus: RO\r\nX-Status: AF\r\n\r\nbody\r\n",
      message: "Subject: a\r\n\r\nbody\r\n",
      flags: ["\\Seen", "\\Answered", "\\Flagged"],
    },
    {
      name: "Dovecot: T is a draft, D deleted; keywords",
      input: "Status: O\r\nX-Status: DT\r\nX-Keywords: $Label1 work\r\nSubject: a\r\n\r\nb\r\n",
      message: "Subject: a\r\n\r\nb\r\n",
      flags: ["\\Draft", "\\Deleted"],
      keywords: ["$Label1", "work"],
    },
    {
      name: "O alone is no flag",
      input: "Subject: a\r\nStatus: O\r\n\r\n",
      message: "Subject: a\r\n\r\n",
      flags: [],
    },
    {
      name: "fields in the body are not touched",
      input: "Subject: a\r\n\r\nStatus: RO\r\n",
      message: "Subject: a\r\n\r\nStatus: RO\r\n",
      flags: [],
    },
    {
      name: "a header of nothing but Status leaves the empty message",
      input: "Status: RO\r\n",
      message: "",
      flags: ["\\Seen"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const got = takeMboxStatus(b(c.input));
      assert.equal(decoder.decode(got.message), c.message);
      assert.deepEqual(got.flags, c.flags);
      assert.deepEqual(got.keywords, c.keywords ?? []);
    });
  }
});

Deno.test("withMboxStatus() adds the fields at the end of the header; takeMboxStatus() undoes it", async (t) => {
  const messages: [string, string][] = [
    ["Subject: a\r\n\r\nbody\r\n", "Subject: a\r\nStatus: RO\r\nX-Status: F\r\n\r\nbody\r\n"],
    ["Subject: headers only\r\n", "Subject: headers only\r\nStatus: RO\r\nX-Status: F\r\n"],
    ["", "Status: RO\r\nX-Status: F\r\n"],
    [
      "\r\nbody after an empty header\r\n",
      "Status: RO\r\nX-Status: F\r\n\r\nbody after an empty header\r\n",
    ],
    ["Subject: lf\n\nbody\n", "Subject: lf\nStatus: RO\r\nX-Status: F\r\n\nbody\n"],
    ["Subject: a\r\n\r\n", "Subject: a\r\nStatus: RO\r\nX-Status: F\r\n\r\n"],
  ];
  for (const [message, want] of messages) {
    await t.step(JSON.stringify(message), () => {
      const marked = withMboxStatus(b(message), ["\\Seen", "\\Flagged"], []);
      assert.equal(decoder.decode(marked), want);
      const back = takeMboxStatus(marked);
      assert.equal(decoder.decode(back.message), message);
      assert.deepEqual(back.flags, ["\\Seen", "\\Flagged"]);
    });
  }
  await t.step("every flag and keywords; fields the message had are replaced", () => {
    const flags = ["\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted"];
    const marked = withMboxStatus(
      b("Status: O\r\nSubject: a\r\n\r\nx\r\n"),
      flags,
      ["$Forwarded", "work"],
    );
    assert.equal(
      decoder.decode(marked),
      "Subject: a\r\nStatus: RO\r\nX-Status: AFTD\r\nX-Keywords: $Forwarded work\r\n\r\nx\r\n",
    );
    const back = takeMboxStatus(marked);
    assert.deepEqual(back.flags, flags);
    assert.deepEqual(back.keywords, ["$Forwarded", "work"]);
  });
  await t.step("no flags: Status O only", () => {
    assert.equal(
      decoder.decode(withMboxStatus(b("A: b\r\n\r\n"), [], [])),
      "A: b\r\nStatus: O\r\n\r\n",
    );
  });
});
