/**
 * Undoing a body part's Content-Transfer-Encoding (RFC 2045 §6) and reading
 * its charset, for code that needs a part's text (the junk filter's
 * tokenizer). Lenient, as readers must be: bad base64 characters are
 * skipped, a bad quoted-printable escape is kept as written, and an unknown
 * charset is read as UTF-8 when valid, else as Latin-1.
 */

const BASE64 = new Int16Array(256).fill(-1);
for (
  const [i, c] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].entries()
) {
  BASE64[c.charCodeAt(0)] = i;
}

function decodeBase64(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.floor(bytes.length * 3 / 4) + 3);
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (const b of bytes) {
    if (b === 0x3d) break; // "=": padding ends the data
    const v = BASE64[b];
    if (v < 0) continue;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

function hex(b: number): number {
  if (b >= 0x30 && b <= 0x39) return b - 0x30;
  if (b >= 0x41 && b <= 0x46) return b - 0x37;
  if (b >= 0x61 && b <= 0x66) return b - 0x57;
  return -1;
}

function decodeQuotedPrintable(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let n = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b !== 0x3d) {
      out[n++] = b;
      continue;
    }
    // A soft line break: "=" then optional white space, then the line end.
    let j = i + 1;
    while (bytes[j] === 0x20 || bytes[j] === 0x09) j++;
    if (bytes[j] === 0x0d && bytes[j + 1] === 0x0a) {
      i = j + 1;
      continue;
    }
    if (bytes[j] === 0x0a || j >= bytes.length) {
      i = j;
      continue;
    }
    const hi = hex(bytes[i + 1]);
    const lo = hex(bytes[i + 2]);
    if (hi >= 0 && lo >= 0) {
      out[n++] = (hi << 4) | lo;
      i += 2;
    } else out[n++] = b;
  }
  return out.subarray(0, n);
}

/** The body's octets with its transfer encoding undone (7bit, 8bit, binary and unknown as they are). */
export function decodeTransfer(body: Uint8Array, encoding: string): Uint8Array {
  switch (encoding.toLowerCase()) {
    case "base64":
      return decodeBase64(body);
    case "quoted-printable":
      return decodeQuotedPrintable(body);
    default:
      return body;
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

/** Octets as text in `charset` (see the module comment for the fallbacks). */
export function decodeCharset(bytes: Uint8Array, charset: string | undefined): string {
  const name = (charset ?? "").trim().toLowerCase();
  if (name && name !== "us-ascii" && name !== "utf-8" && name !== "utf8") {
    try {
      return new TextDecoder(name).decode(bytes);
    } catch {
      // Unknown to the runtime: fall through to the guesses below.
    }
  }
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return latin1.decode(bytes);
  }
}
