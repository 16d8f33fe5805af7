import assert from "node:assert/strict";
import {
  expectArgs,
  parseCommand,
  parseLineCount,
  parseMessageNumber,
  Pop3ArgumentError,
  type Pop3Command,
} from "./parse.ts";

Deno.test("parseCommand() splits keyword, arguments and the rest of the line", () => {
  const table: [string, Pop3Command][] = [
    ["STAT", { keyword: "STAT", args: [], rest: "" }],
    ["stat", { keyword: "STAT", args: [], rest: "" }],
    ["LiSt 2", { keyword: "LIST", args: ["2"], rest: "2" }],
    ["TOP 1 10", { keyword: "TOP", args: ["1", "10"], rest: "1 10" }],
    ["USER alice@localhost", {
      keyword: "USER",
      args: ["alice@localhost"],
      rest: "alice@localhost",
    }],
    // RFC 1939 §7: a password may hold spaces; `rest` keeps them as typed.
    ["PASS a b  c ", { keyword: "PASS", args: ["a", "b", "c"], rest: "a b  c " }],
    ["PASS  lead", { keyword: "PASS", args: ["lead"], rest: " lead" }],
    ["PASS ", { keyword: "PASS", args: [], rest: "" }],
    ["AUTH PLAIN AGEAYg==", {
      keyword: "AUTH",
      args: ["PLAIN", "AGEAYg=="],
      rest: "PLAIN AGEAYg==",
    }],
    ["", { keyword: "", args: [], rest: "" }],
    [" STAT", { keyword: "", args: ["STAT"], rest: "STAT" }],
    ["XYZZY1 a", { keyword: "XYZZY1", args: ["a"], rest: "a" }],
    ["LIST\t1", { keyword: "LIST\t1", args: [], rest: "" }],
  ];
  for (const [line, want] of table) {
    assert.deepEqual(parseCommand(line), want, JSON.stringify(line));
  }
});

Deno.test("parseMessageNumber() accepts positive decimal numbers", () => {
  const table: [string, number][] = [
    ["1", 1],
    ["2", 2],
    ["10", 10],
    ["007", 7],
    ["999999999", 999_999_999],
  ];
  for (const [text, want] of table) assert.equal(parseMessageNumber(text), want, text);
});

Deno.test("parseMessageNumber() rejects zero, signs, non-digits and overlong numbers", () => {
  const table: [string | undefined, RegExp][] = [
    [undefined, /^Missing message number$/],
    ["", /^Invalid message number: $/],
    ["0", /^Invalid message number: 0$/],
    ["00", /^Invalid message number/],
    ["-1", /^Invalid message number: -1$/],
    ["+1", /^Invalid message number/],
    ["1.5", /^Invalid message number/],
    ["x", /^Invalid message number: x$/],
    ["1x", /^Invalid message number/],
    [" 1", /^Invalid message number/],
    ["1e3", /^Invalid message number/],
    ["0x10", /^Invalid message number/],
    ["١", /^Invalid message number/], // an Arabic-Indic digit
    ["1234567890", /^Invalid message number/],
    ["9".repeat(100), /^Invalid message number: 9{20}$/], // echoed, but cut short
  ];
  for (const [text, message] of table) {
    assert.throws(
      () => parseMessageNumber(text),
      (e) => e instanceof Pop3ArgumentError && message.test(e.message),
      JSON.stringify(text),
    );
  }
});

Deno.test("parseLineCount() accepts zero and positive numbers", () => {
  const table: [string, number][] = [["0", 0], ["1", 1], ["00", 0], ["100", 100], [
    "999999999",
    999_999_999,
  ]];
  for (const [text, want] of table) assert.equal(parseLineCount(text), want, text);
});

Deno.test("parseLineCount() rejects signs, non-digits and overlong numbers", () => {
  const table: [string | undefined, RegExp][] = [
    [undefined, /^Missing number of lines$/],
    ["", /^Invalid number of lines: $/],
    ["-1", /^Invalid number of lines: -1$/],
    ["x", /^Invalid number of lines: x$/],
    ["1.0", /^Invalid number of lines/],
    ["1234567890", /^Invalid number of lines/],
  ];
  for (const [text, message] of table) {
    assert.throws(
      () => parseLineCount(text),
      (e) => e instanceof Pop3ArgumentError && message.test(e.message),
      JSON.stringify(text),
    );
  }
});

Deno.test("expectArgs() checks the argument count", () => {
  const ok: [string, number, number][] = [
    ["STAT", 0, 0],
    ["LIST", 0, 1],
    ["LIST 1", 0, 1],
    ["TOP 1 2", 2, 2],
  ];
  for (const [line, min, max] of ok) expectArgs(parseCommand(line), min, max);
  const bad: [string, number, number, string][] = [
    ["STAT 1", 0, 0, "STAT: too many arguments"],
    ["LIST 1 2", 0, 1, "LIST: too many arguments"],
    ["RETR", 1, 1, "RETR: missing argument"],
    ["TOP 1", 2, 2, "TOP: missing argument"],
    ["TOP 1 2 3", 2, 2, "TOP: too many arguments"],
  ];
  for (const [line, min, max, message] of bad) {
    assert.throws(
      () => expectArgs(parseCommand(line), min, max),
      (e) => e instanceof Pop3ArgumentError && e.message === message,
      line,
    );
  }
});

Deno.test("Pop3ArgumentError is an Error with its own name", () => {
  const e = new Pop3ArgumentError("Invalid message number: x");
  assert.ok(e instanceof Error);
  assert.equal(e.name, "Pop3ArgumentError");
  assert.equal(e.message, "Invalid message number: x");
});
