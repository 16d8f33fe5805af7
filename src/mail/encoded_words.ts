/**
 * Decoding RFC 2047 encoded-words (`=?utf-8?B?...?=`, `=?iso-8859-1?Q?...?=`)
 * in header values, for searching headers as people read them.
 */

const WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;

function bytesOfQ(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "_") out.push(0x20);
    else if (c === "=" && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(c.charCodeAt(0) & 0xff);
  }
  return new Uint8Array(out);
}

function bytesOfB(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

function decodeCharset(bytes: Uint8Array, charset: string): string | undefined {
  try {
    return new TextDecoder(charset.replace(/\*.*$/, "")).decode(bytes); // RFC 2231 language suffix
  } catch {
    return undefined;
  }
}

/** A header value with its encoded-words decoded; words that cannot be decoded stay as they are. */
export function decodeEncodedWords(value: string): string {
  // RFC 2047 §6.2: white space between two adjacent encoded-words is not displayed.
  const joined = value.replace(/(\?=)\s+(?==\?)/g, "$1");
  return joined.replace(WORD, (word, charset: string, encoding: string, text: string) => {
    const bytes = encoding.toUpperCase() === "B" ? bytesOfB(text) : bytesOfQ(text);
    return (bytes && decodeCharset(bytes, charset)) ?? word;
  });
}
