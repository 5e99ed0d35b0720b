-- Conversations as people manage them (seed 004): archiving, the messages of each
-- conversation, the activity log of every transition with who made it, and the
-- attachments agents send with their email replies.

-- Only closed conversations are archived; the inbox's default view hides them.
ALTER TABLE conversations ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;

CREATE INDEX conversations_inbox ON conversations (archived, updated_at);

-- The conversation a routed message joined: its contact's, or for an email answering
-- a thread, the thread's.
ALTER TABLE inbound_messages ADD COLUMN conversation_id INTEGER
    REFERENCES conversations (id) ON DELETE SET NULL;

CREATE INDEX inbound_messages_by_conversation ON inbound_messages (conversation_id, id);

-- One line per transition: routing's, an agent's reply, an admin's close, reopen,
-- archive, unarchive and tag changes.
CREATE TABLE conversation_activity (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    at              INTEGER NOT NULL,
    -- routing:connector 3, admin, agent <login>
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    from_status     TEXT,
    to_status       TEXT,
    detail          TEXT
);

CREATE INDEX conversation_activity_by_conversation ON conversation_activity (conversation_id, id);

-- Attachments an agent linked to a reply (LinkAttachment), sent with it by email.
CREATE TABLE queue_attachments (
    entry_number  INTEGER NOT NULL REFERENCES queue_entries (number) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    attachment_id INTEGER NOT NULL REFERENCES message_attachments (id) ON DELETE CASCADE,
    PRIMARY KEY (entry_number, position)
);
