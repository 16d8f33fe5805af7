/**
 * The QUOTA extension (RFC 9208): GETQUOTAROOT, GETQUOTA and SETQUOTA, and
 * the check APPEND and COPY make before they add messages (NO [OVERQUOTA],
 * §4.3). The limits and usage come from store/quota.ts, which keeps usage as
 * running counters; nothing here sums messages.
 *
 * Each user has one quota root, named "" (the name of the RFC's examples):
 * it governs every mailbox of the user, and a client shows no name for it.
 * It exists only while the user has a limit: a user without any is
 * answered with a QUOTAROOT that lists no root, and GETQUOTA "" gets NO.
 *
 * STORAGE is in units of 1024 octets (RFC 9208 §5.1): usage rounded up and
 * the limit rounded down, so that the room a client computes from them is
 * never more than there is. MESSAGE counts messages, each copy in each
 * mailbox once. Quotas are set by the administrator (`postino user quota`),
 * so SETQUOTA is refused and QUOTASET is not advertised.
 *
 * @module
 */
import { overQuota, type Quota, userQuota } from "../store/quota.ts";
import { findFolder } from "../store/folders.ts";
import type { CommandOf } from "./command.ts";
import { imapString, mailboxName } from "./format.ts";
import type { MailboxScope } from "./mailbox_commands.ts";
import { no, ok, type Reply } from "./reply.ts";

/** The name of each user's one quota root. */
export const QUOTA_ROOT = "";

/** The user's quota and usage. */
function quotaOf(scope: MailboxScope): Quota | undefined {
  return userQuota(scope.store, scope.userId, scope.quotaDefaults);
}

/** The quota-resource list of a QUOTA response (RFC 9208 §4.2.1): only resources with a limit. */
export function quotaResources(quota: Quota | undefined): string[] {
  const resources: string[] = [];
  if (quota?.limitBytes !== undefined) {
    const used = Math.ceil(Math.max(0, quota.usedBytes) / 1024);
    resources.push(`STORAGE ${used} ${Math.floor(quota.limitBytes / 1024)}`);
  }
  if (quota?.limitMessages !== undefined) {
    resources.push(`MESSAGE ${Math.max(0, quota.usedMessages)} ${quota.limitMessages}`);
  }
  return resources;
}

/** GETQUOTAROOT (RFC 9208 §4.1.2): the mailbox's roots, and a QUOTA response for each. */
export async function getQuotaRootCommand(
  scope: MailboxScope,
  cmd: CommandOf<"GETQUOTAROOT">,
): Promise<Reply> {
  const folder = findFolder(scope.store, scope.userId, cmd.mailbox);
  if (!folder) return no(`No such mailbox: ${cmd.mailbox}`, "NONEXISTENT");
  const resources = quotaResources(quotaOf(scope));
  const name = mailboxName(folder.name, scope.rev2);
  if (resources.length === 0) {
    await scope.untagged(`QUOTAROOT ${name}`);
  } else {
    await scope.untagged(`QUOTAROOT ${name} ${imapString(QUOTA_ROOT)}`);
    await scope.untagged(`QUOTA ${imapString(QUOTA_ROOT)} (${resources.join(" ")})`);
  }
  return ok("GETQUOTAROOT completed");
}

/** GETQUOTA (RFC 9208 §4.1.1): the root's usage and limits; NO for a root the user lacks. */
export async function getQuotaCommand(
  scope: MailboxScope,
  cmd: CommandOf<"GETQUOTA">,
): Promise<Reply> {
  const resources = cmd.root === QUOTA_ROOT ? quotaResources(quotaOf(scope)) : [];
  if (resources.length === 0) {
    return no(`No such quota root: ${JSON.stringify(cmd.root.slice(0, 100))}`, "NONEXISTENT");
  }
  await scope.untagged(`QUOTA ${imapString(QUOTA_ROOT)} (${resources.join(" ")})`);
  return ok("GETQUOTA completed");
}

/**
 * SETQUOTA (RFC 9208 §4.1.3): refused, as the RFC allows; a user's quota is
 * the administrator's to set. NOPERM (RFC 5530): the user may not do this.
 */
export function setQuotaCommand(_scope: MailboxScope, _cmd: CommandOf<"SETQUOTA">): Reply {
  return no("Quotas are set by the administrator", "NOPERM");
}

/**
 * NO [OVERQUOTA] (RFC 9208 §4.3) when adding `messages` messages of `bytes()`
 * octets in all would take the user past their quota; undefined when they fit.
 * The same rule as store/quota.ts `overQuota()` (usage plus the new messages
 * may reach a limit, not pass it), for any number of messages. `bytes` is
 * called only when there is a storage limit.
 */
export function overQuotaRefusal(
  scope: MailboxScope,
  messages: number,
  bytes: () => number,
  what: string,
): Reply | undefined {
  if (messages === 0) return undefined;
  const quota = quotaOf(scope);
  if (!quota || (quota.limitBytes === undefined && quota.limitMessages === undefined)) {
    return undefined;
  }
  const size = quota.limitBytes === undefined ? 0 : bytes();
  return overQuota(quota, size, messages)
    ? no(`${what} would exceed the mailbox quota`, "OVERQUOTA")
    : undefined;
}
