-- Tenant isolation (SQLite): conversations per contact and connector, warnings on
-- routing records, and the bytes each plugin's kv data holds, for its quota.

-- A conversation belongs to a contact on one connector (seed 004, issue 12): one
-- connector's routing application cannot fill or change what another's sees. The
-- channel stays a column. A conversation stored before this keyed by channel and
-- contact alone goes to the connector of the contact's most recent message on that
-- channel: the connector that last wrote it, most likely, and the one whose
-- application the next message of that contact will probably meet. A conversation
-- whose contact has no message on a connector that still exists is left out: no
-- routing application could see it again.
CREATE TABLE conversations_by_connector (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    connector_id INTEGER NOT NULL REFERENCES sms_connectors (id) ON DELETE CASCADE,
    channel      TEXT NOT NULL,
    contact      TEXT NOT NULL,
    status       TEXT NOT NULL,
    tags         TEXT NOT NULL DEFAULT '[]',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (connector_id, contact)
);

INSERT INTO conversations_by_connector
    (connector_id, channel, contact, status, tags, created_at, updated_at)
SELECT latest.connector_id, c.channel, c.contact, c.status, c.tags, c.created_at, c.updated_at
FROM conversations c
JOIN (SELECT m.channel, m.sender,
             (SELECT m2.connector_id FROM inbound_messages m2
              WHERE m2.channel = m.channel AND m2.sender = m.sender
                AND m2.connector_id IS NOT NULL
              ORDER BY m2.id DESC LIMIT 1) AS connector_id
      FROM inbound_messages m
      GROUP BY m.channel, m.sender) latest
  ON latest.channel = c.channel AND latest.sender = c.contact
WHERE latest.connector_id IS NOT NULL;

DROP TABLE conversations;
ALTER TABLE conversations_by_connector RENAME TO conversations;

-- What a routing application was refused without its decision being refused: tags
-- past a conversation's limit, kv writes past the quota. A list of sentences.
ALTER TABLE routing_records ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';

-- Bytes of key plus value (UTF-8) of each entry, and each scope's totals, kept in the
-- transactions that write kv data, so the quota is checked without summing a scope.
ALTER TABLE plugin_kv ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE plugin_kv SET size = length(CAST(key AS BLOB)) + length(CAST(value AS BLOB));

CREATE TABLE plugin_kv_usage (
    scope TEXT PRIMARY KEY,
    keys  INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);

INSERT INTO plugin_kv_usage (scope, keys, bytes)
SELECT scope, COUNT(*), SUM(size) FROM plugin_kv GROUP BY scope;
