/**
 * What `postino import` asks of a mailbox to find messages it holds already
 * (src/cli/import_dedupe.ts): the body size of each entry's message, read
 * from the FETCH metadata stored with it (no body is read), so only the few
 * messages of the same body size need their bodies hashed.
 */
import type { Store } from "./db.ts";

/** One entry's message and its body size; null when the message has no stored metadata. */
export interface EntryBodySize {
  messageId: number;
  bodySize: number | null;
}

/** The messages of a mailbox with their body sizes (from `meta`'s root body range). */
export function entryBodySizes(store: Store, mailboxId: number): EntryBodySize[] {
  return store.all<{ message_id: number; body_size: number | null }>(
    `SELECT e.message_id,
       CASE WHEN json_valid(m.meta)
         THEN json_extract(m.meta, '$.parts.b[1]') - json_extract(m.meta, '$.parts.b[0]')
       END body_size
     FROM mailbox_entries e JOIN messages m ON m.id = e.message_id
     WHERE e.mailbox_id = ?`,
    mailboxId,
  ).map((r) => ({ messageId: r.message_id, bodySize: r.body_size }));
}
