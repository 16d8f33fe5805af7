/**
 * A message's summary, computed once when it is committed (by the store's
 * writer thread) so that no reader parses the message again. Its main reader
 * is IMAP FETCH: the ENVELOPE, BODYSTRUCTURE and BODY
 * pre-rendered, and the byte ranges of every MIME part, so that any
 * BODY[section] is a slice of the stored message (RFC 9051 §6.4.5).
 *
 * Invariants: a MessageMeta is plain JSON (store it as it is); its ranges
 * point into the exact bytes it was built from; `sectionRange()` never
 * returns a range outside them.
 */

import { type ByteRange, type MimePart, parseMime, splitHeader } from "./mime.ts";
import { renderEnvelope } from "./envelope.ts";
import { renderBodyStructure } from "./bodystructure.ts";

/** Which part of a message a section names (RFC 9051 §6.4.5 section-spec). */
export interface SectionPath {
  /** Part numbers, e.g. [1, 2] for "1.2"; empty for the whole message. */
  part: number[];
  /** What of that part; undefined: all of it. */
  text?: "HEADER" | "HEADER.FIELDS" | "HEADER.FIELDS.NOT" | "TEXT" | "MIME";
}

/**
 * Byte ranges of one MIME entity, `[start, end)` into the message. The root
 * is the message itself.
 */
export interface PartOffsets {
  /** Header: the message header for a message, the MIME header for a body part. */
  h: [number, number];
  /** Body. */
  b: [number, number];
  /** multipart/*: the body parts (possibly none). */
  c?: PartOffsets[];
  /** message/rfc822 and message/global: the encapsulated message. */
  m?: PartOffsets;
}

/** The stored FETCH data of one message (JSON-serialisable). */
export interface MessageMeta {
  /** Format version. */
  v: 1;
  /** The ENVELOPE, rendered: `(date subject ...)`. Send as UTF-8; literal sizes count UTF-8 bytes. */
  envelope: string;
  /** The BODYSTRUCTURE, rendered with extension data. */
  bodystructure: string;
  /** The BODY (BODYSTRUCTURE without extension data), rendered. */
  body: string;
  /** Offsets of the root and, below it, of every part. */
  parts: PartOffsets;
}

/** Parses `message` once and keeps what FETCH needs. */
export function buildMessageMeta(message: Uint8Array): MessageMeta {
  const root = parseMime(message);
  return {
    v: 1,
    envelope: renderEnvelope(message, root.header),
    bodystructure: renderBodyStructure(root, message, true),
    body: renderBodyStructure(root, message, false),
    parts: offsets(root),
  };
}

function offsets(part: MimePart): PartOffsets {
  const out: PartOffsets = {
    h: [part.header.start, part.header.end],
    b: [part.body.start, part.body.end],
  };
  if (part.parts && !part.truncated) out.c = part.parts.map(offsets);
  if (part.message && !part.truncated) out.m = offsets(part.message);
  return out;
}

/**
 * The bytes that BODY[section] names (RFC 9051 §6.4.5), or undefined when the
 * section does not exist (the session then answers with an empty string).
 *
 * - No part number: the whole message; HEADER, HEADER.FIELDS(.NOT) and TEXT
 *   of the message.
 * - A part number: in a multipart, the n-th body part; in anything else only
 *   1, the part itself (so part 1 of a non-multipart message is its body);
 *   a message/rfc822 part followed by more numbers is entered, its message
 *   numbered like a top-level one.
 * - `1.2` alone: that part's body; `.MIME`: its MIME header; `.HEADER` and
 *   `.TEXT`: header and body of the message inside a message/rfc822 part
 *   (undefined for other parts).
 *
 * For HEADER.FIELDS and HEADER.FIELDS.NOT the range is the header to filter
 * with {@linkcode headerFields}.
 */
export function sectionRange(meta: MessageMeta, section: SectionPath): ByteRange | undefined {
  const root = meta.parts;
  const text = section.text;
  if (section.part.length === 0) {
    if (text === undefined) return { start: root.h[0], end: root.b[1] };
    if (text === "TEXT") return range(root.b);
    if (text === "MIME") return undefined;
    return range(root.h);
  }
  let node: PartOffsets | undefined = root;
  for (let i = 0; i < section.part.length; i++) {
    const n = section.part[i];
    const more = i + 1 < section.part.length;
    if (!Number.isInteger(n) || n < 1) return undefined;
    if (node.c) {
      node = node.c[n - 1];
      if (!node) return undefined;
    } else if (n !== 1 || (more && !node.m)) {
      // A non-multipart has only part 1, and only a message part goes deeper.
      return undefined;
    }
    if (more && node.m) node = node.m;
  }
  if (text === undefined) return range(node.b);
  if (text === "MIME") return range(node.h);
  if (!node.m) return undefined;
  return text === "TEXT" ? range(node.m.b) : range(node.m.h);
}

function range([start, end]: [number, number]): ByteRange {
  return { start, end };
}

const encoder = new TextEncoder();

/**
 * HEADER.FIELDS / HEADER.FIELDS.NOT (RFC 9051 §6.4.5): the fields of `header`
 * whose names are in `fields` (or, with `not`, are not), in message order,
 * followed by the blank line that ends a header (the header's own, else CRLF).
 * Names compare case-insensitively; a field is kept with its continuation lines.
 */
export function headerFields(header: Uint8Array, fields: string[], not: boolean): Uint8Array {
  const wanted = new Set(fields.map((f) => f.toUpperCase()));
  const all = splitHeader(header, { start: 0, end: header.length });
  const chunks: Uint8Array[] = [];
  for (const field of all) {
    const match = field.colon && wanted.has(field.name.toUpperCase());
    if (match === not) continue;
    const bytes = header.subarray(field.start, field.end);
    chunks.push(bytes);
    if (bytes[bytes.length - 1] !== 0x0a) chunks.push(encoder.encode("\r\n"));
  }
  const last = all.at(-1)?.end ?? 0;
  const blank = header.subarray(last);
  const isBlank = blank.length === 1 && blank[0] === 0x0a ||
    blank.length === 2 && blank[0] === 0x0d && blank[1] === 0x0a;
  chunks.push(isBlank ? blank : encoder.encode("\r\n"));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
