/**
 * Versioned schema migrations. Each entry runs once, in order, inside a
 * transaction; `PRAGMA user_version` records how far a database has come, so
 * opening an up-to-date database runs nothing.
 *
 * Append new migrations; never edit one that has shipped.
 */

/** The migrations, index i brings the schema from version i to i + 1. */
export const migrations: readonly string[] = [
  // 1: accounts, mailboxes, messages and the outbound queue.
  `
  CREATE TABLE domains (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
  );

  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL UNIQUE,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX users_domain ON users(domain_id);

  -- One row per (alias, target); an alias with several targets fans out.
  CREATE TABLE aliases (
    id INTEGER PRIMARY KEY,
    address TEXT NOT NULL,
    domain_id INTEGER NOT NULL REFERENCES domains(id),
    target TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (address, target)
  );
  CREATE INDEX aliases_domain ON aliases(domain_id);

  -- IMAP-ready: uidvalidity and uidnext per mailbox (RFC 9051 §2.3.1.1).
  CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    special_use TEXT,
    uidvalidity INTEGER NOT NULL,
    uidnext INTEGER NOT NULL DEFAULT 1,
    highest_modseq INTEGER NOT NULL DEFAULT 1,
    subscribed INTEGER NOT NULL DEFAULT 1,
    UNIQUE (user_id, name)
  );

  -- A message body is stored once and shared by every mailbox entry and queue item.
  CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  );

  -- flags: bit set of the system flags (see FLAG_* in mailboxes.ts); keywords: space-separated.
  CREATE TABLE mailbox_entries (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    flags INTEGER NOT NULL DEFAULT 0,
    keywords TEXT NOT NULL DEFAULT '',
    internal_date INTEGER NOT NULL,
    size INTEGER NOT NULL,
    modseq INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (mailbox_id, uid)
  ) WITHOUT ROWID;
  CREATE INDEX mailbox_entries_message ON mailbox_entries(message_id);

  CREATE TABLE queue (
    id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES messages(id),
    sender TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  CREATE INDEX queue_message ON queue(message_id);

  -- status: 'pending' until delivered or failed for good.
  CREATE TABLE queue_recipients (
    queue_id INTEGER NOT NULL REFERENCES queue(id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT,
    PRIMARY KEY (queue_id, recipient)
  ) WITHOUT ROWID;
  CREATE INDEX queue_recipients_due ON queue_recipients(status, next_attempt_at);

  -- A body goes when nothing refers to it any more.
  CREATE TRIGGER mailbox_entries_release AFTER DELETE ON mailbox_entries
  WHEN NOT EXISTS (SELECT 1 FROM mailbox_entries WHERE message_id = OLD.message_id)
   AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = OLD.message_id)
  BEGIN
    DELETE FROM messages WHERE id = OLD.message_id;
  END;
  CREATE TRIGGER queue_release AFTER DELETE ON queue
  WHEN NOT EXISTS (SELECT 1 FROM mailbox_entries WHERE message_id = OLD.message_id)
   AND NOT EXISTS (SELECT 1 FROM queue WHERE message_id = OLD.message_id)
  BEGIN
    DELETE FROM messages WHERE id = OLD.message_id;
  END;
  `,
  // 2: whether a body has lines starting with "." (1 = yes or unknown), so POP3 can skip
  // scanning the others for dot-stuffing.
  `
  ALTER TABLE messages ADD COLUMN dot_lines INTEGER NOT NULL DEFAULT 1;
  `,
  // 3: DKIM signing keys. A domain may have several (rotation); the newest active one signs.
  // domain is a name, not a reference: a key outlives "domain del", so re-adding the domain
  // finds the key whose record is still published. public_key is the record's p= value.
  `
  CREATE TABLE dkim_keys (
    id INTEGER PRIMARY KEY,
    domain TEXT NOT NULL,
    selector TEXT NOT NULL,
    algorithm TEXT NOT NULL CHECK (algorithm IN ('rsa', 'ed25519')),
    private_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    active INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    UNIQUE (domain, selector)
  );
  `,
  // 4: queue ids are never reused (a `queue del ID` from an old listing must not hit a newer
  // message); INTEGER PRIMARY KEY reuses the largest deleted id, so ids come from a counter.
  `
  CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
  INSERT INTO counters (name, value) VALUES ('queue', coalesce((SELECT max(id) FROM queue), 0));
  `,
  // 5: IMAP. What FETCH needs of a message, computed once at delivery (src/mail/message_meta.ts);
  // where \Recent starts for IMAP4rev1 sessions; expunged uids for QRESYNC VANISHED (RFC 7162);
  // entries by modseq for CONDSTORE.
  `
  ALTER TABLE messages ADD COLUMN meta TEXT;
  ALTER TABLE mailboxes ADD COLUMN first_recent_uid INTEGER NOT NULL DEFAULT 1;
  CREATE TABLE expunged (
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uid INTEGER NOT NULL,
    modseq INTEGER NOT NULL,
    PRIMARY KEY (mailbox_id, uid)
  ) WITHOUT ROWID;
  CREATE INDEX mailbox_entries_modseq ON mailbox_entries(mailbox_id, modseq);
  `,
  // 6: the HTTP layer. Admins (the first user ever added is one; `settings` remembers that
  // one was added, so deleting every user does not make the next one an admin); API tokens and
  // web sign-in sessions, both stored as SHA-256 of a random secret the holder alone knows;
  // messages by arrival time.
  `
  ALTER TABLE users ADD COLUMN admin INTEGER NOT NULL DEFAULT 0 CHECK (admin IN (0, 1));
  CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  UPDATE users SET admin = 1 WHERE id = (SELECT min(id) FROM users);
  INSERT INTO settings (name, value) SELECT 'first_user', address FROM users ORDER BY id LIMIT 1;
  CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL UNIQUE,
    -- NULL: an admin token; else the token acts as this user.
    user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER
  );
  CREATE TABLE web_sessions (
    secret_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX web_sessions_user ON web_sessions(user_id);
  -- The admin page's "messages today".
  CREATE INDEX messages_created ON messages(created_at);
  `,
  // 7: the junk filter (issue 14): per account, how often each feature was seen in messages
  // trained as spam and as ham, and which messages were trained on which side, so that
  // training a message again on the other side first takes its earlier training back.
  `
  CREATE TABLE junk_features (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    feature TEXT NOT NULL,
    spam INTEGER NOT NULL DEFAULT 0,
    ham INTEGER NOT NULL DEFAULT 0,
    -- The last training that touched it (ms): rare, old features are pruned first.
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, feature)
  ) WITHOUT ROWID;
  CREATE TABLE junk_trained (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- messages(id), without a foreign key: a trained message may be expunged later.
    message_id INTEGER NOT NULL,
    spam INTEGER NOT NULL CHECK (spam IN (0, 1)),
    trained_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, message_id)
  ) WITHOUT ROWID;
  `,
  // 8: the junk filter's correspondents: addresses each account wrote to (submission, the send
  // API); mail from them, when its sender is verified, skips the content check. And the
  // number of messages each account trained on each side, kept as it changes (summing
  // junk_trained for every message judged was a sixth of judging it), with a version that
  // tells the classifier's copy in memory when to read the features again.
  `
  CREATE TABLE junk_totals (
    user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    spam INTEGER NOT NULL,
    ham INTEGER NOT NULL,
    -- Goes up with every change to the account's training: a copy in memory is stale.
    version INTEGER NOT NULL DEFAULT 0
  );
  INSERT INTO junk_totals (user_id, spam, ham)
    SELECT user_id, sum(spam), sum(1 - spam) FROM junk_trained GROUP BY user_id;
  CREATE TABLE junk_correspondents (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    address TEXT NOT NULL,
    messages INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, address)
  ) WITHOUT ROWID;
  `,
  // 9: quotas and retention (issue 15). Each user's storage quota (NULL: the configured
  // default; -1: none) and usage, kept as running counters by triggers on mailbox_entries
  // (every copy in a mailbox counts, as IMAP QUOTA's STORAGE does), and when each entry was
  // saved into its mailbox, from which Trash and Junk retention counts.
  `
  ALTER TABLE users ADD COLUMN quota_bytes INTEGER;
  ALTER TABLE users ADD COLUMN used_bytes INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE users ADD COLUMN used_messages INTEGER NOT NULL DEFAULT 0;
  UPDATE users SET
    used_bytes = (SELECT coalesce(sum(e.size), 0) FROM mailbox_entries e
                  JOIN mailboxes b ON b.id = e.mailbox_id WHERE b.user_id = users.id),
    used_messages = (SELECT count(*) FROM mailbox_entries e
                     JOIN mailboxes b ON b.id = e.mailbox_id WHERE b.user_id = users.id);
  CREATE TRIGGER usage_entry_added AFTER INSERT ON mailbox_entries BEGIN
    UPDATE users SET used_bytes = used_bytes + NEW.size, used_messages = used_messages + 1
    WHERE id = (SELECT user_id FROM mailboxes WHERE id = NEW.mailbox_id);
  END;
  CREATE TRIGGER usage_entry_removed AFTER DELETE ON mailbox_entries BEGIN
    UPDATE users SET used_bytes = used_bytes - OLD.size, used_messages = used_messages - 1
    WHERE id = (SELECT user_id FROM mailboxes WHERE id = OLD.mailbox_id);
  END;
  -- A deleted mailbox's entries go first, while the mailbox still tells whose usage they are
  -- (by the cascade, they would go after it).
  CREATE TRIGGER usage_mailbox_removed BEFORE DELETE ON mailboxes BEGIN
    DELETE FROM mailbox_entries WHERE mailbox_id = OLD.id;
  END;
  ALTER TABLE mailbox_entries ADD COLUMN saved_at INTEGER NOT NULL DEFAULT 0;
  UPDATE mailbox_entries SET saved_at = internal_date;
  `,
];
