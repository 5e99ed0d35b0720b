-- The communication queue's processing (seeds 000 and 001) on SQLite: text statuses
-- and their log, claims, rate-limit slots, delivery receipts, external systems and the
-- gateway / external-system components they run.

-- The text status of seed 001 (pending, queued, sending, sent, delivered, ...), next to
-- the life cycle state of seed 000.
ALTER TABLE queue_entries ADD COLUMN status TEXT NOT NULL DEFAULT 'pending';
-- Send attempts made so far (gateway retries included).
ALTER TABLE queue_entries ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
-- A claim: the host's worker or a third party holds the entry until this time. An
-- entry whose claim ran out (a crashed node) is claimed again.
ALTER TABLE queue_entries ADD COLUMN lease_until INTEGER;
-- The secret a third party must show to settle the entry it claimed.
ALTER TABLE queue_entries ADD COLUMN claim_token TEXT;
-- For SMS: the time slot the per-number rate limit gave the entry.
ALTER TABLE queue_entries ADD COLUMN send_at INTEGER;
-- The gateway's id for the sent message, which its delivery receipts name.
ALTER TABLE queue_entries ADD COLUMN gateway_reference TEXT;
-- How many SMS segments the text takes (a multi-part message is delivered per part).
ALTER TABLE queue_entries ADD COLUMN parts INTEGER NOT NULL DEFAULT 1;
-- What the processor said on completion (a remote reference, say).
ALTER TABLE queue_entries ADD COLUMN result TEXT;

CREATE INDEX queue_entries_by_reference ON queue_entries (gateway_reference)
    WHERE gateway_reference IS NOT NULL;
CREATE INDEX queue_entries_by_system ON queue_entries (external_system, number)
    WHERE state = 'pending';

-- Every text status an entry went through, time-stamped (seed 001's activity log).
CREATE TABLE queue_activity (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_number INTEGER NOT NULL REFERENCES queue_entries (number) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    status       TEXT NOT NULL,
    detail       TEXT
);
CREATE INDEX queue_activity_by_entry ON queue_activity (entry_number, id);

-- Delivery receipts by the gateway's reference. Kept even when no entry has that
-- reference yet: a fast gateway can report before the host has stored its answer.
CREATE TABLE sms_receipts (
    reference         TEXT NOT NULL,
    part              INTEGER NOT NULL,
    status            TEXT NOT NULL,
    error_code        TEXT,
    error_description TEXT,
    received_at       INTEGER NOT NULL,
    PRIMARY KEY (reference, part, status)
);

-- The next free second of each sending number and each contact (seed 001: one text
-- per second per number; texts to one contact within one second are held back).
CREATE TABLE rate_slots (
    key     TEXT PRIMARY KEY NOT NULL,
    next_at INTEGER NOT NULL
);

-- Gateway and external-system components, by content hash.
CREATE TABLE queue_plugins (
    sha256      TEXT PRIMARY KEY NOT NULL,
    world       TEXT NOT NULL,
    size        INTEGER NOT NULL,
    component   BLOB NOT NULL,
    uploaded_at INTEGER NOT NULL
);

-- Systems that process the entries naming them: a WASM processor run by the host, or a
-- third party that fetches and settles its entries through the web API.
CREATE TABLE external_systems (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('plugin', 'third_party')),
    plugin      TEXT REFERENCES queue_plugins (sha256) ON DELETE RESTRICT,
    settings    TEXT NOT NULL DEFAULT '{}',
    token       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    CHECK ((kind = 'plugin') = (plugin IS NOT NULL))
);
