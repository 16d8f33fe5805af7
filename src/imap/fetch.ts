/**
 * FETCH responses (RFC 9051 §6.4.5, §7.5.2): one untagged FETCH per message
 * with the items asked for. ENVELOPE, BODYSTRUCTURE and part offsets come
 * from the metadata computed at delivery (message_meta.ts), so a FETCH
 * never re-parses a message; bodies are read only for items that need them.
 */
import { headerSection } from "../mail/headers.ts";
import type { FetchRow } from "../store/entries.ts";
import { flagNames } from "../store/entries.ts";
import type { FetchItem, Section } from "./command.ts";
import { flagList, imapDateTime } from "./format.ts";
import {
  buildMessageMeta,
  headerFields,
  type MessageMeta,
  sectionRange,
} from "../mail/message_meta.ts";

/** What one message's FETCH needs besides the items. */
export interface FetchContext {
  seq: number;
  row: FetchRow;
  /** Report \Recent in FLAGS (IMAP4rev1 sessions). */
  recent: boolean;
  /** Include UID (UID FETCH always does, RFC 9051 §6.4.9). */
  uid: boolean;
  /** Include MODSEQ (CONDSTORE enabled and FLAGS changed or asked, RFC 7162 §3.1.4). */
  modseq: boolean;
  /** The message's metadata; computed (and handed to `saveMeta`) when the store has none. */
  meta: () => MessageMeta;
}

/** True when an item needs the message bytes. */
export function needsBody(item: FetchItem): boolean {
  return item.item === "BODY[]" || item.item === "BINARY[]" || item.item === "BINARY.SIZE[]" ||
    item.item === "RFC822" || item.item === "RFC822.HEADER" || item.item === "RFC822.TEXT";
}

/** True when an item needs the stored metadata. */
export function needsMeta(item: FetchItem): boolean {
  return item.item === "ENVELOPE" || item.item === "BODYSTRUCTURE" || item.item === "BODY" ||
    ("section" in item && (item.section.part.length > 0 || item.section.text === "MIME"));
}

/** True when an item reads the message and so sets \Seen (RFC 9051 §6.4.5). */
export function setsSeen(item: FetchItem): boolean {
  return (item.item === "BODY[]" && !item.peek) || (item.item === "BINARY[]" && !item.peek) ||
    item.item === "RFC822" || item.item === "RFC822.TEXT";
}

/** The label of a section in the response: `1.2.HEADER.FIELDS (FROM TO)`. */
export function sectionLabel(section: Section): string {
  const parts = section.part.join(".");
  const text = section.text
    ? `${parts ? "." : ""}${section.text}${section.fields ? ` (${section.fields.join(" ")})` : ""}`
    : "";
  return parts + text;
}

/** The bytes a section names, or undefined when the message has no such part. */
export function sectionBytes(
  body: Uint8Array,
  section: Section,
  meta: () => MessageMeta,
): Uint8Array | undefined {
  if (section.part.length === 0 && section.text === undefined) return body;
  if (section.part.length === 0 && (section.text === "HEADER" || section.text === "TEXT")) {
    const head = headerSection(body).length;
    return section.text === "HEADER" ? body.subarray(0, head) : body.subarray(head);
  }
  const fieldsOf = section.text === "HEADER.FIELDS" || section.text === "HEADER.FIELDS.NOT";
  const range = sectionRange(
    meta(),
    fieldsOf ? { ...section, text: "HEADER", fields: undefined } : section,
  );
  if (!range) return undefined;
  const bytes = body.subarray(range.start, range.end);
  return fieldsOf
    ? headerFields(bytes, section.fields ?? [], section.text === "HEADER.FIELDS.NOT")
    : bytes;
}

/** Decodes a part's content transfer encoding for BINARY (RFC 3516). */
/** BINARY of a part whose Content-Transfer-Encoding Postino cannot decode (RFC 3516 §4.3). */
export class UnknownTransferEncoding extends Error {}

const IDENTITY_ENCODINGS = new Set(["", "7bit", "8bit", "binary"]);

