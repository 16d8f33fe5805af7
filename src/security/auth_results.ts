/**
 * Recognising Authentication-Results fields that claim to come from us
 * (RFC 8601 §5: they must be removed before ours is added, or a sender could
 * forge our verdicts).
 */

/** Removes RFC 5322 comments, nested ones included. */
export function withoutComments(text: string): string {
  let out = "";
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "\\" && depth > 0) {
      i++;
    } else if (c === "(") {
      depth++;
    } else if (c === ")" && depth > 0) {
      depth--;
    } else if (depth === 0) {
      out += c;
    }
  }
  return out;
}

/**
 * The authserv-id of an Authentication-Results value (RFC 8601 §2.2: a
 * token or a quoted string, maybe with comments around it and a version
 * number after it), lower-cased; undefined when there is none.
 */
export function authservId(value: string): string | undefined {
  const text = withoutComments(value).trimStart();
  if (text.startsWith('"')) {
    const m = /^"((?:[^"\\]|\\.)*)"/.exec(text);
    return m ? m[1].replace(/\\(.)/g, "$1").trim().toLowerCase() : undefined;
  }
  const m = /^[^\s;"]+/.exec(text);
  return m?.[0].toLowerCase();
}

/** True when an Authentication-Results value names `hostname` as its authserv-id. */
export function claimsToBe(value: string, hostname: string): boolean {
  return authservId(value) === hostname.toLowerCase();
}
