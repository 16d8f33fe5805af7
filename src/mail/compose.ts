/**
 * Writing a new message from its parts (RFC 5322, MIME RFC 2045-2047,
 * RFC 2231): the builder behind `POST /api/v1/send`. The output goes to the
 * queue and is DKIM-signed later, so it is written once in its final form.
 *
 * Invariants:
 * - The output is 7-bit ASCII with CRLF line ends and ends with CRLF; no line
 *   passes 998 octets (RFC 5322 §2.1.1), a header line passes 78 only when it
 *   holds a single word that cannot be folded (a long address or display
 *   name without spaces, a long ASCII word in an extra header), and body
 *   lines are at most 76.
 * - A body part is 7bit only when nothing could break it on the way (ASCII,
 *   short lines, no trailing white space, no `From ` line, no `=_`); any
 *   other text is quoted-printable, and attachments are base64.
 * - Boundaries start with `=_`, which no part written here can contain: not
 *   base64, not quoted-printable (`=` is always `=XX` or a soft break), and
 *   not 7bit text, which is chosen only when `=_` is absent.
 * - Input that cannot become such a message throws ComposeError naming the
 *   JSON field at fault; nothing is silently dropped except the white space
 *   around the subject, header values, display names and filenames.
 */
import { Buffer } from "node:buffer";
import { domainToASCII } from "node:url";
import { AddressError, normalizeDomain } from "../address.ts";
import { rfc5322Date } from "./trace.ts";

/** Characters in a subject at most (RFC 5322 §2.1.1's line limit, as a sane bound). */
export const MAX_SUBJECT_LENGTH = 998;
/** Characters in a display name at most. */
export const MAX_NAME_LENGTH = 256;
/** Extra header fields in one message at most. */
export const MAX_EXTRA_HEADERS = 50;
/** Characters in an extra header value at most (a long References field fits). */
export const MAX_HEADER_VALUE_LENGTH = 8192;
/** Attachments in one message at most; the total size is the caller's limit (maxMessageSize). */
export const MAX_ATTACHMENTS = 100;
/** UTF-8 octets in an attachment filename at most (what common file systems allow). */
export const MAX_FILENAME_OCTETS = 255;

/** A mailbox: an address with an optional display name. */
export interface Mailbox {
  name?: string;
  address: string;
}

/**
 * Thrown for input that cannot become a message; `field` names the JSON
 * field at fault ("from", "to[1]", "headers.X-Foo", "attachments[0].filename", ...).
 */
export class ComposeError extends Error {
  readonly field: string;
  constructor(message: string, field: string) {
    super(message);
    this.name = "ComposeError";
    this.field = field;
  }
}

/** One attachment, its content already decoded from the request's base64. */
export interface Attachment {
  /** Shown to the recipient; refused when empty, with `/`, `\`, control or bidi characters. */
  filename: string;
  /** `type/subtype` without parameters; multipart/* and message/* are refused. */
  contentType: string;
  content: Uint8Array;
}

/** What composeMessage() needs; `bcc` is not here, the caller hands it to the queue only. */
export interface ComposeInput {
  from: Mailbox;
  /** When empty, the message says `To: undisclosed-recipients:;` (RFC 5322 §3.4 group). */
  to: Mailbox[];
  /** Left out of the message when empty. */
  cc?: Mailbox[];
  subject: string;
  /** The plain-text body; an empty string counts as none. */
  text?: string;
  /** The HTML body; an empty string counts as none. */
  html?: string;
  attachments?: Attachment[];
  /** Extra header fields, name -> value. */
  headers?: Record<string, string>;
  date: Date;
  /** Without angle brackets, e.g. "abc.123@mail.example.com". */
  messageId: string;
}

const LINE = 78; // RFC 5322 §2.1.1: SHOULD
const MAX_LINE = 998; // RFC 5322 §2.1.1: MUST
const WORD = 75; // RFC 2047 §2: an encoded-word is at most 75 characters
const QP_LINE = 76; // RFC 2045 §6.7 (5)

