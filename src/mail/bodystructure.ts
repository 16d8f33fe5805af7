/**
 * BODYSTRUCTURE and BODY (RFC 9051 §7.5.2) from a parsed MIME structure.
 *
 * Follows the formal syntax of RFC 9051 §9 (`body`, `body-type-1part`,
 * `body-type-mpart`, `body-ext-1part`, `body-ext-mpart`) and, where it leaves
 * room, Dovecot's conventions, so clients get what they already handle:
 * every extension field is always present (NIL when empty); text parts
 * without a charset get `("charset" "us-ascii")` (RFC 2045 §5.2); RFC 2231
 * continuations are joined into one `name*` parameter whose value stays
 * percent-encoded with its charset prefix (the client decodes it, and the
 * string stays ASCII); a multipart without parts shows one empty text/plain
 * part (the syntax needs at least one); a multipart or message part left
 * unopened by the nesting cap shows as application/octet-stream.
 *
 * Deliberate differences from Dovecot 2.3: media types, subtypes, parameter
 * names, encodings and disposition types are lower-cased (they are
 * case-insensitive tokens; Dovecot echoes the sender's case); an unparseable
 * Content-Type gives text/plain (RFC 2045 §5.2) where Dovecot shows what it
 * could read; message/global is shown as a message (RFC 9051 `media-message`)
 * where Dovecot 2.3 shows a basic part.
 */

import type { MimeParam, MimePart } from "./mime.ts";
import { imapString, renderEnvelope } from "./envelope.ts";

/**
 * The BODYSTRUCTURE of `part` (with extension data) when `extensible`, else
 * its BODY; `message` is the message the part's ranges point into (needed for
 * the envelopes of message/rfc822 parts).
 */
export function renderBodyStructure(
  part: MimePart,
  message: Uint8Array,
  extensible: boolean,
): string {
  if (part.parts && !part.truncated) return multipart(part, part.parts, message, extensible);
  return onePart(part, message, extensible);
}

/** RFC 9051 §9 `body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]`. */
function multipart(
  part: MimePart,
  children: MimePart[],
  message: Uint8Array,
  extensible: boolean,
): string {
  const bodies = children.length > 0
    ? children.map((child) => renderBodyStructure(child, message, extensible)).join("")
    : `("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0${
      extensible ? " NIL NIL NIL NIL" : ""
    })`;
  let out = `(${bodies} ${imapString(part.contentType.subtype)}`;
  if (extensible) {
    // body-ext-mpart = body-fld-param [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    out += ` ${params(part.contentType.rawParams, false)} ${disposition(part)} ${language(part)} ${
      imapString(part.location)
    }`;
  }
  return out + ")";
}

/**
 * RFC 9051 §9 `body-type-1part = (body-type-basic / body-type-msg /
 * body-type-text) [SP body-ext-1part]`.
 */
function onePart(part: MimePart, message: Uint8Array, extensible: boolean): string {
  let { type, subtype } = part.contentType;
  if (part.truncated) {
    type = "application";
    subtype = "octet-stream";
  }
  // body-fields = body-fld-param SP body-fld-id SP body-fld-desc SP body-fld-enc SP body-fld-octets
  const fields = [
    imapString(type),
    imapString(subtype),
    params(part.contentType.rawParams, type === "text"),
    imapString(part.id),
    imapString(part.description),
    imapString(part.encoding),
    String(part.octets),
  ];
  if (part.message && !part.truncated) {
    // body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines
    fields.push(
      renderEnvelope(message, part.message.header),
      renderBodyStructure(part.message, message, extensible),
      String(part.lines),
    );
  } else if (type === "text") {
    // body-type-text = media-text SP body-fields SP body-fld-lines
    fields.push(String(part.lines));
  }
  if (extensible) {
    // body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]
    fields.push(imapString(part.md5), disposition(part), language(part), imapString(part.location));
  }
  return `(${fields.join(" ")})`;
}

/** `body-fld-dsp = "(" string SP body-fld-param ")" / nil`. */
function disposition(part: MimePart): string {
  const d = part.disposition;
  return d ? `(${imapString(d.type)} ${params(d.rawParams, false)})` : "NIL";
}

/** `body-fld-lang = nstring / "(" string *(SP string) ")"`, always as a list. */
function language(part: MimePart): string {
  return part.language ? `(${part.language.map(imapString).join(" ")})` : "NIL";
}

/** `body-fld-param = "(" string SP string *(SP string SP string) ")" / nil`. */
function params(rawParams: MimeParam[], text: boolean): string {
  const pairs = imapParams(rawParams);
  if (text && !pairs.some(([name]) => name === "charset")) pairs.push(["charset", "us-ascii"]);
  if (pairs.length === 0) return "NIL";
  return `(${pairs.map(([name, value]) => `${imapString(name)} ${imapString(value)}`).join(" ")})`;
}

/**
 * Parameters as IMAP shows them: plain ones in order, then RFC 2231
 * continuations (`name*0*`, `name*1` ...) joined into one `name*` (or `name`
 * when no segment is extended), ordered by name. Segments with gaps in their
 * numbering are left as they are. This is Dovecot's `rfc2231_parse()`.
 */
export function imapParams(rawParams: MimeParam[]): [string, string][] {
  const plain: [string, string][] = [];
  const segments: { name: string; index: number; extended: boolean; value: string }[] = [];
  for (const { name, value } of rawParams) {
    const m = /^([^*]*)\*(\d*)(\*?)$/.exec(name);
    if (!m) {
      plain.push([name, value]);
      continue;
    }
    const bare = m[2] === "" && m[3] === "";
    segments.push({
      name: m[1],
      index: m[2] === "" ? 0 : Number(m[2]),
      extended: bare || m[3] === "*",
      value,
    });
  }
  segments.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.index - b.index));
  const joined: [string, string][] = [];
  for (let i = 0; i < segments.length;) {
    let j = i;
    while (j < segments.length && segments[j].name === segments[i].name) j++;
    const group = segments.slice(i, j);
    i = j;
    const complete = group.every((s, k) => s.index === k);
    const extended = group.some((s) => s.extended);
    if (!complete) {
      for (const s of group) joined.push([`${s.name}*${s.index}${s.extended ? "*" : ""}`, s.value]);
      continue;
    }
    let value = !group[0].extended && extended ? "''" : "";
    for (const s of group) {
      value += !s.extended && extended ? s.value.replaceAll("%", "%25") : s.value;
    }
    joined.push([extended ? `${group[0].name}*` : group[0].name, value]);
  }
  return [...plain, ...joined];
}
