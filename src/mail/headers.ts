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

/**
 * The message without the header fields called `name` (or any of the
 * names) for which `remove` says so, given the field's unfolded value and
 * its name as the caller wrote it; the same bytes when none goes. Several
 * names cost one pass over the header section.
 */
export function removeFields(
  message: Uint8Array,
  name: string | readonly string[],
  remove: (value: string, name: string) => boolean,
): Uint8Array {
  const names = typeof name === "string" ? [name] : name;
  const head = headerSection(message);
  const text = latin1.decode(head);
  // A field is its first line and the folded lines after it (RFC 5322 §2.2.3).
  const fields = text.match(/[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*(?:\r?\n|$)/g) ?? [];
  const prefix = new RegExp(
    `^(${names.map((n) => n.replace(/[-]/g, "\\-")).join("|")})[ \\t]*:`,
    "i",
  );
  const keep: [number, number][] = [];
  let offset = 0;
  let removed = false;
  for (const field of fields) {
    if (field === "") continue;
    const match = prefix.exec(field);
    const drop = match !== null &&
      remove(
        field.slice(field.indexOf(":") + 1).replace(/\r?\n[ \t]+/g, " ").trim(),
        names.find((n) => n.toLowerCase() === match[1].toLowerCase())!,
      );
    if (drop) removed = true;
    else keep.push([offset, offset + field.length]);
    offset += field.length;
  }
  if (!removed) return message;
  const size = keep.reduce((n, [a, b]) => n + b - a, 0) + message.length - head.length;
  const out = new Uint8Array(size);
  let o = 0;
  for (const [a, b] of keep) {
    out.set(message.subarray(a, b), o);
    o += b - a;
  }
  out.set(message.subarray(head.length), o);
  return out;
}
