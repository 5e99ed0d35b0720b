-- Inbound messages, their routing, the interactions they become, conversations, the
-- plugins' key-value data and the communication queue's entries (PostgreSQL).

CREATE TABLE inbound_messages (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- NULL once the connector is deleted; recipient still says where it arrived.
    connector_id       BIGINT REFERENCES sms_connectors (id) ON DELETE SET NULL,
    channel            TEXT NOT NULL,
    -- The gateway's id for the message: a retry carries the same one.
    gateway_message_id TEXT NOT NULL,
    sender             TEXT NOT NULL,
    recipient          TEXT NOT NULL,
    body               TEXT NOT NULL,
    -- When the gateway says it received the message; stored_at is when we did.
    received_at        BIGINT NOT NULL,
    stored_at          BIGINT NOT NULL,
    state              TEXT NOT NULL
                       CHECK (state IN ('received', 'routed', 'rejected', 'dropped')),
    -- A node routing the message owns it until then; afterwards any node may take it.
    lease_until        BIGINT NOT NULL,
    UNIQUE (recipient, gateway_message_id)
);

-- What is still to be routed: small, however long the history grows.
CREATE INDEX inbound_messages_unrouted ON inbound_messages (id) WHERE state = 'received';

-- The message's activity log: one time-stamped row per status it went through.
CREATE TABLE message_activity (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id BIGINT NOT NULL REFERENCES inbound_messages (id) ON DELETE CASCADE,
    status     TEXT NOT NULL,
    detail     TEXT,
    at         BIGINT NOT NULL
);

CREATE INDEX message_activity_by_message ON message_activity (message_id, id);

-- How a message was routed: by whom, with which plugin version, and what went wrong.
CREATE TABLE routing_records (
    message_id     BIGINT PRIMARY KEY REFERENCES inbound_messages (id) ON DELETE CASCADE,
    routing_type   TEXT NOT NULL,
    plugin_version BIGINT,
    plugin_sha256  TEXT,
    outcome        TEXT NOT NULL,
    reason         TEXT,
    decision       TEXT,
    error_kind     TEXT,
    error          TEXT,
    logs           TEXT NOT NULL DEFAULT '[]',
    elapsed_us     BIGINT,
    routed_at      BIGINT NOT NULL
);

CREATE TABLE interactions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- One interaction per message, whatever retries or restarts happen.
    message_id  BIGINT NOT NULL UNIQUE REFERENCES inbound_messages (id) ON DELETE CASCADE,
    acd_group   BIGINT NOT NULL REFERENCES acd_groups (id) ON DELETE RESTRICT,
    state       TEXT NOT NULL,
    priority    BIGINT NOT NULL,
    subject     TEXT,
    user_data   TEXT NOT NULL DEFAULT '[]',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE INDEX interactions_by_group ON interactions (acd_group, state, id);

-- One conversation per contact and channel (seed 004).
CREATE TABLE conversations (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel    TEXT NOT NULL,
    contact    TEXT NOT NULL,
    status     TEXT NOT NULL,
    tags       TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (channel, contact)
);

-- Plugins' private key-value data, one scope per connector.
CREATE TABLE plugin_kv (
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);

-- The communication queue (seed 000). Routing applications' replies land here.
CREATE TABLE queue_entries (
    number             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state              TEXT NOT NULL
                       CHECK (state IN ('pending', 'rejected', 'completed',
                                        'completed_and_removed')),
    media              TEXT NOT NULL,
    direction          TEXT NOT NULL,
    sender             TEXT NOT NULL,
    recipient          TEXT NOT NULL,
    subject            TEXT,
    body               TEXT NOT NULL,
    external_system    TEXT,
    error_code         TEXT,
    error_description  TEXT,
    -- The inbound message whose routing created the entry, if any.
    inbound_message_id BIGINT REFERENCES inbound_messages (id) ON DELETE SET NULL,
    created_at         BIGINT NOT NULL,
    created_by         TEXT NOT NULL,
    updated_at         BIGINT NOT NULL,
    updated_by         TEXT NOT NULL
);

CREATE INDEX queue_entries_pending ON queue_entries (number) WHERE state = 'pending';
