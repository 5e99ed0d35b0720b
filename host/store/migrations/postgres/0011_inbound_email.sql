-- Inbound email (PostgreSQL): email receive connectors beside the SMS ones, the parts of an
-- inbound email that an SMS does not have, and attachments stored by content.

-- Email connectors live in the connectors' table, so plugin versions, kv scopes,
-- conversations and inbound messages refer to every connector the same way. An email
-- connector's `recipient` is its first address; all its addresses are below.
ALTER TABLE sms_connectors ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms'
    CHECK (channel IN ('sms', 'email'));

-- The addresses an email connector receives for, lower-cased: one connector each.
CREATE TABLE connector_addresses (
    address      TEXT PRIMARY KEY,
    connector_id BIGINT NOT NULL REFERENCES sms_connectors (id) ON DELETE CASCADE,
    position     BIGINT NOT NULL
);

CREATE INDEX connector_addresses_by_connector ON connector_addresses (connector_id, position);

-- What routing reads of every inbound message, beyond sender, recipient and text: an
-- email's subject, the attributes routing applications see (addresses, message ids)
-- and its attachments' metadata, as JSON lists. Empty for SMS.
ALTER TABLE inbound_messages ADD COLUMN subject TEXT;
ALTER TABLE inbound_messages ADD COLUMN attributes TEXT NOT NULL DEFAULT '[]';
ALTER TABLE inbound_messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';

-- What an inbound email carries beyond that, for people and for threading. Lists are
-- JSON arrays.
CREATE TABLE inbound_emails (
    message_id     BIGINT PRIMARY KEY REFERENCES inbound_messages (id) ON DELETE CASCADE,
    -- The Message-ID without its angle brackets; generated when the mail had none.
    rfc_message_id TEXT NOT NULL,
    generated_id   BIGINT NOT NULL CHECK (generated_id IN (0, 1)),
    from_name      TEXT,
    to_addresses   TEXT NOT NULL DEFAULT '[]',
    cc_addresses   TEXT NOT NULL DEFAULT '[]',
    html           TEXT,
    in_reply_to    TEXT NOT NULL DEFAULT '[]',
    references_ids TEXT NOT NULL DEFAULT '[]',
    -- How it came: mime, postmark or mailgun.
    dialect        TEXT NOT NULL
);

CREATE INDEX inbound_emails_by_rfc_id ON inbound_emails (rfc_message_id);

-- Attachment bytes, once per content however many messages carry them.
CREATE TABLE attachment_blobs (
    sha256  TEXT PRIMARY KEY,
    size    BIGINT NOT NULL,
    content BYTEA NOT NULL
);

-- An attachment as one message carries it: its name and type are the message's.
CREATE TABLE message_attachments (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  BIGINT NOT NULL REFERENCES inbound_messages (id) ON DELETE CASCADE,
    position    BIGINT NOT NULL,
    name        TEXT NOT NULL,
    mime_type   TEXT NOT NULL,
    size        BIGINT NOT NULL,
    sha256      TEXT NOT NULL REFERENCES attachment_blobs (sha256),
    content_id  TEXT,
    inline      BIGINT NOT NULL CHECK (inline IN (0, 1))
);

CREATE INDEX message_attachments_by_message ON message_attachments (message_id, position);