const ATEXT = "A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~"; // RFC 5322 §3.2.3
const DOT_ATOM = new RegExp(`^[${ATEXT}]+(?:\\.[${ATEXT}]+)*$`);
const ATOM = new RegExp(`^[${ATEXT}]+$`);
const PLAIN_PHRASE = new RegExp(`^[${ATEXT}]+(?: [${ATEXT}]+)*$`);
const DOMAIN_CHARS = /^[A-Za-z0-9.\-\u0080-\u{10ffff}]+$/u;
const TOKEN = "[A-Za-z0-9!#$%&'*+\\-.^_`{|}~]{1,127}"; // RFC 2045 §5.1 token; RFC 6838 §4.2 length
const MEDIA_TYPE = new RegExp(`^(${TOKEN})/(${TOKEN})$`);
const FIELD_NAME = /^[!-9;-~]{1,76}$/; // RFC 5322 §3.6.8 ftext; 76 so that "Name: " fits a line
/** C0 controls, DEL and C1 controls. */
const CONTROL = /[^ -~\u00a0-\u{10ffff}]/u;
/** The same, allowing horizontal tab. */
const CONTROL_BUT_TAB = /[^\t -~\u00a0-\u{10ffff}]/u;
/** Bidirectional marks, embeddings, overrides and isolates: they can disguise a file's extension. */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const NON_ASCII = /[\u0080-\u{10ffff}]/u;
const SPECIALS = '()<>[]:;@\\,"'; // RFC 5322 §3.2.3, without "." (obs-phrase allows it)

/** Fields the composer writes or that only a server may add (trace, authentication). */
const OWNED_FIELDS = new Set([
  "from",
  "to",
  "cc",
  "bcc",
  "subject",
  "date",
  "message-id",
  "mime-version",
  "return-path",
  "received",
  "dkim-signature",
  "authentication-results",
]);
/** Extra fields that hold a mailbox (Sender) or address list; their display names are encoded as in From. */
const ADDRESS_FIELDS = new Set([
  "sender",
  "reply-to",
  "mail-reply-to",
  "mail-followup-to",
  "disposition-notification-to",
]);

const encoder = new TextEncoder();
/** Made at first use: ICU's segmenter data costs memory a server that never composes need not carry. */
let segmenter: Intl.Segmenter | undefined;
const graphemes = {
  segment: (text: string) =>
    (segmenter ??= new Intl.Segmenter("en", { granularity: "grapheme" })).segment(text),
};

function octets(text: string): number {
  return encoder.encode(text).length;
}

function hex(byte: number): string {
  return `=${byte.toString(16).toUpperCase().padStart(2, "0")}`;
}

/** Checks what every text input must be: a string of well-formed UTF-16 without controls. */
function checkText(value: unknown, what: string, field: string, allowTab = false): string {
  if (typeof value !== "string") throw new ComposeError(`${what} is not a string`, field);
  if (!value.isWellFormed()) throw new ComposeError(`${what} has broken Unicode`, field);
  if ((allowTab ? CONTROL_BUT_TAB : CONTROL).test(value)) {
    const kind = /[\r\n]/.test(value) ? "a line break" : value.includes("\0") ? "NUL" : "a control";
    throw new ComposeError(`${what} contains ${kind} character: ${JSON.stringify(value)}`, field);
  }
  return value;
}

// Mailboxes (RFC 5322 §3.4)

/** Checks an ASCII addr-spec `local@domain` whose domain may be an IDN in Unicode. */
function checkAddress(address: string, field: string): void {
  const at = address.lastIndexOf("@");
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (at <= 0 || !DOT_ATOM.test(local) || !DOMAIN_CHARS.test(domain) || domain.endsWith(".")) {
    throw new ComposeError(
      `Invalid address (expected local@domain): ${JSON.stringify(address)}`,
      field,
    );
  }
  let ascii: string;
  try {
    ascii = normalizeDomain(domain);
  } catch (err) {
    if (!(err instanceof AddressError)) throw err;
    throw new ComposeError(`Invalid domain in address: ${JSON.stringify(address)}`, field);
  }
  // RFC 5321 §4.5.3.1.1 and §4.5.3.1.3: 64 octets of local part, 256 of path with brackets.
  if (local.length > 64 || local.length + 1 + ascii.length > 254) {
    throw new ComposeError(`Address too long: ${JSON.stringify(address)}`, field);
  }
}

