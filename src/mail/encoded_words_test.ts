import assert from "node:assert/strict";
import { decodeEncodedWords } from "./encoded_words.ts";

const CASES: [string, string][] = [
  ["plain text", "plain text"],
  ["=?utf-8?B?R3LDvMOfZQ==?=", "Grüße"],
  ["=?ISO-8859-1?Q?Gr=FC=DFe_aus_K=F6ln?=", "Grüße aus Köln"],
  ["Re: =?utf-8?q?caf=C3=A9?= ok", "Re: café ok"],
  ["=?utf-8?B?YQ==?= =?utf-8?B?Yg==?=", "ab"],
  ["=?utf-8?B?YQ==?= x =?utf-8?B?Yg==?=", "a x b"],
  ["=?unknown-charset?B?YQ==?=", "=?unknown-charset?B?YQ==?="],
  ["=?utf-8?B?!!!?=", "=?utf-8?B?!!!?="],
  ["=?utf-8*en?Q?hi?=", "hi"],
];

for (const [input, want] of CASES) {
  Deno.test(`decodeEncodedWords(${JSON.stringify(input)}) is ${JSON.stringify(want)}`, () => {
    assert.equal(decodeEncodedWords(input), want);
  });
}
