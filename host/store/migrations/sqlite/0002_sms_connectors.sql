-- SMS receive connectors and the routing application versions uploaded to them (SQLite).
-- Booleans are integers 0/1 on both backends, so one query decodes them the same way.

CREATE TABLE sms_connectors (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    name               TEXT NOT NULL UNIQUE,
    -- E.164, normalised by the host: inbound SMS find their connector by exact match.
    recipient          TEXT NOT NULL UNIQUE,
    token              TEXT NOT NULL,
    require_token      INTEGER NOT NULL CHECK (require_token IN (0, 1)),
    routing_type       TEXT NOT NULL
                       CHECK (routing_type IN ('direct_acd_group', 'routing_application')),
    -- RESTRICT: a group cannot be deleted while a connector routes to it.
    acd_group          INTEGER REFERENCES acd_groups (id) ON DELETE RESTRICT,
    incoming_subject   TEXT,
    fallback_acd_group INTEGER REFERENCES acd_groups (id) ON DELETE RESTRICT,
    plugin_settings    TEXT NOT NULL DEFAULT '{}',
    plugin_limits      TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE plugin_versions (
    connector_id INTEGER NOT NULL REFERENCES sms_connectors (id) ON DELETE CASCADE,
    version      INTEGER NOT NULL,
    sha256       TEXT NOT NULL,
    size         INTEGER NOT NULL,
    component    BLOB NOT NULL,
    uploaded_at  INTEGER NOT NULL,
    PRIMARY KEY (connector_id, version),
    -- The same bytes uploaded again are the same version.
    UNIQUE (connector_id, sha256)
);

-- Every activation, in order. The active version is the newest row not rolled back;
-- rollback marks that row, so the one before it is active again, and a second
-- rollback steps back once more.
CREATE TABLE plugin_activations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    connector_id   INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    activated_at   INTEGER NOT NULL,
    rolled_back_at INTEGER,
    FOREIGN KEY (connector_id, version)
        REFERENCES plugin_versions (connector_id, version) ON DELETE CASCADE
);

CREATE INDEX plugin_activations_by_connector ON plugin_activations (connector_id, id);