/** The display name of a phrase (RFC 5322 §3.2.5): quoted strings unquoted, runs of spaces as one. */
function parsePhrase(text: string, field: string): string {
  let name = "";
  let space = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === " ") {
      space = name !== "";
      continue;
    }
    if (space) name += " ";
    space = false;
    if (c === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === "\\" && i + 1 < text.length) i++; // RFC 5322 §3.2.1 quoted-pair
        name += text[i];
      }
      if (i >= text.length) {
        throw new ComposeError(
          `Cannot parse mailbox: unterminated quote in ${JSON.stringify(text)}`,
          field,
        );
      }
    } else if (SPECIALS.includes(c)) {
      throw new ComposeError(
        `Cannot parse mailbox: display name has an unquoted ${JSON.stringify(c)}; quote the name`,
        field,
      );
    } else name += c;
  }
  return name;
}

/** A display name trimmed, or throws when it has controls or is too long. */
function checkName(name: unknown, field: string): string {
  const trimmed = checkText(name, "Display name", field).trim();
  if ([...trimmed].length > MAX_NAME_LENGTH) {
    throw new ComposeError(`Display name longer than ${MAX_NAME_LENGTH} characters`, field);
  }
  return trimmed;
}

/**
 * Parses "alice@example.com" or "Alice Smith <alice@example.com>" or
 * "\"Smith, Alice\" <alice@example.com>"; throws ComposeError(field) when it
 * is not one mailbox. The address is returned as written (the caller
 * normalises it); it must be an ASCII dot-atom addr-spec local@domain, the
 * domain may be an IDN in Unicode (returned as is). Not accepted: comments,
 * groups, quoted local parts, domain literals, unquoted specials other than
 * "." in the display name.
 */
export function parseMailbox(text: string, field: string): Mailbox {
  const trimmed = checkText(text, "Mailbox", field).trim();
  if (trimmed === "") throw new ComposeError("Mailbox is empty", field);
  if (trimmed.length > 4 * MAX_NAME_LENGTH) throw new ComposeError("Mailbox too long", field);
  if (!trimmed.endsWith(">")) {
    checkAddress(trimmed, field);
    return { address: trimmed };
  }
  // An addr-spec cannot hold "<", so the last one opens the angle-addr.
  const open = trimmed.lastIndexOf("<");
  if (open < 0) {
    throw new ComposeError(
      `Cannot parse mailbox: ">" without "<" in ${JSON.stringify(text)}`,
      field,
    );
  }
  const address = trimmed.slice(open + 1, -1).trim();
  checkAddress(address, field);
  const name = checkName(parsePhrase(trimmed.slice(0, open), field), field);
  return name === "" ? { address } : { name, address };
}

/** Splits an address list at the commas outside quotes and angle brackets. */
function splitList(text: string): string[] {
  const items: string[] = [];
  let quoted = false;
  let angle = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "<") angle = true;
    else if (c === ">") angle = false;
    else if (c === "," && !angle) {
      items.push(text.slice(start, i));
      start = i + 1;
    }
  }
  items.push(text.slice(start));
  return items;
}

// Header fields (RFC 5322 §2.2.3 folding, RFC 2047 encoded-words)

/** One header field being written: tokens that start with white space may fold before it. */
class Field {
  readonly #name: string;
  readonly #at: string;
  #text: string;
  #line: number;
  #tokens = 0;

  constructor(name: string, at: string) {
    this.#name = name;
    this.#at = at;
    this.#text = `${name}:`;
    this.#line = this.#text.length;
  }

  /** Characters left on the current line before it passes 78. */
  get room(): number {
    return LINE - this.#line;
  }

  /** Continues on a new line; the next token must start with white space. */
  fold(): void {
    this.#text += "\r\n";
    this.#line = 0;
  }

