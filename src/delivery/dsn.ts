/**
 * Delivery status notifications (bounces): RFC 3464 `multipart/report;
 * report-type=delivery-status` with the original headers attached (RFC 6522),
 * sent from MAILER-DAEMON with the null sender, so they can never bounce.
 */
import { headerSection } from "../mail/headers.ts";
import { rfc5322Date } from "../mail/trace.ts";

/** One recipient the message could not be delivered to. */
export interface FailedRecipient {
  recipient: string;
  /** Enhanced status code (RFC 3463), such as "5.1.1" or "4.4.7" for a message too long queued. */
  status: string;
  /** The remote server's reply, or our own reason. */
  diagnostic: string;
  /** The host that gave the reply, when one did. */
  remoteMta?: string;
}

/** What a bounce says. */
export interface DsnOptions {
  /** Our host name: Reporting-MTA and MAILER-DAEMON's domain. */
  hostname: string;
  /** The original envelope sender, who gets the bounce. */
  sender: string;
  failed: FailedRecipient[];
  /** When we accepted the original message. */
  arrivalDate: Date;
  /** The original message (its header section is attached). */
  original: Uint8Array;
  /** @default now */
  date?: Date;
}

const encoder = new TextEncoder();

/**
 * An address for Final-Recipient: "rfc822; a@b", or for a non-ASCII one
 * "utf-8; j\x{F6}rg@b" (RFC 6533 §3, the ASCII form of utf-8-addr).
 */
function recipientField(address: string): string {
  if (/^[\x20-\x7e]*$/.test(address)) return `rfc822; ${address}`;
  const encoded = [...address].map((c) => {
    const code = c.codePointAt(0)!;
    // RFC 6533 §3 QCHAR excludes space, "+", "=" and "\\" as well as everything non-ASCII.
    return code > 0x7e || code <= 0x20 || c === "\\" || c === "+" || c === "="
      ? `\\x{${code.toString(16).toUpperCase()}}`
      : c;
  }).join("");
  return `utf-8; ${encoded}`;
}

/** Printable ASCII only, so the report stays valid whatever the remote sent. */
function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?");
}

/** Builds the bounce message for `options.sender`, ready to deliver. */
export function buildDsn(options: DsnOptions): Uint8Array {
  const date = options.date ?? new Date();
  const boundary = `=_postino_dsn_${crypto.randomUUID()}`;
  const id = `${crypto.randomUUID()}@${options.hostname}`;
  const permanent = options.failed.some((f) => f.status.startsWith("5"));
  const lines = (text: string[]) => text.join("\r\n") + "\r\n";

  const human = lines([
    `This is the mail system at ${options.hostname}.`,
    "",
    permanent
      ? "Your message could not be delivered to the recipients below, and it will not be tried again."
      : "Your message could not be delivered in time to the recipients below, and it has been given up.",
    "",
    ...options.failed.map((f) =>
      `<${recipientField(f.recipient).replace(/^[^;]*; /, "")}>: ${ascii(f.diagnostic)}`
    ),
  ]);
  const perMessage = lines([
    `Reporting-MTA: dns; ${options.hostname}`,
    `Arrival-Date: ${rfc5322Date(options.arrivalDate)}`,
  ]);
  const perRecipient = options.failed.map((f) =>
    lines([
      `Final-Recipient: ${recipientField(f.recipient)}`,
      "Action: failed",
      `Status: ${f.status}`,
      ...(f.remoteMta ? [`Remote-MTA: dns; ${ascii(f.remoteMta)}`] : []),
      `Diagnostic-Code: smtp; ${ascii(f.diagnostic)}`,
    ])
  );
  const head = lines([
    `From: Mail Delivery System <MAILER-DAEMON@${options.hostname}>`,
    `To: <${options.sender}>`,
    `Subject: Undelivered Mail Returned to Sender`,
    `Date: ${rfc5322Date(date)}`,
    `Message-ID: <${id}>`,
    "Auto-Submitted: auto-replied", // RFC 3834: no auto-replies to this
    "MIME-Version: 1.0",
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
    "",
    "This is a MIME-encapsulated delivery status notification.",
    "",
    `--${boundary}`,
    "Content-Type: text/plain; charset=us-ascii",
    "Content-Description: Notification",
    "",
  ]);
  const report = lines([
    "",
    `--${boundary}`,
    "Content-Type: message/delivery-status",
    "Content-Description: Delivery report",
    "",
  ]) + perMessage + perRecipient.map((r) => "\r\n" + r).join("") +
    lines([
      "",
      `--${boundary}`,
      "Content-Type: text/rfc822-headers",
      "Content-Description: Undelivered message headers",
      "",
    ]);
  const headers = headerSection(options.original);
  const tail = lines(["", `--${boundary}--`]);
  const parts = [encoder.encode(head + human + report), headers, encoder.encode(tail)];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
