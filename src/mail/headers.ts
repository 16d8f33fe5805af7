/** Looking into a message's header section (RFC 5322 §2.2) without parsing the whole message. */

const LF = 0x0a;
const CR = 0x0d;
const latin1 = new TextDecoder("latin1");

/** The header section of a message, up to and including the blank line (or all of it). */
export function headerSection(message: Uint8Array): Uint8Array {
  if (message[0] === LF) return message.subarray(0, 1);
  if (message[0] === CR && message[1] === LF) return message.subarray(0, 2);
  for (let i = message.indexOf(LF); i >= 0; i = message.indexOf(LF, i + 1)) {
    if (message[i + 1] === LF) return message.subarray(0, i + 2);
    if (message[i + 1] === CR && message[i + 2] === LF) return message.subarray(0, i + 3);
  }
  return message;
}

/** True when the header section has a field called `name` (case-insensitive). */
export function hasHeader(message: Uint8Array, name: string): boolean {
  const text = latin1.decode(headerSection(message));
  return new RegExp(`^${name.replace(/[-]/g, "\\-")}[ \\t]*:`, "im").test(text);
}

/** The unfolded value of the first field called `name`, or undefined. */
export function headerValue(message: Uint8Array, name: string): string | undefined {
  const text = latin1.decode(headerSection(message)).replace(/\r?\n[ \t]+/g, " ");
  const m = new RegExp(`^${name.replace(/[-]/g, "\\-")}[ \\t]*:[ \\t]*(.*)$`, "im").exec(text);
  return m?.[1].trim();
}