  /** Adds a token, folding before it when it starts with white space and would pass 78. */
  add(token: string): void {
    if (this.#tokens > 0 && this.#line + token.length > LINE && /^[ \t]/.test(token)) this.fold();
    this.#text += token;
    this.#line += token.length;
    this.#tokens++;
  }

  /** The field with its CRLF; throws when a line passes 998 octets. */
  end(): string {
    if (this.#text.split("\r\n").some((line) => line.length > MAX_LINE)) {
      throw new ComposeError(
        `Cannot fold header field ${this.#name}: a word is longer than a line may be`,
        this.#at,
      );
    }
    return `${this.#text}\r\n`;
  }
}

/** RFC 2047 §5 (3): the characters a Q-encoded word may carry as they are, even in a phrase. */
function qEncode(text: string): string {
  let out = "";
  for (const byte of encoder.encode(text)) {
    if (byte === 0x20) out += "_";
    else if (/[A-Za-z0-9!*+\-/]/.test(String.fromCharCode(byte))) out += String.fromCharCode(byte);
    else out += hex(byte);
  }
  return out;
}

/**
 * Adds `text` as UTF-8 encoded-words, B or Q by which is shorter, each at
 * most 75 characters and fitting the line it starts on (RFC 2047 §2). Words
 * end between grapheme clusters (code points for an oversized cluster), so no
 * UTF-8 sequence is split (§5); the white space between them is not text
 * (§6.2), so spaces of `text` are inside the words.
 */
function addEncodedWords(field: Field, text: string, lead = " "): void {
  const bytes = octets(text);
  const q = qEncode(text).length <= Math.ceil(bytes / 3) * 4;
  const units = Array.from(graphemes.segment(text), (s) => s.segment);
  const size = (chunk: string) =>
    "=?utf-8?Q??=".length + (q ? qEncode(chunk).length : Math.ceil(octets(chunk) / 3) * 4);
  let i = 0;
  while (i < units.length) {
    const limit = Math.min(WORD, field.room - lead.length);
    let chunk = "";
    let j = i;
    while (j < units.length && size(chunk + units[j]) <= limit) chunk += units[j++];
    // End a word after a space when one is in reach: decoders that join encoded-words with a
    // space (Python's email in phrases, before gh-128110) then misplace a space, not a letter.
    if (j < units.length) {
      let k = j;
      while (k > i + 1 && !/^[ \t]$/.test(units[k - 1])) k--;
      if (k > i + 1) {
        j = k;
        chunk = units.slice(i, j).join("");
      } else if (field.room < LINE) {
        // A word that would fit whole in a word of its own goes to the next line instead.
        let end = i;
        while (end < units.length && !/^[ \t]$/.test(units[end])) end++;
        if (size(units.slice(i, Math.min(end + 1, units.length)).join("")) <= WORD - lead.length) {
          field.fold();
          continue;
        }
      }
    }
    if (j === i) {
      const points = Array.from(units[i]);
      if (field.room < LINE) field.fold(); // try on a line of its own
      else if (points.length > 1) units.splice(i, 1, ...points); // a cluster too big for a word
      else lead = " "; // white space so long that no word fits after it
      continue;
    }
    const encoded = q ? qEncode(chunk) : Buffer.from(chunk, "utf8").toString("base64");
    field.add(`${lead}=?utf-8?${q ? "Q" : "B"}?${encoded}?=`);
    lead = " ";
    i = j;
  }
}

/**
 * Adds unstructured text (RFC 5322 §3.2.5): words as they are, white space
 * kept, and each run of words for which `encode` says so (with the white
 * space inside the run) as encoded-words (RFC 2047 §5 (1)).
 */
function addUnstructured(field: Field, value: string, encode: (word: string) => boolean): void {
  const words = value.trim().match(/[ \t]*[^ \t]+/g) ?? [];
  for (let i = 0; i < words.length;) {
    const lead = i === 0 ? " " : words[i].match(/^[ \t]*/)![0];
    if (!encode(words[i].trimStart())) {
      field.add(lead + words[i].trimStart());
      i++;
      continue;
    }
    let j = i + 1;
    while (j < words.length && encode(words[j].trimStart())) j++;
    addEncodedWords(field, words.slice(i, j).join("").trimStart(), lead);
    i = j;
  }
}

/** Adds a display name (RFC 5322 §3.2.5 phrase): atoms, a quoted-string, or encoded-words. */
function addPhrase(field: Field, name: string): void {
  if (NON_ASCII.test(name) || name.includes("=?")) {
    // Only the words that need it are encoded: Python's email (before gh-128110) joins words
    // split across encoded-words with a space, so a name encoded whole could read back wrong.
    addUnstructured(field, name, (word) => !ATOM.test(word) || word.includes("=?"));
  } else if (PLAIN_PHRASE.test(name)) { for (const word of name.split(" ")) field.add(` ${word}`); }
  else {
    // RFC 5322 §3.2.4: a quoted-string may fold at its spaces.
    const quoted = `"${name.replace(/[\\"]/g, "\\$&")}"`;
    for (const token of quoted.match(/ *[^ ]+/g)!) {
      field.add(token.startsWith(" ") ? token : ` ${token}`);
    }
  }
}

/** The address for the header: an IDN domain as A-labels (RFC 5890), since no RFC 6532 here. */
function headerAddress(address: string): string {
  const at = address.lastIndexOf("@");
  const domain = address.slice(at + 1);
  return NON_ASCII.test(domain) ? `${address.slice(0, at + 1)}${domainToASCII(domain)}` : address;
}

/** Checks a mailbox given as data, the way parseMailbox() checks one given as text. */
function checkMailbox(box: Mailbox | undefined, field: string): Mailbox {
  if (typeof box !== "object" || box === null) throw new ComposeError("Mailbox is missing", field);
  checkText(box.address, "Address", field);
  checkAddress(box.address, field);
  const name = box.name === undefined ? "" : checkName(box.name, field);
  return name === "" ? { address: box.address } : { name, address: box.address };
}

/** An address field (RFC 5322 §3.6.2, §3.6.3) with the mailboxes checked. */
function addressField(name: string, boxes: Mailbox[], at: string, indexed = true): string {
  const field = new Field(name, at);
  boxes.forEach((box, i) => {
    const where = indexed ? `${at}[${i}]` : at;
    const { name: display, address } = checkMailbox(box, where);
    const comma = i < boxes.length - 1 ? "," : "";
    if (display) addPhrase(field, display);
    field.add(
      display ? ` <${headerAddress(address)}>${comma}` : ` ${headerAddress(address)}${comma}`,
    );
  });
  return field.end();
}

/** An extra header field, or throws when the composer owns the name or the value cannot be written. */
function extraField(name: string, value: unknown, seen: Set<string>): string {
  const at = `headers.${name}`;
  const lower = name.toLowerCase();
  if (!FIELD_NAME.test(name)) {
    throw new ComposeError(`Invalid header field name: ${JSON.stringify(name)}`, at);
  }
  if (OWNED_FIELDS.has(lower) || lower.startsWith("content-") || lower.startsWith("arc-")) {
    throw new ComposeError(`Header field ${name} cannot be set`, at);
  }
  if (seen.has(lower)) throw new ComposeError(`Header field ${name} given twice`, at);
  seen.add(lower);
  const text = checkText(value, `Header ${name}`, at, true).trim();
  if (text === "") throw new ComposeError(`Header ${name} is empty`, at);
  if (text.length > MAX_HEADER_VALUE_LENGTH) {
    throw new ComposeError(`Header ${name} longer than ${MAX_HEADER_VALUE_LENGTH} characters`, at);
  }
  if (ADDRESS_FIELDS.has(lower)) {
    const boxes = splitList(text).map((item) => parseMailbox(item, at));
    if (lower === "sender" && boxes.length !== 1) {
      throw new ComposeError("Sender must be one mailbox", at); // RFC 5322 §3.6.2
    }
    return addressField(name, boxes, at, false);
  }
  const field = new Field(name, at);
  // ASCII values are written as given (they may be structured, or encoded already);
  // in others each word with non-ASCII becomes encoded-words, fine for unstructured fields.
  addUnstructured(field, text, (word) => NON_ASCII.test(word));
  return field.end();
}

// Bodies (RFC 2045 §6)

/** Text with CRLF line ends that ends with one (RFC 5322 §2.3), or "" for no text. */
function normalizeLines(text: string): string {
  const crlf = text.replace(/\r\n|\r|\n/g, "\r\n");
  return crlf === "" || crlf.endsWith("\r\n") ? crlf : `${crlf}\r\n`;
}

/** True when the text can go as 7bit with no transport able to change it, and holds no boundary. */
function sevenBitSafe(text: string): boolean {
  if (text.includes("=_")) return false;
  return text.split("\r\n").every((line) =>
    line.length <= QP_LINE && !/[^\t -~]/.test(line) && !/[ \t]$/.test(line) &&
    !line.startsWith("From ")
  );
}

const HEX = encoder.encode("0123456789ABCDEF");
const latin1 = new TextDecoder("latin1");
const FROM = encoder.encode("From ");

/**
 * RFC 2045 §6.7 quoted-printable of text with CRLF line ends: soft breaks
 * keep lines at 76, a UTF-8 sequence is never split across lines, white space
 * at a line end is encoded, and `From ` at a line start becomes `=46rom ` so
 * that mbox files cannot mangle it. Written into bytes: strings built a
 * character at a time keep the garbage collector busy on large bodies.
 */
function quotedPrintable(text: string): string {
  const bytes = encoder.encode(text); // ends with CRLF, has no bare CR or LF
  const out = new Uint8Array(bytes.length * 4 + 16); // 3 per octet, 3 per soft break of 73 or more
  let o = 0;
  let column = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      column = 0;
      i++;
      continue;
    }
    const trailing = (b === 0x20 || b === 0x09) && bytes[i + 1] === 0x0d;
    let literal = ((b >= 0x20 && b <= 0x7e && b !== 0x3d) || b === 0x09) && !trailing;
    // A lead byte breaks the line when its whole sequence would not fit; continuations never do.
    const need = literal ? 1 : b < 0xc0 ? 3 : b >= 0xf0 ? 12 : b >= 0xe0 ? 9 : 6;
    if ((b < 0x80 || b >= 0xc0) && column + need > QP_LINE - 1) {
      out[o++] = 0x3d;
      out[o++] = 0x0d;
      out[o++] = 0x0a;
      column = 0;
    }
    if (column === 0 && FROM.every((f, j) => bytes[i + j] === f)) literal = false;
    if (literal) {
      out[o++] = b;
      column++;
    } else {
      out[o++] = 0x3d;
      out[o++] = HEX[b >> 4];
      out[o++] = HEX[b & 15];
      column += 3;
    }
  }
  return latin1.decode(out.subarray(0, o));
}

