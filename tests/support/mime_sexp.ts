/**
 * Test helpers for the MIME/FETCH work: a reader of IMAP responses
 * (s-expressions with quoted strings and literals), the saved Dovecot answers
 * of tests/fixtures/mime/*.dovecot.json (written by mime_oracle.py), and a
 * reader of BODY[section] specs.
 */

import type { Section } from "../../src/imap/command.ts";

/** A parsed IMAP value: NIL, an atom, a string (quoted or literal, as bytes), or a list. */
export type Sexp = null | string | Uint8Array | Sexp[];

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Reads IMAP values from `data` until its end (or the `)` closing the list being read). */
export function parseSexp(data: Uint8Array | string): Sexp[] {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  const [items, end] = readList(bytes, 0);
  if (end < bytes.length) throw new Error(`Cannot parse IMAP data: stray ')' at ${end - 1}`);
  return items;
}

function readList(b: Uint8Array, pos: number): [Sexp[], number] {
  const items: Sexp[] = [];
  let i = pos;
  while (i < b.length) {
    const c = b[i];
    if (c === 0x20 || c === 0x0d || c === 0x0a) {
      i++;
    } else if (c === 0x28) {
      const [sub, next] = readList(b, i + 1);
      items.push(sub);
      i = next;
    } else if (c === 0x29) {
      return [items, i + 1];
    } else if (c === 0x22) {
      const out: number[] = [];
      i++;
      while (i < b.length && b[i] !== 0x22) {
        if (b[i] === 0x5c) i++;
        out.push(b[i++]);
      }
      if (i >= b.length) throw new Error("Cannot parse IMAP data: unterminated quoted string");
      items.push(new Uint8Array(out));
      i++;
    } else if (c === 0x7b) {
      const close = b.indexOf(0x7d, i);
      const n = Number(decoder.decode(b.subarray(i + 1, close)).replace(/\+$/, ""));
      if (b[close + 1] !== 0x0d || b[close + 2] !== 0x0a || !Number.isInteger(n)) {
        throw new Error(`Cannot parse IMAP data: bad literal at ${i}`);
      }
      const start = close + 3;
      if (start + n > b.length) {
        throw new Error("Cannot parse IMAP data: literal runs past the end");
      }
      items.push(b.slice(start, start + n));
      i = start + n;
    } else {
      let j = i;
      let depth = 0;
      while (
        j < b.length && (depth > 0 || (b[j] !== 0x20 && b[j] !== 0x28 && b[j] !== 0x29 &&
          b[j] !== 0x0d && b[j] !== 0x0a))
      ) {
        if (b[j] === 0x5b) depth++;
        else if (b[j] === 0x5d) depth--;
        j++;
      }
      const atom = decoder.decode(b.subarray(i, j));
      items.push(atom.toUpperCase() === "NIL" ? null : atom);
      i = j;
    }
  }
  return [items, i];
}

/** A value as plain JSON: strings decoded as UTF-8, so quoted and literal forms compare equal. */
export function plain(value: Sexp): unknown {
  if (value instanceof Uint8Array) return decoder.decode(value);
  if (Array.isArray(value)) return value.map(plain);
  return value;
}

/** Parses one rendered value (an ENVELOPE, BODYSTRUCTURE, ...) that must be a single list. */
export function parseOne(rendered: string): Sexp[] {
  const items = parseSexp(rendered);
  if (items.length !== 1 || !Array.isArray(items[0])) {
    throw new Error(`Expected one parenthesised list, got ${items.length} values`);
  }
  return items[0];
}

/** One saved Dovecot answer: the FETCH item asked for, and the answer's value. */
export interface DovecotAnswer {
  request: string;
  /** The value of the item (for BODY[...], the string's bytes); undefined when Dovecot refused. */
  value?: Sexp;
  error?: string;
}

/** The saved Dovecot answers for fixture `name` (without `.eml`). */
export function dovecotAnswers(dir: URL, name: string): DovecotAnswer[] {
  const json = JSON.parse(Deno.readTextFileSync(new URL(`${name}.dovecot.json`, dir))) as {
    responses: {
      request: string;
      response?: string;
      response_base64?: string;
      error?: string;
    }[];
  };
  return json.responses.map((r) => {
    if (r.error !== undefined) return { request: r.request, error: r.error };
    const raw = r.response !== undefined
      ? encoder.encode(r.response)
      : Uint8Array.from(atob(r.response_base64!), (c) => c.charCodeAt(0));
    // `N (ITEM value)`: imaplib drops the word FETCH.
    const [, list] = parseSexp(raw) as [string, Sexp[]];
    return { request: r.request, value: list[1] };
  });
}

/** The saved answer to `request`; throws when the oracle has none. */
export function answer(answers: DovecotAnswer[], request: string): Sexp {
  const found = answers.find((a) => a.request === request);
  if (!found || found.value === undefined) throw new Error(`No Dovecot answer for ${request}`);
  return found.value;
}

/** `BODY.PEEK[1.2.HEADER.FIELDS (A B)]` as a Section. */
export function sectionOf(request: string): Section {
  const m = /^BODY\.PEEK\[(.*)\]$/.exec(request);
  if (!m) throw new Error(`Not a BODY.PEEK request: ${request}`);
  const spec = m[1];
  const num = /^(\d+(?:\.\d+)*)(?:\.|$)/.exec(spec);
  const part = num ? num[1].split(".").map(Number) : [];
  const rest = num ? spec.slice(num[0].length) : spec;
  if (rest === "") return { part };
  const fields = /^(HEADER\.FIELDS(?:\.NOT)?) \((.*)\)$/.exec(rest);
  if (fields) {
    return {
      part,
      text: fields[1] as "HEADER.FIELDS" | "HEADER.FIELDS.NOT",
      fields: fields[2].split(" ").map((f) => f.toUpperCase()),
    };
  }
  return { part, text: rest as "HEADER" | "TEXT" | "MIME" };
}

/** Bare LFs made CRLF, as Dovecot serves a message stored with LF line ends. */
export function toCrlf(bytes: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i - 1] !== 0x0d) out.push(0x0d);
    out.push(bytes[i]);
  }
  return new Uint8Array(out);
}

/** The fixture directory. */
export const FIXTURES = new URL("../fixtures/mime/", import.meta.url);

/** The names (without `.eml`) of all fixtures, sorted. */
export function fixtureNames(): string[] {
  return [...Deno.readDirSync(FIXTURES)]
    .filter((e) => e.name.endsWith(".eml"))
    .map((e) => e.name.slice(0, -4))
    .sort();
}

/** The bytes of fixture `name`. */
export function fixture(name: string): Uint8Array {
  return Deno.readFileSync(new URL(`${name}.eml`, FIXTURES));
}
