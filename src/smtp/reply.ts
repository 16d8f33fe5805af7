/**
 * SMTP replies as values (RFC 5321 §4.2) with enhanced status codes (RFC 3463).
 *
 * Handlers return a {@link SmtpReply}; code deep in the stack throws a
 * {@link SmtpReplyError}, which the session loop turns into the same reply.
 */

/** One SMTP reply: a three-digit code, an enhanced code and one or more text lines. */
export interface SmtpReply {
  code: number;
  /** Enhanced status code such as "2.1.0"; omitted only for greetings and EHLO. */
  enhanced?: string;
  /** Reply text; several entries make a multi-line reply. */
  lines: string[];
  /** The connection closes after this reply is written. */
  close?: boolean;
}

/** Builds a single-line reply. */
export function reply(code: number, enhanced: string | undefined, text: string): SmtpReply {
  return { code, enhanced, lines: [text] };
}

/** Thrown where a reply must end the current command; the session writes it. */
export class SmtpReplyError extends Error {
  readonly reply: SmtpReply;

  constructor(code: number, enhanced: string | undefined, text: string, options?: ErrorOptions) {
    super(text, options);
    this.name = "SmtpReplyError";
    this.reply = reply(code, enhanced, text);
  }
}

/** Serialises a reply to wire form: `250-first\r\n250 last\r\n`. */
export function formatReply(r: SmtpReply): string {
  const prefix = r.enhanced ? `${r.enhanced} ` : "";
  const lines = r.lines.length === 0 ? [""] : r.lines;
  let out = "";
  for (let i = 0; i < lines.length; i++) {
    const sep = i === lines.length - 1 ? " " : "-";
    // RFC 2034 §3: every line of a multi-line reply carries the enhanced code.
    out += `${r.code}${sep}${prefix}${lines[i]}\r\n`;
  }
  return out;
}
