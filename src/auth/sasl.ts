/**
 * Protocol-neutral SASL payload parsing for PLAIN (RFC 4616) and LOGIN, shared
 * by SMTP AUTH (RFC 4954), POP3 AUTH (RFC 5034) and IMAP AUTHENTICATE (RFC 9051).
 *
 * Functions here are pure and throw {@link SaslError}; each protocol maps it to
 * its own reply (for SMTP, 501 5.5.2 per RFC 4954 §4).
 *
 * @module
 */

/** A client's SASL response could not be decoded or is malformed. */
export class SaslError extends Error {
  /** Short, stable description of what was wrong, such as "malformed base64". */
  readonly reason: string;

  constructor(reason: string, message?: string, options?: ErrorOptions) {
    super(message ?? `Cannot decode SASL response: ${reason}`, options);
    this.name = "SaslError";
    this.reason = reason;
  }
}

/** The three fields of a PLAIN response (RFC 4616 §2). */
export interface PlainResponse {
  /** Authorization identity; `""` when the client acts as itself. */
  authzid: string;
  /** Authentication identity (the user name). */
  authcid: string;
  /** The password. */
  password: string;
}

// RFC 4648 §4: groups of four alphabet characters, the last possibly padded.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// RFC 4616 §2: servers must accept fields of up to 255 octets; longer ones are refused.
const MAX_PLAIN_FIELD_OCTETS = 255;

const encoder = new TextEncoder();

function malformedBase64(detail: string): SaslError {
  return new SaslError("malformed base64", `Cannot decode SASL response: ${detail}`);
}

/**
 * Decodes RFC 4648 §4 base64 strictly: no whitespace, no characters outside the
 * alphabet, a length that is a multiple of four, correct padding and zero pad bits
 * (RFC 4648 §3.5). `""` decodes to no bytes. Throws {@link SaslError}.
 */
export function decodeBase64Strict(s: string): Uint8Array {
  if (/\s/.test(s)) throw malformedBase64("whitespace inside base64");
  if (/[^A-Za-z0-9+/=]/.test(s)) throw malformedBase64("invalid base64 character");
  if (s.length % 4 !== 0) throw malformedBase64("base64 length is not a multiple of 4");
  if (!BASE64.test(s)) throw malformedBase64("misplaced base64 padding");
  const binary = atob(s);
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  // RFC 4648 §3.5: reject encodings whose unused pad bits are not zero, so every
  // byte string has exactly one accepted encoding.
  if (encodeBase64(bytes) !== s) throw malformedBase64("non-zero base64 pad bits");
  return bytes;
}

function encodeBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    // ignoreBOM keeps a leading U+FEFF instead of silently dropping it.
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw new SaslError("invalid UTF-8", undefined, { cause });
  }
}

/**
 * Parses a base64 PLAIN response (RFC 4616 §2): `[authzid] NUL authcid NUL passwd`.
 *
 * Requires exactly two NULs, a non-empty authcid and password, fields of at most
 * 255 octets and valid UTF-8. An empty response (the client sent `=`) is refused.
 * Throws {@link SaslError}.
 */
export function parsePlainResponse(base64: string): PlainResponse {
  const bytes = decodeBase64Strict(base64);
  if (bytes.length === 0) throw new SaslError("empty response");
  const fields: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0) {
      fields.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  if (fields.length !== 3) {
    throw new SaslError(
      "malformed PLAIN response",
      `Cannot decode SASL response: PLAIN needs two NUL separators, found ${fields.length - 1}`,
    );
  }
  if (fields.some((f) => f.length > MAX_PLAIN_FIELD_OCTETS)) {
    throw new SaslError("field too long");
  }
  const [authzid, authcid, password] = fields.map(decodeUtf8);
  if (authcid === "") throw new SaslError("missing authcid");
  if (password === "") throw new SaslError("missing password");
  return { authzid, authcid, password };
}

/**
 * Decodes one base64 step of LOGIN (the user name or the password): UTF-8,
 * non-empty and without NUL. Throws {@link SaslError}.
 */
export function decodeLoginResponse(base64: string): string {
  const bytes = decodeBase64Strict(base64);
  if (bytes.length === 0) throw new SaslError("empty response");
  if (bytes.includes(0)) throw new SaslError("unexpected NUL");
  return decodeUtf8(bytes);
}

/** Encodes a server challenge, such as LOGIN's `Username:` prompt, as base64 of its UTF-8. */
export function encodeChallenge(text: string): string {
  return encodeBase64(encoder.encode(text));
}

/**
 * Reports whether a client line cancels the exchange: a lone `*` (RFC 4954 §4,
 * RFC 5034 §4, RFC 9051 §6.2.2). Trailing whitespace is ignored.
 */
export function isCancel(line: string): boolean {
  return line.trimEnd() === "*";
}
