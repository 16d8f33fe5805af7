/**
 * /api/v1/account: what a signed-in user may see of their own account (the
 * account page): aliases, mailboxes and their size, and downloads of a
 * mailbox as mbox and of an Apple configuration profile.
 */
import { userQuota } from "../../store/quota.ts";
import { parseAddressList } from "../../mail/envelope.ts";
import { headerValue } from "../../mail/headers.ts";
import { mboxrdEntry } from "../../mail/mbox.ts";
import { listAliases } from "../../store/accounts.ts";
import type { Store } from "../../store/db.ts";
import { entriesAfter, messageBody } from "../../store/entries.ts";
import { findFolder, folderStatus, listFolders } from "../../store/folders.ts";
import { appleMobileconfig } from "../autoconfig.ts";
import { ApiError } from "../errors.ts";
import { json, requireUser, type RouteSpec } from "../route.ts";
import { s } from "../schema.ts";
import { mailEndpoints } from "../well_known.ts";

const mailbox = s.object({
  name: s.string("Mailbox name, '/' between levels"),
  specialUse: { type: ["string", "null"], description: "\\Sent, \\Junk, ... (RFC 6154)" },
  messages: s.integer("Messages in it"),
  unseen: s.integer("Messages not yet seen"),
  bytes: s.integer("Their size"),
});
const account = s.object({
  address: s.string("Your address and login name"),
  admin: s.boolean("You may administer the server"),
  aliases: s.array(s.string("An alias that delivers to you")),
  mailboxes: s.array(mailbox),
  usage: s.object({
    messages: s.integer("Messages in all mailboxes"),
    bytes: s.integer("Bytes in all mailboxes"),
    quotaBytes: { type: ["integer", "null"], description: "Your storage quota; null for none" },
  }),
  servers: s.object({
    hostname: s.string("Where your mail client connects"),
    imaps: s.integer("IMAP over TLS"),
    imap: s.integer("IMAP with STARTTLS"),
    pop3s: s.integer("POP3 over TLS"),
    pop3: s.integer("POP3 with STLS"),
    submissions: s.integer("Sending over TLS"),
    submission: s.integer("Sending with STARTTLS"),
  }, ["hostname"]),
});

/** Messages read from the store per step of a download. */
const PAGE = 50;

/**
 * A mailbox as an mboxrd stream, read a page of messages at a time so a
 * large mailbox never sits in memory whole. The `From ` line carries the
 * envelope sender from the Return-Path header and the internal date.
 */
function mboxStream(store: Store, mailboxId: number): ReadableStream<Uint8Array> {
  let after = 0;
  return new ReadableStream({
    pull(controller) {
      const entries = entriesAfter(store, mailboxId, after, PAGE);
      if (entries.length === 0) {
        controller.close();
        return;
      }
      for (const e of entries) {
        const body = messageBody(store, e.messageId);
        controller.enqueue(mboxrdEntry(body, envelopeSender(body), new Date(e.internalDate)));
        after = e.uid;
      }
    },
  }, { highWaterMark: 1 });
}

/**
 * The envelope sender of a stored message: its Return-Path (added at final
 * delivery), else, for a copy the user sent, the address in From.
 */
function envelopeSender(message: Uint8Array): string {
  const returnPath = headerValue(message, "Return-Path");
  if (returnPath !== undefined) return returnPath.trim().replace(/^<(.*)>$/, "$1");
  const from = parseAddressList(headerValue(message, "From") ?? "")
    .find((a) => a.mailbox !== null && a.host !== null);
  return from ? `${from.mailbox}@${from.host}` : "";
}

/** A file name safe for Content-Disposition: the mailbox name's letters, else "mailbox". */
function downloadName(mailboxName: string): string {
  const base = mailboxName.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^_+|_+$/g, "");
  return `${base || "mailbox"}.mbox`;
}

export const accountRoutes = [
  {
    method: "GET",
    path: "/api/v1/account",
    summary: "Your account",
    tag: "account",
    access: "user",
    responses: { 200: { description: "The signed-in user's account", schema: account } },
    handle: ({ principal, services }) => {
      const user = requireUser(principal);
      const mailboxes = listFolders(services.store, user.id).map((f) => {
        const status = folderStatus(services.store, f.id);
        return {
          name: f.name,
          specialUse: f.specialUse ?? null,
          messages: status.messages,
          unseen: status.unseen,
          bytes: status.size,
        };
      });
      return json(
        {
          address: user.address,
          admin: principal.admin,
          aliases: listAliases(services.store, { target: user.address }).map((a) => a.address),
          mailboxes,
          usage: {
            messages: mailboxes.reduce((n, m) => n + m.messages, 0),
            bytes: mailboxes.reduce((n, m) => n + m.bytes, 0),
            quotaBytes: userQuota(services.store, user.id, {
              bytes: services.config.limits.quotaBytes,
              messages: services.config.limits.quotaMessages,
            })?.limitBytes ?? null,
          },
          servers: mailEndpoints(services),
        },
        200,
        { "Cache-Control": "no-store" },
      );
    },
  } satisfies RouteSpec,
  {
    method: "GET",
    path: "/api/v1/account/mbox",
    summary: "Download one of your mailboxes as mbox",
    description: "mboxrd format; the query parameter `mailbox` names it (default INBOX).",
    tag: "account",
    access: "user",
    responses: { 200: { description: "The mailbox", contentType: "application/mbox" } },
    handle: ({ principal, services, request }) => {
      const user = requireUser(principal);
      const name = new URL(request.url).searchParams.get("mailbox") ?? "INBOX";
      const folder = findFolder(services.store, user.id, name);
      if (!folder) throw new ApiError(404, `No such mailbox: ${name}`, "mailbox");
      return new Response(mboxStream(services.store, folder.id), {
        headers: {
          "Content-Type": "application/mbox",
          "Content-Disposition": `attachment; filename="${downloadName(folder.name)}"`,
          "Cache-Control": "no-store",
        },
      });
    },
  } satisfies RouteSpec,
  {
    method: "GET",
    path: "/api/v1/account/mobileconfig",
    summary: "An Apple configuration profile for your account",
    description: "Install it on iOS or macOS to set up Mail; it holds no password.",
    tag: "account",
    access: "user",
    responses: {
      200: { description: "The profile", contentType: "application/x-apple-aspen-config" },
    },
    handle: async ({ principal, services }) => {
      const user = requireUser(principal);
      let profile: string;
      try {
        profile = await appleMobileconfig(user.address, mailEndpoints(services));
      } catch (err) {
        throw new ApiError(409, `No profile possible: ${(err as Error).message}`);
      }
      return new Response(profile, {
        headers: {
          "Content-Type": "application/x-apple-aspen-config",
          "Content-Disposition": `attachment; filename="${user.address}.mobileconfig"`,
          "Cache-Control": "no-store",
        },
      });
    },
  } satisfies RouteSpec,
];
