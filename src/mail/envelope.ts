/**
 * The IMAP ENVELOPE of a message (RFC 9051 §7.5.2) and the IMAP string
 * rendering shared with BODYSTRUCTURE.
 *
 * Header values are given as they are in the message: unfolded, RFC 2047
 * encoded-words left encoded (the client decodes them). Where RFC 9051 is
 * silent we do what Dovecot does, so clients see what they are used to:
 * the last Date, Subject, In-Reply-To and Message-ID field counts, address
 * fields that occur twice are joined, the subject and display names have
 * their white space runs collapsed and trimmed, and unparseable addresses
 * become placeholders (`MISSING_MAILBOX`, `MISSING_DOMAIN`, `SYNTAX_ERROR`)
 * rather than a NIL host, which would read as a group marker.
 *
 * Deliberate differences from Dovecot 2.3: obsolete local parts with white
 * space around the dots (RFC 5322 §4.4 obs-local-part) are read, empty list
 * elements (`a@x,,b@y`, RFC 5322 §4.4 obs-addr-list) are skipped instead of
 * becoming placeholders, a syntax error spoils one list element rather than
 * the rest of the list, and a missing `>` at the very end is forgiven.
 */

import { type ByteRange, splitHeader } from "./mime.ts";

/** One address of an envelope (RFC 9051 §9 `address`); null renders as NIL. */
export interface EnvelopeAddress {
  /** Display name (`addr-name`), as written, white space collapsed. */
  name: string | null;
  /** Source route (`addr-adl`), e.g. `@a.example,@b.example`. */
  adl: string | null;
  /** Local part (`addr-mailbox`); for a group start, the group name; null ends a group. */
  mailbox: string | null;
  /** Domain (`addr-host`); null marks group syntax (RFC 9051 §7.5.2). */
  host: string | null;
}

const MISSING_MAILBOX = "MISSING_MAILBOX";
const MISSING_DOMAIN = "MISSING_DOMAIN";
const SYNTAX_ERROR = "SYNTAX_ERROR";
/** Strings longer than this are sent as literals. */
const QUOTED_MAX = 1024;

const encoder = new TextEncoder();

/**
 * An IMAP `nstring` (RFC 9051 §4.3, §4.5): NIL for null/undefined, a quoted
 * string for printable ASCII up to 1024 characters, otherwise a literal
 * `{n}\r\n...` where n counts the UTF-8 bytes. NUL, never allowed in a
 * literal, becomes U+FFFD.
 */
export function imapString(value: string | null | undefined): string {
  if (value === null || value === undefined) return "NIL";
  const text = value.includes("\0") ? value.replaceAll("\0", "\uFFFD") : value;
  if (text.length <= QUOTED_MAX && /^[\x20-\x7e]*$/.test(text)) {
    return `"${text.replace(/["\\]/g, "\\$&")}"`;
  }
  return `{${encoder.encode(text).length}}\r\n${text}`;
}

/**
 * Text cleaned for display as Dovecot does for the subject and display names:
 * line breaks removed, runs of spaces and tabs made one space, trimmed.
 */
export function forHumans(text: string): string {
  return text.replace(/[\r\n]/g, "").replace(/[ \t]+/g, " ").replace(/^ | $/g, "");
}

/**
 * The ENVELOPE (RFC 9051 §7.5.2) of the message whose header is `header`:
 * `(date subject from sender reply-to to cc bcc in-reply-to message-id)`.
 * Sender and Reply-To default to From when absent or empty.
 */
export function renderEnvelope(message: Uint8Array, header: ByteRange): string {
  const text: Record<string, string | undefined> = {};
  const lists: Record<string, EnvelopeAddress[]> = {
    from: [],
    sender: [],
    "reply-to": [],
    to: [],
    cc: [],
    bcc: [],
  };
  for (const field of splitHeader(message, header)) {
    if (!field.colon) continue;
    const name = field.name.toLowerCase();
    if (name in lists) lists[name].push(...parseAddressList(field.value));
    else if (/^(date|subject|in-reply-to|message-id)$/.test(name)) text[name] = field.value;
  }
  const from = lists.from;
  const sender = lists.sender.length > 0 ? lists.sender : from;
  const replyTo = lists["reply-to"].length > 0 ? lists["reply-to"] : from;
  const subject = text.subject === undefined ? undefined : forHumans(text.subject);
  return `(${
    [
      imapString(text.date),
      imapString(subject),
      renderAddresses(from),
      renderAddresses(sender),
      renderAddresses(replyTo),
      renderAddresses(lists.to),
      renderAddresses(lists.cc),
      renderAddresses(lists.bcc),
      imapString(text["in-reply-to"]),
      imapString(text["message-id"]),
    ].join(" ")
  })`;
}

