/**
 * FETCH parsing (RFC 9051 §6.4.5, CONDSTORE/QRESYNC RFC 7162, BINARY RFC
 * 3516): the macros, the fetch items with their sections and partials, and
 * the fetch modifiers.
 *
 * @module
 */
import type { Command, FetchArgs, FetchItem, Section } from "./command.ts";
import { type Cursor, isDigit, isNameChar, words } from "./cursor.ts";

/** FETCH macros (RFC 9051 §6.4.5). */
const FETCH_MACROS: Record<string, string[]> = {
  ALL: words("FLAGS INTERNALDATE RFC822.SIZE ENVELOPE"),
  FAST: words("FLAGS INTERNALDATE RFC822.SIZE"),
  FULL: words("FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY"),
};

/** FETCH items without a section (RFC 9051 §9 fetch-att). */
const SIMPLE_FETCH_ITEMS = new Set([
  ...words("UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE MODSEQ"),
  ...words("RFC822 RFC822.HEADER RFC822.TEXT"),
]);

/**
 * RFC 9051 §6.4.5, RFC 7162 §3.1.4 and §3.2.6: FETCH SP sequence-set SP
 * ("ALL" / "FULL" / "FAST" / fetch-att / "(" fetch-att *(SP fetch-att) ")")
 * [SP "(" fetch-modifier *(SP fetch-modifier) ")"].
 */
export function parseFetch(c: Cursor, tag: string, name: string): Command {
  c.sp();
  const set = c.sequenceSet();
  c.sp();
  let items: FetchItem[];
  const macro = c.peekWord();
  if (c.peek() === "(") {
    items = c.list(() => parseFetchItem(c));
  } else if (Object.hasOwn(FETCH_MACROS, macro)) {
    c.tryWord(macro);
    items = FETCH_MACROS[macro].map((item) => ({ item }) as FetchItem);
  } else {
    items = [parseFetchItem(c)];
  }
  const args: FetchArgs = { set, items };
  if (c.trySp()) {
    c.list(() => {
      const modifier = c.word("fetch modifier");
      if (modifier === "CHANGEDSINCE") {
        c.sp();
        args.changedSince = c.modseq("CHANGEDSINCE");
      } else if (modifier === "VANISHED") {
        args.vanished = true;
      } else {
        throw c.fail(`unknown fetch modifier ${modifier.slice(0, 40)}`);
      }
    });
  }
  // RFC 7162 §3.2.6: VANISHED only with UID FETCH and CHANGEDSINCE.
  if (args.vanished && (name !== "UID FETCH" || args.changedSince === undefined)) {
    throw c.fail("VANISHED needs UID FETCH and CHANGEDSINCE");
  }
  return { tag, name: name as "FETCH", args };
}

/** RFC 9051 §9: fetch-att. */
function parseFetchItem(c: Cursor): FetchItem {
  const name = c.take(isNameChar).toUpperCase();
  if (name === "") throw c.bad("fetch item");
  if (SIMPLE_FETCH_ITEMS.has(name) || (name === "BODY" && c.peek() !== "[")) {
    return { item: name as "UID" };
  }
  switch (name) {
    case "BODY":
    case "BODY.PEEK": {
      const section = parseSection(c);
      return withPartial(c, { item: "BODY[]", section, peek: name === "BODY.PEEK" });
    }
    case "BINARY":
    case "BINARY.PEEK": {
      const section = parseBinarySection(c);
      return withPartial(c, { item: "BINARY[]", section, peek: name === "BINARY.PEEK" });
    }
    case "BINARY.SIZE":
      return { item: "BINARY.SIZE[]", section: parseBinarySection(c), peek: false };
  }
  throw c.fail(`unknown fetch item ${name.slice(0, 40)}`);
}

/** RFC 9051 §9: partial = "<" number64 "." nz-number64 ">", when present. */
function withPartial(c: Cursor, item: FetchItem): FetchItem {
  if (c.peek() !== "<") return item;
  c.skip();
  const offset = c.number64("partial offset");
  c.expect(".");
  const count = c.number64("partial length", true);
  c.expect(">");
  return { ...item, partial: { offset, count } } as FetchItem;
}

/**
 * RFC 9051 §9: section = "[" [section-spec] "]"; section-spec =
 * section-msgtext / (section-part ["." section-text]).
 */
function parseSection(c: Cursor): Section {
  c.expect("[");
  const section: Section = { part: [] };
  if (isDigit(c.peek())) {
    section.part = parseSectionPart(c);
    if (c.peek() !== ".") {
      c.expect("]");
      return section;
    }
    c.skip();
  } else if (c.peek() === "]") {
    c.skip();
    return section;
  }
  const text = c.take(isNameChar).toUpperCase();
  switch (text) {
    case "HEADER":
    case "TEXT":
      section.text = text;
      break;
    case "MIME":
      // section-text = section-msgtext / "MIME": MIME only after a part number.
      if (section.part.length === 0) throw c.fail("MIME needs a part number");
      section.text = text;
      break;
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT":
      c.sp();
      section.text = text;
      section.fields = c.list(() => c.astring("header field name").toUpperCase());
      break;
    default:
      throw text === "" ? c.bad("section") : c.fail(`invalid section ${text.slice(0, 40)}`);
  }
  c.expect("]");
  return section;
}

/** RFC 9051 §9: section-part = nz-number *("." nz-number), stopping before "." section-text. */
function parseSectionPart(c: Cursor): number[] {
  const part = [c.nzNumber("section part")];
  while (c.peek() === "." && isDigit(c.peek(1))) {
    c.skip();
    part.push(c.nzNumber("section part"));
  }
  return part;
}

/** RFC 9051 §9: section-binary = "[" [section-part] "]". */
function parseBinarySection(c: Cursor): Section {
  c.expect("[");
  const part = c.peek() === "]" ? [] : parseSectionPart(c);
  c.expect("]");
  return { part };
}
