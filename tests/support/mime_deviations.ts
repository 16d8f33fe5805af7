/**
 * Where Postino deliberately answers differently from Dovecot 2.3 (the oracle
 * of tests/fixtures/mime/*.dovecot.json), with the reason and our answer.
 * The oracle tests compare everything else exactly.
 *
 * Two differences are not listed per item because they apply throughout and
 * the comparisons account for them:
 * - case: we lower-case media types, subtypes, parameter names, transfer
 *   encodings and disposition types (case-insensitive tokens, RFC 2045 §5.1,
 *   §6.1, RFC 2183 §2); Dovecot echoes the sender's spelling. BODYSTRUCTURE
 *   comparisons lower-case those positions on both sides.
 * - line ends: Dovecot serves a message stored with bare LF line ends as CRLF
 *   (and counts sizes so); we serve the stored bytes and count them. The
 *   bare_lf fixture is compared after converting it to CRLF, and separately
 *   checked to give the same structure without the conversion.
 * - NUL: Dovecot turns NUL into 0x80 in literals (RFC 9051 literals cannot
 *   carry NUL); sectionRange() gives stored bytes, and the FETCH session is
 *   the place that must do the same. Section comparisons map NUL to 0x80.
 */

import { parseOne, plain, type Sexp } from "./mime_sexp.ts";

/** A deviation in one whole FETCH item: our answer as IMAP text. */
export interface ItemDeviation {
  why: string;
  /** Our value of the item, as IMAP text (ENVELOPE, BODYSTRUCTURE, BODY). */
  expected?: string;
  /** For BODY[section]: our answer is Dovecot's answer to this other request. */
  sameAs?: string;
  /** For BODY[section]: our answer is the empty string (the section does not exist for us). */
  empty?: true;
  /** For BODY[section]: our answer as text. */
  text?: string;
}

/** Per fixture, per request. */
export const ITEM_DEVIATIONS: Record<string, Record<string, ItemDeviation>> = {
  odd_content_type: {
    BODYSTRUCTURE: {
      why: "parts 2 and 3 have unparseable Content-Types (`text`, `garbage/;;;`): RFC 2045 §5.2 " +
        "says text/plain, Dovecot shows what it read; part 6 is message/global, which RFC 9051 " +
        "§9 media-message shows with envelope and body, Dovecot 2.3 as a basic part",
      expected: '(("text" "html" ("charset" "UTF-8" "format" "Flowed") NIL NIL "7bit" 25 0 ' +
        'NIL NIL NIL NIL)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 20 0 NIL NIL ' +
        'NIL NIL)("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 21 0 NIL NIL NIL NIL)' +
        '("text" "plain" ("charset" "us-ascii" "charset" "utf-8" "x-empty" "") NIL NIL "7bit" ' +
        '17 0 NIL NIL NIL NIL)("text" "plain" ("name" "=?UTF-8?B?w6kudHh0?=" "title*" ' +
        `"''part two%21" "charset" "us-ascii") NIL NIL "quoted-printable" 5 0 NIL ` +
        '("attachment" ("filename" "a \\"b\\".txt")) NIL NIL)("message" "global" NIL NIL NIL ' +
        '"7bit" 73 (NIL "=?UTF-8?Q?gl=C3=B6bal?=" ((NIL NIL "global" "example.org")) ' +
        '((NIL NIL "global" "example.org")) ((NIL NIL "global" "example.org")) NIL NIL NIL NIL ' +
        'NIL) ("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL) 3 ' +
        'NIL NIL NIL NIL) "mixed" ("boundary" "odd") NIL NIL NIL)',
    },
    BODY: {
      why: "as BODYSTRUCTURE",
      expected: '(("text" "html" ("charset" "UTF-8" "format" "Flowed") NIL NIL "7bit" 25 0)' +
        '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 20 0)("text" "plain" ' +
        '("charset" "us-ascii") NIL NIL "7bit" 21 0)("text" "plain" ("charset" "us-ascii" ' +
        '"charset" "utf-8" "x-empty" "") NIL NIL "7bit" 17 0)("text" "plain" ("name" ' +
        `"=?UTF-8?B?w6kudHh0?=" "title*" "''part two%21" "charset" "us-ascii") NIL NIL ` +
        '"quoted-printable" 5 0)("message" "global" NIL NIL NIL "7bit" 73 (NIL ' +
        '"=?UTF-8?Q?gl=C3=B6bal?=" ((NIL NIL "global" "example.org")) ((NIL NIL "global" ' +
        '"example.org")) ((NIL NIL "global" "example.org")) NIL NIL NIL NIL NIL) ("text" ' +
        '"plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0) 3) "mixed")',
    },
    "BODY.PEEK[6.HEADER]": {
      why: "message/global is a message for us: 6.HEADER is its header",
      text: "From: global@example.org\r\nSubject: =?UTF-8?Q?gl=C3=B6bal?=\r\n\r\n",
    },
    "BODY.PEEK[6.TEXT]": {
      why: "message/global is a message for us: 6.TEXT is its body",
      text: "global body",
    },
    "BODY.PEEK[6.1]": {
      why: "message/global is a message for us: 6.1 is the body of its single-part message",
      text: "global body",
    },
  },
  garbage: {
    ENVELOPE: {
      why: "a broken address spoils one list element, not the rest of the list; invalid UTF-8 " +
        "becomes U+FFFD (our strings are UTF-8 text)",
      expected:
        '(NIL {23}\r\n\u0001\u0002 control \u007f bytes \ufffd( ((NIL NIL "MISSING_MAILBOX" ' +
        '"SYNTAX_ERROR")(NIL NIL "MISSING_MAILBOX" "SYNTAX_ERROR")) ((NIL NIL "MISSING_MAILBOX" ' +
        '"SYNTAX_ERROR")(NIL NIL "MISSING_MAILBOX" "SYNTAX_ERROR")) ((NIL NIL ' +
        '"MISSING_MAILBOX" "SYNTAX_ERROR")(NIL NIL "MISSING_MAILBOX" "SYNTAX_ERROR")) NIL NIL ' +
        "NIL NIL NIL)",
    },
    BODYSTRUCTURE: {
      why: "`multipart/\\xe9; boundary=` is no valid Content-Type (8-bit subtype, empty " +
        "boundary): RFC 2045 §5.2 says text/plain; Dovecot splits on the empty boundary",
      expected: '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 3 NIL NIL NIL NIL)',
    },
    BODY: {
      why: "as BODYSTRUCTURE",
      expected: '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 15 3)',
    },
    "BODY.PEEK[1]": { why: "single-part for us: part 1 is the body", sameAs: "BODY.PEEK[TEXT]" },
    "BODY.PEEK[1.MIME]": {
      why: "single-part for us: the MIME header of part 1 is the message header",
      sameAs: "BODY.PEEK[HEADER]",
    },
    "BODY.PEEK[2.MIME]": { why: "single-part for us: there is no part 2", empty: true },
  },
  headers_only: {
    "BODY.PEEK[HEADER.FIELDS.NOT (RECEIVED RETURN-PATH)]": {
      why: "HEADER.FIELDS and HEADER.FIELDS.NOT always end with a blank line; Dovecot adds the " +
        "missing one for HEADER.FIELDS only",
      text: "From: a@example.org\r\nTo: b@example.org\r\nSubject: Headers only, no blank line\r\n" +
        "Message-ID: <hdr.1@example.org>\r\n\r\n",
    },
  },
};