function decodeTransfer(bytes: Uint8Array, encoding: string): Uint8Array {
  const e = encoding.toLowerCase();
  if (IDENTITY_ENCODINGS.has(e)) return bytes;
  if (e !== "base64" && e !== "quoted-printable") {
    throw new UnknownTransferEncoding(`Unknown Content-Transfer-Encoding ${encoding}`);
  }
  const text = new TextDecoder("latin1").decode(bytes);
  if (e === "base64") {
    try {
      return Uint8Array.from(atob(text.replace(/[^A-Za-z0-9+/=]/g, "")), (c) => c.charCodeAt(0));
    } catch {
      return bytes;
    }
  }
  if (e === "quoted-printable") {
    const out: number[] = [];
    const s = text.replace(/=\r?\n/g, "");
    for (let i = 0; i < s.length; i++) {
      if (s[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
        out.push(parseInt(s.slice(i + 1, i + 3), 16));
        i += 2;
      } else out.push(s.charCodeAt(i));
    }
    return new Uint8Array(out);
  }
  return bytes;
}

function transferEncoding(body: Uint8Array, section: Section, meta: () => MessageMeta): string {
  const mime = section.part.length > 0
    ? sectionBytes(body, { part: section.part, text: "MIME" }, meta)
    : headerSection(body);
  const text = new TextDecoder("latin1").decode(mime ?? new Uint8Array());
  return /^content-transfer-encoding:[ \t]*([^\s;]+)/im.exec(text)?.[1] ?? "7bit";
}

/**
 * A literal: `{n}` CRLF and the bytes. A literal cannot carry NUL (RFC 9051
 * §9 CHAR8), so a NUL in a message goes out as 0x80, as Dovecot does.
 */
function literal(bytes: Uint8Array): (string | Uint8Array)[] {
  if (bytes.includes(0)) bytes = bytes.map((b) => b === 0 ? 0x80 : b);
  return [`{${bytes.length}}\r\n`, bytes];
}

/** A BINARY answer: literal8 `~{n}` when the bytes hold a NUL (RFC 3516 §4.2). */
function binaryLiteral(bytes: Uint8Array): (string | Uint8Array)[] {
  return [`${bytes.includes(0) ? "~" : ""}{${bytes.length}}\r\n`, bytes];
}

/**
 * The FETCH response of one message, as pieces to write in order (strings
 * and message bytes, which are never copied).
 */
export function fetchResponse(items: FetchItem[], ctx: FetchContext): (string | Uint8Array)[] {
  const out: (string | Uint8Array)[] = [];
  const fields: (string | (string | Uint8Array)[])[] = [];
  const { row } = ctx;
  const seen = new Set<string>();
  const add = (name: string, value: string | (string | Uint8Array)[]) => {
    if (seen.has(name)) return;
    seen.add(name);
    fields.push(typeof value === "string" ? `${name} ${value}` : [`${name} `, ...value]);
  };
  if (ctx.uid) add("UID", String(row.uid));
  for (const item of items) {
    switch (item.item) {
      case "UID":
        add("UID", String(row.uid));
        break;
      case "FLAGS":
        add(
          "FLAGS",
          flagList([...flagNames(row.flags, row.keywords), ...(ctx.recent ? ["\\Recent"] : [])]),
        );
        break;
      case "INTERNALDATE":
        add("INTERNALDATE", imapDateTime(row.internalDate));
        break;
      case "RFC822.SIZE":
        add("RFC822.SIZE", String(row.size));
        break;
      case "ENVELOPE":
        add("ENVELOPE", ctx.meta().envelope);
        break;
      case "BODYSTRUCTURE":
        add("BODYSTRUCTURE", ctx.meta().bodystructure);
        break;
      case "BODY":
        add("BODY", ctx.meta().body);
        break;
      case "MODSEQ":
        add("MODSEQ", `(${row.modseq})`);
        break;
      case "RFC822":
        add("RFC822", literal(row.body!));
        break;
      case "RFC822.HEADER":
        add("RFC822.HEADER", literal(row.body!.subarray(0, headerSection(row.body!).length)));
        break;
      case "RFC822.TEXT":
        add("RFC822.TEXT", literal(row.body!.subarray(headerSection(row.body!).length)));
        break;
      case "BODY[]":
      case "BINARY[]":
      case "BINARY.SIZE[]": {
        const body = row.body!;
        let bytes = sectionBytes(body, item.section, ctx.meta) ?? new Uint8Array();
        const label = sectionLabel(item.section);
        if (item.item !== "BODY[]") {
          const encoding = transferEncoding(body, item.section, ctx.meta);
          if (item.section.part.length === 0) {
            // The whole message: the encoding is its body's; the header stays as it is.
            const header = headerSection(body).length;
            const decoded = decodeTransfer(body.subarray(header), encoding);
            bytes = new Uint8Array(header + decoded.length);
            bytes.set(body.subarray(0, header));
            bytes.set(decoded, header);
          } else {
            bytes = decodeTransfer(bytes, encoding);
          }
          if (item.item === "BINARY.SIZE[]") {
            add(`BINARY.SIZE[${label}]`, String(bytes.length));
            break;
          }
        }
        const name = item.item === "BODY[]" ? "BODY" : "BINARY";
        const encode = item.item === "BODY[]" ? literal : binaryLiteral;
        if (item.partial) {
          const start = Math.min(item.partial.offset, bytes.length);
          const slice = bytes.subarray(start, Math.min(bytes.length, start + item.partial.count));
          add(`${name}[${label}]<${item.partial.offset}>`, encode(slice));
        } else {
          add(`${name}[${label}]`, encode(bytes));
        }
        break;
      }
    }
  }
  if (ctx.modseq) add("MODSEQ", `(${row.modseq})`);
  out.push(`* ${ctx.seq} FETCH (`);
  fields.forEach((f, i) => {
    if (i > 0) out.push(" ");
    if (typeof f === "string") out.push(f);
    else out.push(...f);
  });
  out.push(")\r\n");
  return out;
}

/** Parses stored metadata, or computes it for a message stored before it existed. */
export function metaOf(row: FetchRow, save: (json: string) => void): MessageMeta {
  if (row.meta) return JSON.parse(row.meta) as MessageMeta;
  const meta = buildMessageMeta(row.body ?? new Uint8Array());
  save(JSON.stringify(meta));
  return meta;
}