/** base64 in lines of 76 (RFC 2045 §6.8), without a final line break. */
function base64Lines(content: Uint8Array): string {
  const encoded = Buffer.from(content.buffer, content.byteOffset, content.byteLength)
    .toString("base64");
  const lines: string[] = [];
  for (let i = 0; i < encoded.length; i += QP_LINE) lines.push(encoded.slice(i, i + QP_LINE));
  return lines.join("\r\n");
}

/** A MIME entity: its Content-* header fields and its encoded body. */
interface Part {
  header: string;
  body: string;
}

function textPart(text: string, subtype: "plain" | "html"): Part {
  const normal = normalizeLines(text);
  const sevenBit = sevenBitSafe(normal);
  return {
    header: `Content-Type: text/${subtype}; charset=utf-8\r\n` +
      `Content-Transfer-Encoding: ${sevenBit ? "7bit" : "quoted-printable"}\r\n`,
    body: sevenBit ? normal : quotedPrintable(normal),
  };
}

/** A random boundary (RFC 2046 §5.1.1); `=_` keeps it out of every body written here. */
function newBoundary(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `=_${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** A multipart entity; a part's body may end with CRLF, which is then content (RFC 2046 §5.1.1). */
function multipart(subtype: "mixed" | "alternative", parts: Part[], boundary: string): Part {
  let body = "";
  for (const part of parts) body += `--${boundary}\r\n${part.header}\r\n${part.body}\r\n`;
  const header = new Field("Content-Type", "body");
  header.add(` multipart/${subtype};`);
  header.add(` boundary="${boundary}"`);
  return { header: header.end(), body: `${body}--${boundary}--` };
}

/** Percent-encodes a value for RFC 2231 §4, keeping only attribute-chars that no decoder trips on. */
function percentEncode(text: string): string {
  let out = "";
  for (const byte of encoder.encode(text)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9!#$&+\-.^_`|~]/.test(c)
      ? c
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * `name*=utf-8''...` (RFC 2231 §4), cut into numbered sections (§3) when one
 * would not fit a line; sections end between code points, as some decoders
 * (Python's) read each section's bytes on their own.
 */
function extendedParam(name: string, value: string): string[] {
  const whole = `${name}*=utf-8''${percentEncode(value)}`;
  if (whole.length + 2 <= LINE) return [whole];
  const sections: string[] = [];
  let current = `${name}*0*=utf-8''`;
  for (const c of value) {
    const piece = percentEncode(c);
    if (current.length + piece.length + 2 > LINE) {
      sections.push(current);
      current = `${name}*${sections.length}*=`;
    }
    current += piece;
  }
  sections.push(current);
  return sections;
}

/** Filenames longer than this go as RFC 2231, which can fold: ` filename="..."` fits 78. */
const PLAIN_FILENAME = 66;
/** The ASCII stand-in is cut to this, so that ` name="..."` fits 78. */
const STAND_IN = 70;

/**
 * An ASCII stand-in for a filename, for clients that know no RFC 2231:
 * accents dropped, other characters as "_", the extension kept, cut to fit.
 */
function asciiFilename(filename: string): string {
  const ascii = filename.normalize("NFKD").replace(/\p{M}/gu, "").replace(/[^ -~]+/g, "_")
    .replace(/["\\]/g, "_");
  const dot = ascii.lastIndexOf(".");
  const ext = dot > 0 && ascii.length - dot <= 16 ? ascii.slice(dot) : "";
  const stem = ext ? ascii.slice(0, dot) : ascii;
  if (!/[A-Za-z0-9]/.test(stem)) return `attachment${/^\.[A-Za-z0-9]+$/.test(ext) ? ext : ""}`;
  return stem.slice(0, STAND_IN - ext.length) + ext;
}

function checkFilename(value: unknown, field: string): string {
  const filename = checkText(value, "Attachment filename", field).trim();
  if (filename === "" || filename === "." || filename === "..") {
    throw new ComposeError(`Invalid attachment filename: ${JSON.stringify(value)}`, field);
  }
  if (/[/\\]/.test(filename)) {
    throw new ComposeError(
      `Attachment filename has a path separator: ${JSON.stringify(filename)}`,
      field,
    );
  }
  if (BIDI.test(filename)) {
    throw new ComposeError(
      `Attachment filename has bidirectional controls: ${JSON.stringify(filename)}`,
      field,
    );
  }
  if (octets(filename) > MAX_FILENAME_OCTETS) {
    throw new ComposeError(`Attachment filename longer than ${MAX_FILENAME_OCTETS} octets`, field);
  }
  return filename;
}

function checkMediaType(value: unknown, field: string): string {
  const type = checkText(value, "Content type", field).trim().toLowerCase();
  const m = MEDIA_TYPE.exec(type);
  if (!m) {
    throw new ComposeError(
      `Invalid content type (expected type/subtype): ${JSON.stringify(value)}`,
      field,
    );
  }
  // RFC 2046 §5.1.1, §5.2.1: these may not be base64, and a multipart needs its own boundary.
  if (m[1] === "multipart" || m[1] === "message") {
    throw new ComposeError(
      `Content type ${type} cannot be attached; use application/octet-stream`,
      field,
    );
  }
  return type;
}

/**
 * An attachment part. A short ASCII filename is a quoted `filename` and
 * `name`; another goes as RFC 2231 `filename*` in Content-Disposition
 * (RFC 2183, the field clients read) with an ASCII stand-in as Content-Type
 * `name` for clients that know no RFC 2231. Never both forms in one field:
 * Python's email package then reports a duplicate parameter and, in its
 * default compat32 mode, returns the stand-in.
 */
function attachmentPart(attachment: Attachment, at: string): Part {
  if (typeof attachment !== "object" || attachment === null) {
    throw new ComposeError("Attachment is missing", at);
  }
  const filename = checkFilename(attachment.filename, `${at}.filename`);
  const type = checkMediaType(attachment.contentType, `${at}.contentType`);
  if (!(attachment.content instanceof Uint8Array)) {
    throw new ComposeError("Attachment content is not bytes", `${at}.content`);
  }
  // Printable ASCII without '"' and '\', so that no decoder has to unescape.
  const plain = /^[ !#-[\]-~]+$/.test(filename) && filename.length <= PLAIN_FILENAME;
  const contentType = new Field("Content-Type", `${at}.contentType`);
  contentType.add(` ${type};`);
  contentType.add(` name="${plain ? filename : asciiFilename(filename)}"`);
  const disposition = new Field("Content-Disposition", `${at}.filename`);
  disposition.add(" attachment;");
  const params = plain ? [`filename="${filename}"`] : extendedParam("filename", filename);
  params.forEach((param, i) => disposition.add(` ${param}${i < params.length - 1 ? ";" : ""}`));
  return {
    header: contentType.end() + disposition.end() + "Content-Transfer-Encoding: base64\r\n",
    body: base64Lines(attachment.content),
  };
}

/** A body text: any characters go, quoted-printable carries controls too. */
function checkBody(value: unknown, what: string, field: string): string {
  if (value === undefined) return "";
  if (typeof value !== "string") throw new ComposeError(`${what} is not a string`, field);
  if (!value.isWellFormed()) throw new ComposeError(`${what} has broken Unicode`, field);
  return value;
}

/** The body: text, html, both as alternatives, and attachments around them. */
function bodyOf(input: ComposeInput): Part {
  const text = checkBody(input.text, "Text", "text");
  const html = checkBody(input.html, "HTML", "html");
  const attachments = input.attachments ?? [];
  if (!Array.isArray(attachments)) {
    throw new ComposeError("Attachments are not a list", "attachments");
  }
  if (attachments.length > MAX_ATTACHMENTS) {
    throw new ComposeError(`More than ${MAX_ATTACHMENTS} attachments`, "attachments");
  }
  const bodies: Part[] = [];
  if (text !== "") bodies.push(textPart(text, "plain"));
  if (html !== "") bodies.push(textPart(html, "html"));
  const mixed = newBoundary();
  let alternative = newBoundary();
  while (alternative === mixed) alternative = newBoundary(); // one may not start the other
  // RFC 2046 §5.1.4: alternatives from the plainest to the richest.
  const body = bodies.length === 2 ? multipart("alternative", bodies, alternative) : bodies[0];
  if (attachments.length === 0) return body ?? textPart("", "plain");
  const parts = attachments.map((a, i) => attachmentPart(a, `attachments[${i}]`));
  return multipart("mixed", body ? [body, ...parts] : parts, mixed);
}

/**
 * Builds the RFC 5322 / MIME message, CRLF line ends, ready to submit.
 *
 * Fields in order: Date, From, To, Cc (when any), Subject, Message-ID, the
 * extra headers, MIME-Version, Content-*. Never Bcc. Text and HTML end with a
 * line break (one is added when missing, as Python's email does); with
 * neither and no attachments the body is an empty text/plain; attachments
 * alone make a multipart/mixed of attachments only.
 */
export function composeMessage(input: ComposeInput): Uint8Array {
  const { date } = input;
  if (
    !(date instanceof Date) || !(date.getUTCFullYear() >= 1900 && date.getUTCFullYear() <= 9999)
  ) {
    throw new ComposeError("Invalid date", "date"); // RFC 5322 §3.3: four-digit year from 1900
  }
  const id = checkText(input.messageId, "Message-ID", "messageId");
  const at = id.lastIndexOf("@");
  // RFC 5322 §3.6.4: id-left "@" id-right, both dot-atom-text here.
  if (
    at < 0 || !DOT_ATOM.test(id.slice(0, at)) || !DOT_ATOM.test(id.slice(at + 1)) || id.length > 250
  ) {
    throw new ComposeError(`Invalid Message-ID: ${JSON.stringify(id)}`, "messageId");
  }
  const subject = checkText(input.subject, "Subject", "subject", true);
  if ([...subject].length > MAX_SUBJECT_LENGTH) {
    throw new ComposeError(`Subject longer than ${MAX_SUBJECT_LENGTH} characters`, "subject");
  }
  if (!Array.isArray(input.to)) throw new ComposeError("Recipients are not a list", "to");
  const cc = input.cc ?? [];
  if (!Array.isArray(cc)) throw new ComposeError("Recipients are not a list", "cc");

  let header = `Date: ${rfc5322Date(date)}\r\n`;
  header += addressField("From", [input.from], "from", false);
  // RFC 5322 §3.6.3: with only Bcc recipients, an empty group says so.
  header += input.to.length > 0
    ? addressField("To", input.to, "to")
    : "To: undisclosed-recipients:;\r\n";
  if (cc.length > 0) header += addressField("Cc", cc, "cc");
  const subjectField = new Field("Subject", "subject");
  // A word that could pass 998 octets, or would read as an encoded-word, is encoded too.
  addUnstructured(
    subjectField,
    subject,
    (word) => NON_ASCII.test(word) || word.includes("=?") || word.length > MAX_LINE - 10,
  );
  header += subjectField.end();
  header += `Message-ID: <${id}>\r\n`;

  const extra = input.headers ?? {};
  if (typeof extra !== "object" || extra === null) {
    throw new ComposeError("Headers are not an object", "headers");
  }
  const names = Object.keys(extra);
  if (names.length > MAX_EXTRA_HEADERS) {
    throw new ComposeError(`More than ${MAX_EXTRA_HEADERS} extra header fields`, "headers");
  }
  const seen = new Set<string>();
  for (const name of names) header += extraField(name, extra[name], seen);

  const body = bodyOf(input);
  const end = body.body === "" || body.body.endsWith("\r\n") ? "" : "\r\n";
  return encoder.encode(`${header}MIME-Version: 1.0\r\n${body.header}\r\n${body.body}${end}`);
}