/**
 * envelope_cases.eml holds one message/rfc822 part per address case (its
 * From field); where we read the address list differently, our list.
 */
export const ADDRESS_DEVIATIONS: Record<number, { why: string; from: string }> = {
  8: {
    why: "a syntax error spoils one list element; Dovecot drops the rest of the list",
    from: '((NIL NIL "a" "example.com")("garbage" NIL "MISSING_MAILBOX" "SYNTAX_ERROR")' +
      '(NIL NIL "c" "example.com"))',
  },
  9: {
    why: "each broken element gets its own placeholder; Dovecot stops at the first",
    from: '((NIL NIL "MISSING_MAILBOX" "SYNTAX_ERROR")(NIL NIL "MISSING_MAILBOX" "SYNTAX_ERROR"))',
  },
  10: {
    why: "junk after an address spoils only that element; Dovecot drops the rest of the list",
    from: '(("Name" NIL "a" "example.com")(NIL NIL "c" "example.com"))',
  },
  18: {
    why: "a group inside a group is a syntax error of that element (RFC 5322 §3.4 has no " +
      "nested groups); Dovecot reads `inner` as a local part",
    from: '((NIL NIL "outer" NIL)("inner" NIL "MISSING_MAILBOX" "SYNTAX_ERROR")' +
      "(NIL NIL NIL NIL))",
  },
  25: {
    why: "empty list elements are skipped (RFC 5322 §4.4 obs-addr-list); Dovecot shows a " +
      "placeholder address",
    from: '((NIL NIL "a" "example.com")(NIL NIL "c" "example.com"))',
  },
  26: {
    why: "as case 25, with white space in the empty element",
    from: '((NIL NIL "a" "example.com")(NIL NIL "c" "example.com"))',
  },
  29: {
    why: "a missing `>` at the very end is forgiven; Dovecot reports SYNTAX_ERROR as the host",
    from: '(("Name" NIL "user" "example.com"))',
  },
  30: {
    why: "an unterminated quoted string is a syntax error; Dovecot shows missing mailbox and " +
      "domain",
    from: '((NIL NIL "MISSING_MAILBOX" "SYNTAX_ERROR"))',
  },
  36: {
    why: "RFC 5322 §4.4 obs-local-part allows white space around the dots; Dovecot rejects it",
    from: '(("Obs" NIL "obs.dotted" "example.com"))',
  },
  37: {
    why: "as case 36, without angle brackets; Dovecot reads the local part as a display name",
    from: '((NIL NIL "obs.dotted" "example.com"))',
  },
};

/**
 * Dovecot's envelope of address case `n` (as plain JSON), with our From
 * (and so our Sender and Reply-To, which default to it) where we differ.
 */
export function expectedCaseEnvelope(n: number, dovecot: Sexp[]): unknown {
  const deviation = ADDRESS_DEVIATIONS[n];
  const envelope = plain(dovecot) as unknown[];
  if (!deviation) return envelope;
  const from = plain(parseOne(deviation.from));
  return [envelope[0], envelope[1], from, from, from, ...envelope.slice(5)];
}
