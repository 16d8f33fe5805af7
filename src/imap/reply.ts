/**
 * IMAP tagged replies as values (RFC 9051 §7.1): a command handler returns a
 * {@link Reply}, and the session loop writes it after the command's untagged
 * responses.
 */

/** A tagged reply: status, optional response code, text. */
export interface Reply {
  status: "OK" | "NO" | "BAD";
  code?: string;
  text: string;
  /** After this reply the session ends; the reason goes to the log. */
  close?: "logout" | "shutdown" | "TLS handshake failed";
  /** The handler wrote the tagged reply itself (STARTTLS answers before the handshake). */
  written?: boolean;
}

/** A reply already written. */
export const WRITTEN: Reply = { status: "OK", text: "", written: true };

/** An OK reply. */
export function ok(text: string, code?: string): Reply {
  return { status: "OK", text, code };
}

/** A NO reply. */
export function no(text: string, code?: string): Reply {
  return { status: "NO", text, code };
}

/** A BAD reply. */
export function bad(text: string, code?: string): Reply {
  return { status: "BAD", text, code };
}

/** Writes one untagged response; the text comes without the leading "* " and the CRLF. */
export type Untagged = (text: string) => Promise<void>;
