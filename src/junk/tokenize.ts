/**
 * The features the junk filter learns from: the words of a message's
 * decoded text and HTML parts, a few header fields, the hosts its links
 * point to, and the kinds of its attachments. Each feature is a string; a
 * message gives each at most once (what counts is whether a message has it,
 * as in Graham's and Robinson's filters), and at most MAX_TOKENS of them.
 *
 * Prefixes keep kinds apart: `subject:free` is not the body word `free`.
 *
 * Chosen by measurement on the SpamAssassin corpus (bench/junk_eval.ts):
 * the hosts of Received fields, the Message-ID's domain and each text
 * part's transfer encoding and charset each caught more spam at the same
 * false positives; the names and words of all header fields, HTML tag
 * names, word pairs and punctuation tokens each made things worse.
 */
import { decodeEncodedWords } from "../mail/encoded_words.ts";
import { type MimePart, parseMime, splitHeader } from "../mail/mime.ts";
import { decodeCharset, decodeTransfer } from "../mail/transfer_decoding.ts";

/** At most this many features per message (a huge message cannot flood the store). */
export const MAX_TOKENS = 3000;
/** Text beyond this many characters of a part is not read. */
const MAX_PART_TEXT = 200_000;

/** Words: letters and digits, with inner apostrophes, dots or dashes ("don't", "e.g", "x-ray"). */
const WORD = /[\p{L}\p{N}](?:[\p{L}\p{N}]|['.-](?=[\p{L}\p{N}]))*/gu;
/** A word that is a number (digits, dots, dashes). */
const NUMBER = /^[\d.-]+$/;
/** The hosts of http(s) links, in text and in HTML attributes. */
const URL_HOST = /\bhttps?:\/\/([a-z0-9.-]+)/gi;
/** Header fields whose words are features, with their prefix. */
const WORD_FIELDS: Record<string, string> = { subject: "subject" };
/** Header fields whose address is a feature. */
const ADDRESS_FIELDS: Record<string, string> = { from: "from", "reply-to": "replyto" };
/** The hosts named in a Received field ("from HOST", "by HOST"). */
const RECEIVED_HOST = /\b(?:from|by)\s+([a-z0-9-]+(?:\.[a-z0-9-]+)+)/gi;
/** Header fields whose value, up to the first space or slash, is a feature. */
const VALUE_FIELDS: Record<string, string> = {
  "x-mailer": "mailer",
  "user-agent": "mailer",
  "content-type": "ctype",
};

/** The features of `message` (its raw bytes). */
export function tokenize(message: Uint8Array): Set<string> {
  const tokens = new Set<string>();
  const add = (token: string) => {
    if (tokens.size < MAX_TOKENS) tokens.add(token);
  };
  const root = parseMime(message);
  headerTokens(message, root, add);
  walk(message, root, add, 0);
  return tokens;
}

function headerTokens(message: Uint8Array, root: MimePart, add: (t: string) => void): void {
  for (const field of splitHeader(message, root.header)) {
    const name = field.name.toLowerCase();
    if (name === "received") {
      for (const m of field.value.matchAll(RECEIVED_HOST)) add(`received:${domainOf(m[1])}`);
      continue;
    }
    if (name === "message-id") {
      add(`msgid:${domainOf(/@([^>\s]+)/.exec(field.value)?.[1] ?? "none")}`);
      continue;
    }
    const value = decodeEncodedWords(field.value);
    if (WORD_FIELDS[name]) words(value, (w) => add(`${WORD_FIELDS[name]}:${w}`));
    if (ADDRESS_FIELDS[name]) {
      const address = /[^\s<>"]+@([^\s<>"]+)/.exec(value);
      if (address) {
        add(`${ADDRESS_FIELDS[name]}:${address[0].toLowerCase()}`);
        add(`${ADDRESS_FIELDS[name]}domain:${address[1].toLowerCase()}`);
      }
    }
    if (VALUE_FIELDS[name]) {
      const head = value.trim().split(/[\s/;]/)[0].toLowerCase();
      if (head) add(`${VALUE_FIELDS[name]}:${head.slice(0, 40)}`);
    }
  }
}

function walk(message: Uint8Array, part: MimePart, add: (t: string) => void, depth: number): void {
  if (depth > 10) return;
  const { type, subtype } = part.contentType;
  if (part.parts) {
    for (const child of part.parts) walk(message, child, add, depth + 1);
    return;
  }
  if (part.message) {
    walk(message, part.message, add, depth + 1);
    return;
  }
  const attached = part.disposition?.type === "attachment";
  if (type === "text" && (subtype === "plain" || subtype === "html") && !attached) {
    const bytes = decodeTransfer(message.subarray(part.body.start, part.body.end), part.encoding);
    const charset = part.contentType.params.get("charset");
    add(`cte:${part.encoding.toLowerCase().slice(0, 40)}`);
    add(`charset:${charset?.toLowerCase().slice(0, 40) ?? "none"}`);
    let text = decodeCharset(bytes, charset)
      .slice(0, MAX_PART_TEXT);
    for (const m of text.matchAll(URL_HOST)) urlHost(m[1], add);
    if (subtype === "html") text = htmlText(text);
    words(text, add);
    return;
  }
  add(`attach:${type}/${subtype}`);
  const name = part.disposition?.params.get("filename") ?? part.contentType.params.get("name");
  const extension = name && /\.([a-z0-9]{1,8})$/i.exec(name)?.[1];
  if (extension) add(`attachext:${extension.toLowerCase()}`);
}

/** The last two labels of a host name ("mail.example.com" → "example.com"). */
function domainOf(host: string): string {
  return host.toLowerCase().replace(/\.+$/, "").split(".").slice(-2).join(".").slice(0, 80);
}

/** The host of a link, and the domain above it, as features. */
function urlHost(host: string, add: (t: string) => void): void {
  const labels = host.toLowerCase().replace(/\.+$/, "").split(".").filter(Boolean);
  if (labels.length === 0) return;
  add(`url:${labels.join(".")}`);
  if (labels.length > 2) add(`url:${labels.slice(-2).join(".")}`);
}

/** The words of `text`, lower-cased, 2 to 24 characters, numbers only when short. */
function words(text: string, add: (t: string) => void): void {
  // Lower-cased once for the whole text: cheaper than once per word.
  for (const [word] of text.toLowerCase().matchAll(WORD)) {
    if (word.length < 2 || word.length > 24) continue;
    if (word.length > 4 && NUMBER.test(word)) continue;
    add(word);
  }
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  nbsp: " ",
  apos: "'",
};

/** The text of HTML: without tags, scripts and styles, with entities read. */
function htmlText(html: string): string {
  return html
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, " ")
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/<[^>]*>/g, " ")
    .replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
      if (name[0] === "#") {
        const code = name[1] === "x" || name[1] === "X"
          ? parseInt(name.slice(2), 16)
          : parseInt(name.slice(1), 10);
        return code > 0 && code < 0x110000 ? String.fromCodePoint(code) : " ";
      }
      return ENTITIES[name.toLowerCase()] ?? whole;
    });
}
