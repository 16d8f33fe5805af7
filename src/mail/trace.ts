/**
 * Trace headers added on receipt (RFC 5321 §4.4): `Received:` on every
 * message, `Return-Path:` only at final delivery into a local mailbox.
 */
import { hasHeader } from "./headers.ts";

/** What a Received header records. */
export interface ReceivedInfo {
  /** The name the client gave in EHLO/HELO. */
  helo: string;
  remoteAddress: string;
  /** Our host name. */
  hostname: string;
  /** RFC 3848 / RFC 6531 protocol: ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS, ... */
  protocol: string;
  /** The TLS of the session, when there was one. */
  tls?: { protocol: string; cipher: string };
  /** Our id for this message, as logged. */
  id: string;
  /** Named only when the message has a single recipient (a list would disclose Bcc). */
  recipient?: string;
  date: Date;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** An RFC 5322 §3.3 date-time in UTC: `Sun, 29 Nov 2026 03:33:29 +0000`. */
export function rfc5322Date(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[date.getUTCDay()]}, ${date.getUTCDate()} ${
    MONTHS[date.getUTCMonth()]
  } ${date.getUTCFullYear()} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${
    pad(date.getUTCSeconds())
  } +0000`;
}

/** Keeps client-chosen text (the EHLO name) from breaking the header's syntax. */
function clean(text: string): string {
  return text.replace(/[^A-Za-z0-9.\-:\[\]_]/g, "?").slice(0, 255) || "unknown";
}

/** The protocol keyword of RFC 3848 / RFC 6531 §3.7.3 for the Received `with` clause. */
export function receivedProtocol(
  o: { esmtp: boolean; tls: boolean; auth: boolean; utf8: boolean },
): string {
  if (!o.esmtp) return "SMTP";
  return `${o.utf8 ? "UTF8SMTP" : "ESMTP"}${o.tls ? "S" : ""}${o.auth ? "A" : ""}`;
}

/** A folded `Received:` header line with its CRLF. */
export function receivedHeader(info: ReceivedInfo): string {
  const tls = info.tls ? `\r\n\t(using ${info.tls.protocol} with cipher ${info.tls.cipher})` : "";
  const rcpt = info.recipient ? `\r\n\tfor <${info.recipient}>` : "";
  return `Received: from ${clean(info.helo)} ([${info.remoteAddress}])\r\n` +
    `\tby ${info.hostname} (Postino) with ${info.protocol} id ${info.id}${tls}${rcpt};\r\n` +
    `\t${rfc5322Date(info.date)}\r\n`;
}

/** The `Return-Path:` header line with its CRLF; `<>` for the null sender. */
export function returnPathHeader(sender: string): string {
  return `Return-Path: <${sender}>\r\n`;
}

/**
 * The header fields a message submission agent adds when the message lacks
 * them (RFC 6409 §8.2 Date, §8.3 Message-ID), as lines with CRLF ("" when
 * none is missing).
 */
export function submissionHeaders(
  message: Uint8Array,
  options: { hostname: string; id: string; date: Date },
): string {
  let out = "";
  if (!hasHeader(message, "Date")) out += `Date: ${rfc5322Date(options.date)}\r\n`;
  if (!hasHeader(message, "Message-ID")) {
    out += `Message-ID: <${options.id}.${crypto.randomUUID().slice(0, 8)}@${options.hostname}>\r\n`;
  }
  return out;
}
