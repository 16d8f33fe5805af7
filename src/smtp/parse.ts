/**
 * Pure parsers for SMTP command lines, paths and ESMTP parameters (RFC 5321).
 *
 * Every function here is free of I/O. A syntax or policy error is thrown as an
 * {@link SmtpReplyError} carrying the reply the session must write, so callers
 * only need to catch and forward it.
 *
 * Enhanced status codes (RFC 3463): X.1.7 for a bad sender address, X.1.3 for a
 * bad recipient (or any other) address, X.5.4 for bad command arguments and
 * X.6.7 for a non-ASCII address sent without SMTPUTF8 (RFC 6531).
 *
 * @module
 */

import { isIPv4, isIPv6 } from "node:net";
import { domainToASCII } from "node:url";
import { SmtpReplyError } from "./reply.ts";

/** One mailbox of a path: `local@domain`, with the local part unquoted. */
export interface Mailbox {
  /** The local part as a value: a quoted local part is stored without its quotes and escapes. */
  local: string;
  /**
   * The domain, lower-cased: a hostname (U-labels kept as given under SMTPUTF8) or an
   * address literal such as `[192.0.2.1]` or `[ipv6:2001:db8::1]`. Empty only for the
   * special recipient `<Postmaster>` (RFC 5321 §4.5.1).
   */
  domain: string;
}

/** A command line split into its verb and arguments. */
export interface SmtpCommand {
  /** The verb, upper-cased; empty for an empty line. */
  verb: string;
  /** Everything after the first run of spaces, with trailing spaces and tabs removed. */
  args: string;
}

/** Options of {@link parsePath}. */
export interface ParsePathOptions {
  /** Accept the null path `<>` (a reverse-path), returning `null`. */
  allowNull: boolean;
  /** SMTPUTF8 was given (RFC 6531): UTF-8 is allowed in the local part and domain. */
  utf8: boolean;
  /**
   * The path is a reverse-path, so syntax errors use X.1.7 (bad sender address syntax)
   * instead of X.1.3 (bad destination address syntax), RFC 3463 §3.2.
   *
   * @default {false}
   */
  sender?: boolean;
}

/** Options of {@link parseAddress}. */
export interface ParseAddressOptions {
  /** Allow UTF-8 in the local part and domain (RFC 6531). */
  utf8: boolean;
}

/** Body types of the BODY parameter (RFC 6152 §2, RFC 3030 §3). */
export type BodyType = "7BIT" | "8BITMIME" | "BINARYMIME";

/** The ESMTP parameters of MAIL that Postino understands. */
export interface MailParams {
  /** Declared message size in octets (RFC 1870 §6). */
  size?: number;
  /** Declared body type (RFC 6152, RFC 3030). */
  body?: BodyType;
  /** The SMTPUTF8 keyword was given (RFC 6531 §3.4). */
  smtputf8: boolean;
  /** The AUTH parameter, xtext-decoded; the unknown identity stays `"<>"` (RFC 4954 §5). */
  auth?: string;
}

/** The parsed arguments of MAIL. */
export interface MailCommand {
  /** The reverse-path; `null` for the null path `<>`. */
  from: Mailbox | null;
  /** The ESMTP parameters. */
  params: MailParams;
}

/** Options of {@link parseMailCommand}. */
export interface ParseMailOptions {
  /** SMTPUTF8 is advertised to this client, so the SMTPUTF8 parameter is accepted. */
  utf8Allowed: boolean;
}

/** The parsed arguments of RCPT. */
export interface RcptCommand {
  /** The forward-path. */
  to: Mailbox;
  /** RCPT parameters; none are supported, so this is always empty. */
  params: Record<string, never>;
}

/** Options of {@link parseRcptCommand}. */
export interface ParseRcptOptions {
  /** The transaction's MAIL carried SMTPUTF8 (RFC 6531 §3.4). */
  utf8: boolean;
}

/** The parsed arguments of BDAT (RFC 3030 §2). */
export interface BdatArgs {
  /** Chunk size in octets. */
  size: number;
  /** This is the last chunk of the message. */
  last: boolean;
}

/** The parsed arguments of AUTH (RFC 4954 §4). */
export interface AuthArgs {
  /** The SASL mechanism name, upper-cased. */
  mechanism: string;
  /** The still base64-encoded initial response; `""` when the client sent `=`. */
  initialResponse?: string;
}

