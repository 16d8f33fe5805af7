/** Dot-stuffing for protocols that end a multi-line text with a "." line. */

const DOT = 0x2e;
const LF = 0x0a;

/**
 * Copies `bytes`, doubling every "." that starts a line: the transparency
 * of SMTP DATA (RFC 5321 §4.5.2) and POP3 multi-line replies (RFC 1939 §3).
 * `atLineStart` says whether `bytes[0]` starts a line (slices of a message).
 * Returns `bytes` itself when nothing needs stuffing.
 */
export function dotStuff(bytes: Uint8Array, atLineStart: boolean): Uint8Array {
  let extra = atLineStart && bytes[0] === DOT ? 1 : 0;
  for (let i = bytes.indexOf(LF); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(LF, i + 1)) {
    if (bytes[i + 1] === DOT) extra++;
  }
  if (extra === 0) return bytes;
  const out = new Uint8Array(bytes.length + extra);
  let o = 0;
  let start = 0;
  const stuffAt = (dot: number) => {
    out.set(bytes.subarray(start, dot), o);
    o += dot - start;
    out[o++] = DOT;
    start = dot;
  };
  if (atLineStart && bytes[0] === DOT) stuffAt(0);
  for (let i = bytes.indexOf(LF); i >= 0 && i + 1 < bytes.length; i = bytes.indexOf(LF, i + 1)) {
    if (bytes[i + 1] === DOT) stuffAt(i + 1);
  }
  out.set(bytes.subarray(start), o);
  return out;
}
