/**
 * POST /api/v1/send: a program sends a message as a user, from JSON. The
 * message is built here (MIME, encoded words, Date, Message-ID) and then
 * submitted exactly as over SMTP submission; a copy goes to the sender's
 * Sent mailbox.
 */
import { learnCorrespondents } from "../../junk/training.ts";
import { AddressError, normalizeDomain } from "../../address.ts";
import { maySendAs } from "../../delivery/router.ts";
import { describeRefusal, type SendLimits } from "../../delivery/send_limits.ts";
import { log } from "../../log.ts";
import { SubmitError, submitMessage } from "../../delivery/submit.ts";
import { Buffer } from "node:buffer";
import {
  ComposeError,
  composeMessage,
  type Mailbox,
  MAX_HEADER_VALUE_LENGTH,
  parseMailbox,
} from "../../mail/compose.ts";
import { ApiError } from "../errors.ts";
import { json, requireUser, type RouteSpec } from "../route.ts";
import { s, type Schema } from "../schema.ts";

/** Header fields that name who sent the message (RFC 5322 §3.6.2, §3.6.6). */
const SENDER_FIELDS = new Set(["sender", "resent-from", "resent-sender"]);

const logger = log("http");

/**
 * A 429 with Retry-After (RFC 6585 §4) when the message would pass the
 * user's hourly send limits, logged; a 422 when waiting cannot help (more
 * recipients than the hourly limit).
 */
function checkSendLimits(limits: SendLimits, user: string, recipients: number): void {
  const refusal = limits.check(user, recipients);
  if (!refusal) return;
  logger.warn(
    "Send API refused a message of {user}: {sent} {limit} in the last hour{asked}, " +
      "limit {max}",
    {
      user,
      sent: refusal.sent,
      limit: refusal.limit,
      asked: refusal.limit === "recipients" ? ` + ${refusal.asked} in this message` : "",
      max: refusal.max,
    },
  );
  const now = limits.now();
  const text = describeRefusal(user, refusal, now);
  if (refusal.retryAt === undefined) throw new ApiError(422, text, "to");
  const seconds = Math.max(1, Math.ceil((refusal.retryAt - now) / 1000));
  throw new ApiError(429, text, undefined, { "Retry-After": String(seconds) });
}

/** Recipients across to, cc and bcc; RFC 5321 §4.5.3.1.8 asks servers to take 100. */
const MAX_RECIPIENTS = 100;

interface SendBody {
  from: string;
  to: string[];
  cc?: string[];
  bcc?: string[];
  subject: string;
  text?: string;
  html?: string;
  attachments?: { filename: string; contentType: string; content: string }[];
  headers?: Record<string, string>;
}

const addressList = (what: string): Schema =>
  s.array(
    s.string(`A ${what}: "addr@example.com" or "Name <addr@example.com>"`, { maxLength: 998 }),
    `The ${what}s`,
    MAX_RECIPIENTS,
  );

const body: Schema = s.object({
  from: s.string('The sender: one of your addresses, "Name <addr>" allowed', {
    minLength: 1,
    maxLength: 998,
  }),
  to: addressList("recipient"),
  cc: addressList("copy recipient"),
  bcc: addressList("blind copy recipient (not shown in the message)"),
  subject: s.string("The subject (any Unicode)", { maxLength: 998 }),
  text: s.string("The plain-text body"),
  html: s.string("The HTML body; with text, the two become multipart/alternative"),
  attachments: s.array(
    s.object({
      filename: s.string("The file name shown to the recipient", { minLength: 1, maxLength: 255 }),
      contentType: s.string("e.g. application/pdf", { minLength: 3, maxLength: 255 }),
      content: s.string("The file's bytes, base64", { format: "byte" }),
    }),
    "Files to attach",
    100,
  ),
  headers: {
    type: "object",
    properties: {},
    additionalProperties: s.string("Header value (no line breaks)", {
      maxLength: MAX_HEADER_VALUE_LENGTH,
    }),
    description: "Extra header fields (Reply-To, In-Reply-To, References, X-...)",
  },
}, ["from", "to", "subject"]);

/** The address part normalised as the store keeps it: the domain as an A-label. */
function normalizeMailbox(mailbox: Mailbox, field: string): Mailbox {
  const at = mailbox.address.lastIndexOf("@");
  try {
    return {
      ...mailbox,
      address: `${mailbox.address.slice(0, at)}@${normalizeDomain(mailbox.address.slice(at + 1))}`,
    };
  } catch (err) {
    if (err instanceof AddressError) throw new ApiError(422, err.message, field);
    throw err;
  }
}

function mailboxes(list: string[] | undefined, name: string): Mailbox[] {
  return (list ?? []).map((text, i) =>
    normalizeMailbox(parseMailbox(text, `${name}[${i}]`), `${name}[${i}]`)
  );
}