// RFC 5321 §4.5.3.1.1-3: size limits, in octets.
const MAX_LOCAL_OCTETS = 64;
const MAX_DOMAIN_OCTETS = 255;
const MAX_PATH_OCTETS = 256;
// The path limit counts the angle brackets; a bare address has two octets fewer.
const MAX_ADDRESS_OCTETS = MAX_PATH_OCTETS - 2;

// RFC 5321 §4.1.2 atext (from RFC 5322 §3.2.3), extended by RFC 6531 §3.3 with
// UTF8-non-ascii when SMTPUTF8 is in effect.
const ATEXT_ASCII = "A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~";
const DOT_STRING_ASCII = new RegExp(`^[${ATEXT_ASCII}]+(?:\\.[${ATEXT_ASCII}]+)*$`);
const DOT_STRING_UTF8 = new RegExp(
  `^[${ATEXT_ASCII}\\u{80}-\\u{10FFFF}]+(?:\\.[${ATEXT_ASCII}\\u{80}-\\u{10FFFF}]+)*$`,
  "u",
);
// RFC 5321 §4.1.2: Let-dig [Ldh-str], 1..63 octets per label.
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// RFC 5321 §4.1.2 esmtp-keyword and esmtp-value.
const ESMTP_KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ESMTP_VALUE = /^[\x21-\x3c\x3e-\x7e]+$/;
// RFC 4422 §3.1: sasl-mech = 1*20mech-char.
const SASL_MECH = /^[A-Z0-9_-]{1,20}$/;
const NON_ASCII = /[\u0080-\u{10FFFF}]/u;

const encoder = new TextEncoder();

function octets(s: string): number {
  return encoder.encode(s).length;
}

/**
 * Quotes client text for a reply: printable ASCII only, since reply text is
 * ASCII (RFC 5321 §4.2), and at most 64 characters so a reply stays short.
 */
function show(value: string): string {
  const cut = value.length > 64 ? `${value.slice(0, 64)}...` : value;
  const escaped = cut.replace(/[^\x20-\x7e]|["\\]/gu, (c) => {
    if (c === '"' || c === "\\") return `\\${c}`;
    return `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`;
  });
  return `"${escaped}"`;
}

function argumentError(text: string): SmtpReplyError {
  // RFC 3463 §3.6: X.5.4 "Invalid command arguments".
  return new SmtpReplyError(501, "5.5.4", text);
}

/** Builds the syntax errors of one address, with the enhanced code of its role. */
function addressErrors(sender: boolean) {
  const enhanced = sender ? "5.1.7" : "5.1.3";
  return (reason: string) => new SmtpReplyError(501, enhanced, `Bad address syntax: ${reason}`);
}

type AddressError = ReturnType<typeof addressErrors>;

/**
 * Splits a command line into an upper-cased verb and its arguments.
 *
 * The arguments are everything after the first run of spaces following the verb,
 * with trailing spaces and tabs removed. An empty line yields the verb `""`.
 */
export function parseCommand(line: string): SmtpCommand {
  const text = line.replace(/[ \t]+$/, "");
  const space = text.indexOf(" ");
  if (space < 0) return { verb: text.toUpperCase(), args: "" };
  return {
    verb: text.slice(0, space).toUpperCase(),
    args: text.slice(space).replace(/^ +/, ""),
  };
}

/** Reports whether a local part can be written bare, as a Dot-string (RFC 5321 §4.1.2). */
function isDotString(local: string, utf8: boolean): boolean {
  return (utf8 ? DOT_STRING_UTF8 : DOT_STRING_ASCII).test(local);
}

/**
 * Formats a mailbox for the wire: `local@domain`, quoting the local part when it is
 * not a Dot-string (RFC 5321 §4.1.2 Quoted-string, escaping `\` and `"`).
 *
 * The Postmaster mailbox with an empty domain formats as its bare local part.
 */