function renderAddresses(list: EnvelopeAddress[]): string {
  if (list.length === 0) return "NIL";
  return `(${
    list.map((a) =>
      `(${imapString(a.name)} ${imapString(a.adl)} ${imapString(a.mailbox)} ${imapString(a.host)})`
    ).join("")
  })`;
}

type Token =
  /** An atom or quoted string; `broken` when the closing quote is missing. */
  | { kind: "word"; text: string; quoted: boolean; broken?: boolean }
  | { kind: "literal"; text: string }
  | { kind: "comment"; text: string }
  | { kind: "special"; text: string };

const SPECIALS = "<>@,;:\\]";
const ATOM_END = ' \t\r\n()"[' + SPECIALS;

/** RFC 5322 §3.2: atoms (with dots), quoted strings, domain literals, comments, specials. */
function tokenize(value: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    const c = value[i];
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      i++;
    } else if (c === "(") {
      // A comment: nested parentheses kept, quoted-pairs unescaped.
      let depth = 0;
      let text = "";
      while (i < n) {
        const d = value[i++];
        if (d === "\\" && i < n) text += value[i++];
        else if (d === "(") {
          if (depth++ > 0) text += d;
        } else if (d === ")") {
          if (--depth === 0) break;
          text += d;
        } else text += d;
      }
      tokens.push({ kind: "comment", text });
    } else if (c === '"') {
      let text = "";
      i++;
      while (i < n && value[i] !== '"') {
        if (value[i] === "\\" && i + 1 < n) i++;
        text += value[i++];
      }
      tokens.push({ kind: "word", text, quoted: true, broken: i >= n });
      i++;
    } else if (c === "[") {
      let j = i + 1;
      while (j < n && value[j] !== "]") j += value[j] === "\\" ? 2 : 1;
      tokens.push({ kind: "literal", text: value.slice(i, Math.min(j + 1, n)) });
      i = j + 1;
    } else if (SPECIALS.includes(c)) {
      tokens.push({ kind: "special", text: c });
      i++;
    } else {
      // Anything up to white space or a special is atom text (8-bit and controls included).
      let j = i + 1;
      while (j < n && !ATOM_END.includes(value[j])) j++;
      tokens.push({ kind: "word", text: value.slice(i, j), quoted: false });
      i = j;
    }
  }
  return tokens;
}

/**
 * Parses an address list (RFC 5322 §3.4, with the obsolete forms of §4.4):
 * mailboxes become `{name, adl, mailbox, host}`, a group becomes its start
 * marker `(NIL NIL name NIL)`, its members and the end marker `(NIL NIL NIL NIL)`.
 */
export function parseAddressList(value: string): EnvelopeAddress[] {
  return new AddressParser(tokenize(value)).list();
}

class AddressParser {
  #i = 0;
  #out: EnvelopeAddress[] = [];
  constructor(readonly tokens: Token[]) {}