/** Standard base64 (RFC 4648 §4), whitespace allowed, padding optional; else a 422. */
function decodeBase64(text: string, field: string): Uint8Array {
  const clean = text.replace(/[\t\n\r ]+/g, "");
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) {
    throw new ApiError(422, `${field}: is not base64`, field);
  }
  const bytes = Buffer.from(clean, "base64");
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** The largest JSON body: the largest message, base64-inflated, with room for the JSON. */
function maxBodyBytes(maxMessageSize: number): number {
  return Math.ceil(maxMessageSize * 4 / 3) + 64 * 1024;
}

/** The send route; its body limit follows the configured largest message. */
export function sendRoutes(maxMessageSize: number) {
  return [
    {
      method: "POST",
      path: "/api/v1/send",
      summary: "Send a message",
      description: "Builds the message from JSON and submits it as the signed-in user, exactly " +
        "as over SMTP submission (sender check, DKIM signing, queue); a copy is stored in the " +
        "user's Sent mailbox. Needs a user's credentials (Basic, or a token made with --user).",
      tag: "send",
      access: "user",
      body,
      maxBodyBytes: maxBodyBytes(maxMessageSize),
      responses: {
        202: {
          description: "Accepted: stored durably and queued",
          schema: s.object({
            id: s.string("Our id for the message (Received header, logs)"),
            messageId: s.string("The Message-ID header's value, with angle brackets"),
          }),
        },
        429: {
          description: "Over the user's hourly send limits (`[limits] send_per_hour`, " +
            "`recipients_per_hour`); Retry-After says when it fits again",
          schema: s.object({ error: s.string("What was counted, the limit, and when to retry") }),
        },
      },
      handle: async ({ body, principal, services, env }) => {
        const user = requireUser(principal);
        try {
          const from = normalizeMailbox(parseMailbox(body.from, "from"), "from");
          const to = mailboxes(body.to, "to");
          const cc = mailboxes(body.cc, "cc");
          const bcc = mailboxes(body.bcc, "bcc");
          const count = to.length + cc.length + bcc.length;
          if (count === 0) throw new ApiError(422, "to: at least one recipient is needed", "to");
          if (count > MAX_RECIPIENTS) {
            throw new ApiError(422, `to: at most ${MAX_RECIPIENTS} recipients in all`, "to");
          }
          // Headers that name a sender must name the user too, as `from` must.
          for (const [name, value] of Object.entries(body.headers ?? {})) {
            if (!SENDER_FIELDS.has(name.toLowerCase())) continue;
            const field = `headers.${name}`;
            const box = normalizeMailbox(parseMailbox(value, field), field);
            if (!maySendAs(services.store, user.address, box.address)) {
              throw new ApiError(403, `${box.address} is not an address of ${user.address}`, field);
            }
          }
          const unique = new Set([...to, ...cc, ...bcc].map((m) => m.address)).size;
          checkSendLimits(services.sendLimits, user.address, unique);
          const attachments = (body.attachments ?? []).map((a, i) => ({
            filename: a.filename,
            contentType: a.contentType,
            content: decodeBase64(a.content, `attachments[${i}].content`),
          }));
          const messageId = `${crypto.randomUUID()}@${services.config.hostname}`;
          const message = composeMessage({
            from,
            to,
            cc,
            subject: body.subject,
            text: body.text,
            html: body.html,
            attachments,
            headers: body.headers,
            date: new Date(),
            messageId,
          });
          if (message.length > services.config.maxMessageSize) {
            throw new ApiError(
              413,
              `The message would be ${message.length} bytes; the largest accepted is ${services.config.maxMessageSize}`,
            );
          }
          const recipients = [
            ...to.map((m, i) => ({ address: m.address, field: `to[${i}]` })),
            ...cc.map((m, i) => ({ address: m.address, field: `cc[${i}]` })),
            ...bcc.map((m, i) => ({ address: m.address, field: `bcc[${i}]` })),
          ];
          const submitted = await submitMessage(services, {
            user,
            sender: from.address,
            recipients,
            message,
            remoteAddress: env.remoteAddr,
            protocol: env.secure ? "HTTPS" : "HTTP",
            copyTo: "Sent",
          });
          services.sendLimits.record(user.address, unique);
          learnCorrespondents(services.store, user.id, recipients.map((r) => r.address));
          services.metrics.accepted("api");
          return json({ id: submitted.id, messageId: `<${messageId}>` }, 202);
        } catch (err) {
          if (err instanceof ComposeError) throw new ApiError(422, err.message, err.field);
          if (err instanceof SubmitError) {
            services.metrics.rejected(err.status === "forbidden" ? "sender" : "unknown_recipient");
            throw new ApiError(err.status === "forbidden" ? 403 : 422, err.message, err.field);
          }
          throw err;
        }
      },
    } satisfies RouteSpec<SendBody>,
  ];
}
