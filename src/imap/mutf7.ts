/**
 * Modified UTF-7, the mailbox name encoding of IMAP4rev1 (RFC 3501 §5.1.3).
 * IMAP4rev2 and UTF8=ACCEPT sessions use UTF-8 instead (RFC 9051 §5.1,
 * RFC 6855 §3).
 *
 * Printable US-ASCII (0x20-0x7e) stands for itself, except "&", written "&-".
 * Everything else is UTF-16 in a variant of base64 (RFC 2045 alphabet with
 * "," for "/", no padding) between "&" and "-". The decoder accepts only the
 * form the encoder produces, so each name has exactly one spelling.
 */

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
const VALUES = new Map([...ALPHABET].map((c, i) => [c, i]));

/** True for a code unit that stands for itself (printable US-ASCII). */
function isDirect(code: number): boolean {
  return code >= 0x20 && code <= 0x7e;
}

/** Encodes a mailbox name as modified UTF-7 (RFC 3501 §5.1.3). */
export function encodeMutf7(utf8: string): string {
  let out = "";
  let i = 0;
  while (i < utf8.length) {
    const code = utf8.charCodeAt(i);
    if (code === 0x26) {
      out += "&-";
      i++;
    } else if (isDirect(code)) {
      out += utf8[i];
      i++;
    } else {
      let end = i;
      while (end < utf8.length && !isDirect(utf8.charCodeAt(end))) end++;
      out += "&" + encodeRun(utf8.slice(i, end)) + "-";
      i = end;
    }
  }
  return out;
}

/** Base64 (modified alphabet, no padding) of the UTF-16BE code units of `run`. */
function encodeRun(run: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < run.length; i++) {
    const code = run.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdfff) {
      const low = run.charCodeAt(i + 1);
      const paired = code <= 0xdbff && low >= 0xdc00 && low <= 0xdfff;
      if (!paired) throw new Error("Cannot encode mailbox name: lone surrogate");
      bytes.push(code >> 8, code & 0xff, low >> 8, low & 0xff);
      i++;
    } else {
      bytes.push(code >> 8, code & 0xff);
    }
  }
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = i + 2 < bytes.length ? 4 : i + 1 < bytes.length ? 3 : 2;
    for (let k = 0; k < chars; k++) out += ALPHABET[(n >> (18 - 6 * k)) & 63];
  }
  return out;
}

/**
 * Decodes a modified UTF-7 mailbox name. Throws on anything the encoder would
 * not produce: characters outside printable US-ASCII, an unterminated or
 * empty shift other than "&-", bad base64, non-zero padding bits, an odd
 * number of bytes, lone surrogates, printable ASCII written in base64, and
 * two shifted runs in a row (they must be one).
 */
export function decodeMutf7(s: string): string {
  let out = "";
  let i = 0;
  let afterRun = false;
  while (i < s.length) {
    const code = s.charCodeAt(i);
    if (!isDirect(code)) {
      throw new Error(`Invalid modified UTF-7: character 0x${code.toString(16)} at ${i}`);
    }
    if (code !== 0x26) {
      out += s[i];
      i++;
      afterRun = false;
      continue;
    }
    const end = s.indexOf("-", i + 1);
    if (end < 0) throw new Error(`Invalid modified UTF-7: unterminated "&" at ${i}`);
    if (end === i + 1) {
      out += "&";
      i = end + 1;
      afterRun = false;
      continue;
    }
    if (afterRun) throw new Error(`Invalid modified UTF-7: adjacent encoded runs at ${i}`);
    out += decodeRun(s.slice(i + 1, end), i);
    i = end + 1;
    afterRun = true;
  }
  return out;
}

/** Decodes the base64 between "&" and "-" (which started at `at`). */
function decodeRun(run: string, at: number): string {
  const fail = (why: string) => new Error(`Invalid modified UTF-7: ${why} at ${at}`);
  if (run.length % 4 === 1) throw fail("truncated base64");
  const bytes: number[] = [];
  let bits = 0;
  let nbits = 0;
  for (const c of run) {
    const v = VALUES.get(c);
    if (v === undefined) throw fail(`bad base64 character ${JSON.stringify(c)}`);
    bits = (bits << 6) | v;
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      bytes.push((bits >> nbits) & 0xff);
      bits &= (1 << nbits) - 1;
    }
  }
  if (bits !== 0) throw fail("non-zero padding bits");
  if (bytes.length % 2 !== 0) throw fail("odd number of bytes");
  let out = "";
  for (let k = 0; k < bytes.length; k += 2) {
    const unit = (bytes[k] << 8) | bytes[k + 1];
    if (isDirect(unit)) throw fail("printable ASCII in base64");
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const low = k + 3 < bytes.length ? (bytes[k + 2] << 8) | bytes[k + 3] : -1;
      if (low < 0xdc00 || low > 0xdfff) throw fail("lone surrogate");
      out += String.fromCharCode(unit, low);
      k += 2;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      throw fail("lone surrogate");
    } else {
      out += String.fromCharCode(unit);
    }
  }
  return out;
}