export function formatMailbox(m: Mailbox): string {
  const local = isDotString(m.local, true)
    ? m.local
    : `"${m.local.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  return m.domain === "" ? local : `${local}@${m.domain}`;
}

/**
 * Finds the `>` that closes the path opening at `text[0]`, skipping a quoted local
 * part, which can only start right after `<` or after a source route's `:`.
 * Returns -1 when the path is not closed.
 */
function findPathEnd(text: string): number {
  let quoted = false;
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"' && (i === 1 || text[i - 1] === ":")) {
      quoted = true;
    } else if (c === ">") {
      return i;
    }
  }
  return -1;
}

/** Splits `<path> rest` into the bracketed path and what follows its `>`. */
function splitPath(text: string, fail: AddressError): { path: string; rest: string } {
  if (!text.startsWith("<")) throw fail("missing angle brackets");
  const end = findPathEnd(text);
  if (end < 0) throw fail("missing closing angle bracket");
  return { path: text.slice(0, end + 1), rest: text.slice(end + 1) };
}

/** Rejects non-ASCII text when SMTPUTF8 is not in effect, and malformed UTF-16 always. */
function checkCharset(text: string, utf8: boolean, fail: AddressError): void {
  if (!NON_ASCII.test(text)) return;
  // RFC 6531 §3.7.4.1: a non-ASCII address without SMTPUTF8 is refused with
  // 553 and X.6.7 "Non-ASCII addresses not permitted for that sender/recipient".
  if (!utf8) throw new SmtpReplyError(553, "5.6.7", "Non-ASCII address requires SMTPUTF8");
  if (!text.isWellFormed()) throw fail("invalid UTF-8");
}

/** Validates a hostname (RFC 5321 §4.1.2 Domain) and returns it lower-cased. */
function parseHostname(domain: string, fail: AddressError): string {
  if (domain === "") throw fail("missing domain");
  const lower = domain.toLowerCase();
  let ascii = lower;
  // RFC 6531 §3.3: under SMTPUTF8 the domain may hold U-labels; they are checked in
  // their A-label form. Existing A-labels ("xn--") must be valid Punycode as well.
  if (NON_ASCII.test(lower) || lower.includes("xn--")) {
    ascii = domainToASCII(lower);
    if (ascii === "") throw fail(`invalid internationalised domain ${show(domain)}`);
  }
  if (octets(ascii) > MAX_DOMAIN_OCTETS || octets(lower) > MAX_DOMAIN_OCTETS) {
    // RFC 5321 §4.5.3.1.2
    throw fail(`domain is longer than ${MAX_DOMAIN_OCTETS} octets`);
  }
  for (const label of ascii.split(".")) {
    if (label === "") throw fail(`empty label in domain ${show(domain)}`);
    if (label.length > 63) throw fail("domain label is longer than 63 octets");
    if (!LDH_LABEL.test(label)) throw fail(`invalid domain ${show(domain)}`);
  }
  return lower;
}

/** Validates an address literal `[...]` (RFC 5321 §4.1.3) and returns it lower-cased. */
function parseAddressLiteral(literal: string, fail: AddressError): string {
  if (!literal.endsWith("]")) throw fail("unterminated address literal");
  const inner = literal.slice(1, -1);
  const lower = literal.toLowerCase();
  if (/^ipv6:/i.test(inner)) {
    const ip = inner.slice(5);
    // Zone identifiers are not part of the RFC 5321 IPv6-addr syntax.
    if (ip.includes("%") || !isIPv6(ip)) {
      throw fail(`invalid IPv6 address literal ${show(literal)}`);
    }
    return lower;
  }
  if (inner.includes(":")) {
    // General-address-literal: no other standardized tag is registered.
    throw fail(`unsupported address literal ${show(literal)}`);
  }
  if (!isIPv4(inner)) throw fail(`invalid IPv4 address literal ${show(literal)}`);
  return lower;
}

/** Parses `local@domain` (RFC 5321 §4.1.2 Mailbox) after the charset check. */
function parseMailbox(text: string, utf8: boolean, fail: AddressError): Mailbox {
  let local: string;
  let wireLocal: string;
  let at: number;
  if (text.startsWith('"')) {
    // RFC 5321 §4.1.2 Quoted-string; RFC 6531 §3.3 adds UTF8-non-ascii to qtextSMTP.
    local = "";
    let i = 1;
    for (;; i++) {
      if (i >= text.length) throw fail("unterminated quoted local part");
      const c = text[i];
      const code = c.charCodeAt(0);
      if (c === '"') break;
      if (c === "\\") {
        // quoted-pairSMTP = %d92 %d32-126
        const next = text.charCodeAt(i + 1);
        if (!(next >= 32 && next <= 126)) throw fail("invalid quoted pair in local part");
        local += text[++i];
      } else if ((code >= 32 && code <= 126) || code >= 0x80) {
        local += c;
      } else {
        throw fail("control character in quoted local part");
      }
    }
    wireLocal = text.slice(0, i + 1);
    at = i + 1;
    if (text[at] !== "@") throw fail("missing @ after quoted local part");
  } else {
    at = text.indexOf("@");
    if (at < 0) throw fail("missing @ and domain");
    local = wireLocal = text.slice(0, at);
    if (local === "") throw fail("empty local part");
    if (!isDotString(local, utf8)) throw fail(`invalid local part ${show(local)}`);
  }
  // RFC 5321 §4.5.3.1.1: the local part, as sent, is at most 64 octets.
  if (octets(wireLocal) > MAX_LOCAL_OCTETS) {
    throw fail(`local part is longer than ${MAX_LOCAL_OCTETS} octets`);
  }
  const rawDomain = text.slice(at + 1);
  const domain = rawDomain.startsWith("[")
    ? parseAddressLiteral(rawDomain, fail)
    : parseHostname(rawDomain, fail);
  return { local, domain };
}

/**
 * Parses a Reverse-path or Forward-path (RFC 5321 §4.1.2): `<local@domain>`.
 *
 * Returns `null` for the null path `<>` when `allowNull` is set. A source route
 * (`<@a.example,@b.example:user@c.example>`) is accepted and ignored (RFC 5321
 * §4.1.1.3, Appendix C). Throws {@link SmtpReplyError}: 501 5.1.3 (5.1.7 for a
 * sender) for bad syntax or an over-long path, 553 5.6.7 for non-ASCII without
 * SMTPUTF8.
 */
export function parsePath(text: string, opts: ParsePathOptions): Mailbox | null {
  const fail = addressErrors(opts.sender ?? false);
  const { path, rest } = splitPath(text, fail);
  if (rest !== "") throw fail("unexpected text after the closing angle bracket");
  return parseBracketedPath(path, opts, fail);
}

/** Parses a path already known to run from `<` to its closing `>`. */
function parseBracketedPath(
  path: string,
  opts: ParsePathOptions,
  fail: AddressError,
): Mailbox | null {
  checkCharset(path, opts.utf8, fail);
  // RFC 5321 §4.5.3.1.3: a path is at most 256 octets, punctuation included.
  if (octets(path) > MAX_PATH_OCTETS) throw fail(`path is longer than ${MAX_PATH_OCTETS} octets`);
  let inner = path.slice(1, -1);
  if (inner === "") {
    // RFC 5321 §4.1.1.2: the null reverse-path, for notifications.
    if (!opts.allowNull) throw fail("null path is not allowed here");
    return null;
  }
  if (inner.startsWith("@")) {
    // RFC 5321 §4.1.1.3 and Appendix C: A-d-l ":" Mailbox; servers SHOULD accept
    // and ignore the source route.
    const colon = inner.indexOf(":");
    if (colon < 0) throw fail("missing local part");
    for (const hop of inner.slice(0, colon).split(",")) {
      if (!hop.startsWith("@")) throw fail("malformed source route");
      parseHostname(hop.slice(1), fail);
    }
    inner = inner.slice(colon + 1);
  }
  return parseMailbox(inner, opts.utf8, fail);
}

/**
 * Parses a bare address `local@domain` without angle brackets, with the same rules
 * as {@link parsePath}: no null path and no source route; at most 254 octets.
 * Used by the CLI and by AUTH. Throws {@link SmtpReplyError} (501 5.1.3, 553 5.6.7).
 */
export function parseAddress(text: string, opts: ParseAddressOptions): Mailbox {
  const fail = addressErrors(false);
  checkCharset(text, opts.utf8, fail);
  if (text === "") throw fail("empty address");
  if (text.startsWith("<")) throw fail("unexpected angle brackets");
  if (octets(text) > MAX_ADDRESS_OCTETS) {
    throw fail(`address is longer than ${MAX_ADDRESS_OCTETS} octets`);
  }
  return parseMailbox(text, opts.utf8, fail);
}

/**
 * Decodes xtext (RFC 3461 §4): printable ASCII except `+` and `=`, with `+XX`
 * hexadecimal escapes. Lower-case hex digits are tolerated. The decoded octets
 * must be UTF-8. Throws {@link SmtpReplyError} 501 5.5.4 when malformed.
 */
export function decodeXtext(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code === 0x2b) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw argumentError(`Malformed xtext escape in ${show(s)}`);
      }
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (code >= 0x21 && code <= 0x7e && code !== 0x3d) {
      bytes.push(code);
    } else {
      throw argumentError(`Invalid character in xtext ${show(s)}`);
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      new Uint8Array(bytes),
    );
  } catch (cause) {
    throw new SmtpReplyError(501, "5.5.4", `Invalid UTF-8 in xtext ${show(s)}`, { cause });
  }
}

/** One `keyword[=value]` of MAIL or RCPT (RFC 5321 §4.1.2 esmtp-param). */
interface EsmtpParam {
  /** Keyword, upper-cased (RFC 5321 §2.4: keywords are case-insensitive). */
  keyword: string;
  value?: string;
}

/** Splits the text after a path into ESMTP parameters, rejecting bad syntax and duplicates. */
function splitParams(rest: string, fail: AddressError): EsmtpParam[] {
  if (rest === "") return [];
  // RFC 5321 §4.1.2: Mail-parameters follow the path after a space.
  if (!rest.startsWith(" ")) throw fail("unexpected text after the closing angle bracket");
  const params: EsmtpParam[] = [];
  const seen = new Set<string>();
  for (const token of rest.split(" ")) {
    if (token === "") continue;
    const eq = token.indexOf("=");
    const keyword = (eq < 0 ? token : token.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? undefined : token.slice(eq + 1);
    if (!ESMTP_KEYWORD.test(keyword) || (value !== undefined && !ESMTP_VALUE.test(value))) {
      throw argumentError(`Malformed parameter ${show(token)}`);
    }
    if (seen.has(keyword)) throw argumentError(`Duplicate parameter ${keyword}`);
    seen.add(keyword);
    params.push({ keyword, value });
  }
  return params;
}

function unsupported(keyword: string): SmtpReplyError {
  // RFC 5321 §4.1.1.11: unrecognised or unimplemented parameters get 555.
  return new SmtpReplyError(555, "5.5.4", `Unsupported parameter ${keyword}`);
}

/** Removes `FROM:`/`TO:` and the spaces after it, or throws 501 5.5.4. */
function stripPrefix(args: string, prefix: string, verb: string): string {
  if (args.slice(0, prefix.length).toUpperCase() !== prefix) {
    throw argumentError(`Syntax: ${verb} ${prefix}<address>`);
  }
  // RFC 5321 §4.1.1.2 puts no space after the colon, but many clients send one;
  // like Postfix (strict_rfc821_envelopes = no), tolerate spaces there.
  return args.slice(prefix.length).replace(/^ +/, "");
}

/**
 * Parses the arguments of MAIL: `FROM:<reverse-path> [params]` (RFC 5321 §4.1.1.2).
 *
 * Supported parameters: SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8
 * (RFC 6531, only when `utf8Allowed`) and AUTH (RFC 4954 §5). DSN's RET and ENVID
 * are refused since DSN is not advertised. Throws {@link SmtpReplyError}:
 * 501 5.5.4 for a missing `FROM:` or a malformed, duplicate or invalid parameter,
 * 555 5.5.4 for an unsupported one, 501 5.1.7 for a bad path and 553 5.6.7 for a
 * non-ASCII path without SMTPUTF8.
 */
export function parseMailCommand(args: string, opts: ParseMailOptions): MailCommand {
  const fail = addressErrors(true);
  const { path, rest } = splitPath(stripPrefix(args, "FROM:", "MAIL"), fail);
  const params: MailParams = { smtputf8: false };
  // Parameters first: SMTPUTF8 decides how the path is parsed (RFC 6531 §3.4).
  for (const { keyword, value } of splitParams(rest, fail)) {
    switch (keyword) {
      case "SIZE":
        // RFC 1870 §6: size-value = 1*20DIGIT
        if (value === undefined || !/^\d{1,20}$/.test(value)) {
          throw argumentError("SIZE requires a number of octets");
        }
        params.size = Number(value);
        break;
      case "BODY": {
        const body = value?.toUpperCase();
        if (body !== "7BIT" && body !== "8BITMIME" && body !== "BINARYMIME") {
          throw argumentError("BODY must be 7BIT, 8BITMIME or BINARYMIME");
        }
        params.body = body;
        break;
      }
      case "SMTPUTF8":
        // RFC 6531 §3.4: the parameter takes no value.
        if (value !== undefined) throw argumentError("SMTPUTF8 takes no value");
        if (!opts.utf8Allowed) throw unsupported(keyword);
        params.smtputf8 = true;
        break;
      case "AUTH":
        // RFC 4954 §5: AUTH=<> or AUTH=xtext(addr-spec).
        if (value === undefined) throw argumentError("AUTH requires a mailbox or <>");
        params.auth = value === "<>" ? "<>" : decodeXtext(value);
        break;
      default:
        throw unsupported(keyword);
    }
  }
  const from = parseBracketedPath(
    path,
    { allowNull: true, utf8: params.smtputf8, sender: true },
    fail,
  );
  return { from, params };
}

/**
 * Parses the arguments of RCPT: `TO:<forward-path>` (RFC 5321 §4.1.1.3).
 *
 * `<Postmaster>` without a domain is accepted (RFC 5321 §4.5.1) and returned as
 * `{ local: "postmaster", domain: "" }`. No parameters are supported (DSN is not
 * advertised). Throws {@link SmtpReplyError}: 501 5.5.4 for a missing `TO:` or a
 * malformed parameter, 555 5.5.4 for any parameter, 501 5.1.3 for a bad or null
 * path and 553 5.6.7 for a non-ASCII path without SMTPUTF8.
 */
export function parseRcptCommand(args: string, opts: ParseRcptOptions): RcptCommand {
  const fail = addressErrors(false);
  const { path, rest } = splitPath(stripPrefix(args, "TO:", "RCPT"), fail);
  const params = splitParams(rest, fail);
  if (params.length > 0) throw unsupported(params[0].keyword);
  if (path.toLowerCase() === "<postmaster>") {
    return { to: { local: "postmaster", domain: "" }, params: {} };
  }
  const to = parseBracketedPath(path, { allowNull: false, utf8: opts.utf8 }, fail);
  if (to === null) throw fail("null path is not allowed here");
  return { to, params: {} };
}

/**
 * Parses the arguments of BDAT: `<chunk-size> [LAST]` (RFC 3030 §2), the size being
 * 1 to 20 digits and LAST case-insensitive. Throws {@link SmtpReplyError} 501 5.5.4.
 */
export function parseBdatArgs(args: string): BdatArgs {
  const m = /^(\d{1,20})(?: +(\S+))?$/.exec(args.trim());
  if (!m || (m[2] !== undefined && m[2].toUpperCase() !== "LAST")) {
    throw argumentError("Syntax: BDAT <chunk-size> [LAST]");
  }
  return { size: Number(m[1]), last: m[2] !== undefined };
}

/**
 * Parses the arguments of AUTH: `<mechanism> [initial-response]` (RFC 4954 §4).
 *
 * The mechanism is upper-cased and must be a SASL mechanism name (RFC 4422 §3.1).
 * An initial response of `=` means an empty response and becomes `""`; otherwise it
 * is returned as sent (base64 is checked by `src/auth/sasl.ts`). Throws
 * {@link SmtpReplyError} 501 5.5.4.
 */
export function parseAuthArgs(args: string): AuthArgs {
  const tokens = args.trim().split(/ +/).filter((t) => t !== "");
  if (tokens.length === 0) throw argumentError("AUTH requires a mechanism name");
  if (tokens.length > 2) throw argumentError("Syntax: AUTH <mechanism> [initial-response]");
  const mechanism = tokens[0].toUpperCase();
  if (!SASL_MECH.test(mechanism)) {
    throw argumentError(`Invalid SASL mechanism name ${show(tokens[0])}`);
  }
  if (tokens.length === 1) return { mechanism };
  return { mechanism, initialResponse: tokens[1] === "=" ? "" : tokens[1] };
}

/**
 * Returns the domain or address literal given to EHLO or HELO (RFC 5321 §4.1.1.1).
 *
 * Lenient on purpose: many clients send a bare name or trailing junk, so any first
 * token is accepted as given. Throws {@link SmtpReplyError} 501 5.5.4 when empty.
 */
export function parseEhloArgs(args: string): string {
  const first = args.trim().split(/[ \t]+/)[0];
  if (!first) throw argumentError("EHLO requires a domain or address literal");
  return first;
}