  list(): EnvelopeAddress[] {
    for (;;) {
      const tok = this.#peek();
      if (!tok) return this.#out;
      // Empty elements and stray semicolons are skipped.
      if (this.#is(tok, ",") || this.#is(tok, ";")) this.#i++;
      else this.#address(false);
    }
  }

  #peek(): Token | undefined {
    while (this.tokens[this.#i]?.kind === "comment") this.#i++;
    return this.tokens[this.#i];
  }

  #is(tok: Token | undefined, special: string): boolean {
    return tok?.kind === "special" && tok.text === special;
  }

  #words(): Token[] {
    const words: Token[] = [];
    for (let tok = this.#peek(); tok?.kind === "word"; tok = this.#peek()) {
      words.push(tok);
      this.#i++;
    }
    return words;
  }

  /** One mailbox or group; on a syntax error, a placeholder and a skip to the next element. */
  #address(inGroup: boolean): void {
    const words = this.#words();
    const tok = this.#peek();
    if (words.some((w) => w.kind === "word" && w.broken)) {
      // An unterminated quoted string swallowed the rest: nothing can be trusted.
      this.#push(null, null, "", SYNTAX_ERROR);
      return this.#skipJunk(inGroup);
    }
    if (this.#is(tok, ":") && !inGroup) return this.#group(words);
    if (this.#is(tok, "<")) {
      this.#i++;
      return this.#angle(words, inGroup);
    }
    if (this.#is(tok, "@")) {
      this.#i++;
      return this.#addrSpec(words, inGroup);
    }
    if (!tok || this.#is(tok, ",") || (inGroup && this.#is(tok, ";"))) {
      // A word alone: a local part without a domain.
      if (words.length > 0) this.#push(null, null, localPart(words), "");
      return;
    }
    this.#push(phrase(words), null, "", SYNTAX_ERROR);
    this.#skipJunk(inGroup);
  }

  /** RFC 5322 §3.4 `group = display-name ":" [group-list] ";"`. */
  #group(words: Token[]): void {
    this.#i++;
    this.#out.push({ name: null, adl: null, mailbox: phrase(words) ?? "", host: null });
    for (;;) {
      const tok = this.#peek();
      if (!tok) break;
      if (this.#is(tok, ";")) {
        this.#i++;
        break;
      }
      if (this.#is(tok, ",")) this.#i++;
      else this.#address(true);
    }
    this.#out.push({ name: null, adl: null, mailbox: null, host: null });
    this.#skipJunk(false);
  }

  /** `[display-name] "<" [obs-route] addr-spec ">"`, the `<` already read. */
  #angle(words: Token[], inGroup: boolean): void {
    const name = phrase(words);
    let adl: string | null = null;
    if (this.#is(this.#peek(), "@")) {
      // RFC 5322 §4.4 obs-route: "@" domain *("," "@" domain) ":"
      const route: string[] = [];
      while (this.#is(this.#peek(), "@")) {
        this.#i++;
        route.push("@" + this.#domain().text);
        while (this.#is(this.#peek(), ",")) this.#i++;
      }
      if (!this.#is(this.#peek(), ":")) {
        this.#push(name, null, "", SYNTAX_ERROR);
        return this.#skipJunk(inGroup);
      }
      this.#i++;
      adl = route.join(",");
    }
    const local = localPart(this.#words());
    let host = "";
    if (this.#is(this.#peek(), "@")) {
      this.#i++;
      host = this.#domain().text;
    }
    const tok = this.#peek();
    if (this.#is(tok, ">")) this.#i++;
    else if (tok) {
      this.#push(name, adl, "", SYNTAX_ERROR);
      return this.#skipJunk(inGroup);
    }
    this.#push(name, adl, local, host);
    this.#skipJunk(inGroup);
  }

  /** `local-part "@" domain`, the `@` already read; a comment after it serves as the name. */
  #addrSpec(words: Token[], inGroup: boolean): void {
    const domain = this.#domain();
    let comment: string | undefined;
    for (let j = domain.last + 1; this.tokens[j]?.kind === "comment"; j++) {
      comment ??= this.tokens[j].text;
    }
    const name = comment === undefined || comment === "" ? null : forHumans(comment);
    this.#push(name, null, localPart(words), domain.text);
    this.#skipJunk(inGroup);
  }

  /** A domain: atoms joined by dots (white space and comments around them allowed), or a literal. */
  #domain(): { text: string; last: number } {
    let text = "";
    let last = this.#i - 1;
    for (let tok = this.#peek(); tok; tok = this.#peek()) {
      const joins = text === "" || text.endsWith(".");
      if (tok.kind === "literal" && joins) text += tok.text;
      else if (tok.kind === "word" && !tok.quoted && (joins || tok.text.startsWith("."))) {
        text += tok.text;
      } else break;
      last = this.#i++;
    }
    return { text, last };
  }

  /** Skips what is left of an element, up to the next comma (or the `;` ending a group). */
  #skipJunk(inGroup: boolean): void {
    for (let tok = this.#peek(); tok; tok = this.#peek()) {
      if (this.#is(tok, ",") || (inGroup && this.#is(tok, ";"))) return;
      this.#i++;
    }
  }

  #push(name: string | null, adl: string | null, mailbox: string, host: string): void {
    this.#out.push({
      name,
      adl,
      mailbox: mailbox === "" ? MISSING_MAILBOX : mailbox,
      host: host === "" ? MISSING_DOMAIN : host,
    });
  }
}

function localPart(words: Token[]): string {
  return words.map((w) => w.text).join("");
}

/** A display name: words joined by a space; null when there is none (`""` counts as none). */
function phrase(words: Token[]): string | null {
  const text = words.map((w) => w.text).join(" ");
  return text === "" ? null : forHumans(text);
}
