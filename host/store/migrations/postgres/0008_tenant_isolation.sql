-- Tenant isolation (PostgreSQL): conversations per contact and connector, warnings on
-- routing records, and the bytes each plugin's kv data holds, for its quota.

-- A conversation belongs to a contact on one connector (seed 004, issue 12): one
-- connector's routing application cannot fill or change what another's sees. The
-- channel stays a column. A conversation stored before this keyed by channel and
-- contact alone goes to the connector of the contact's most recent message on that
-- channel: the connector that last wrote it, most likely, and the one whose
-- application the next message of that contact will probably meet. A conversation
-- whose contact has no message on a connector that still exists is deleted: no
-- routing application could see it again.
ALTER TABLE conversations
    ADD COLUMN connector_id BIGINT REFERENCES sms_connectors (id) ON DELETE CASCADE;

UPDATE conversations c SET connector_id = (
    SELECT m.connector_id FROM inbound_messages m
    WHERE m.channel = c.channel AND m.sender = c.contact AND m.connector_id IS NOT NULL
    ORDER BY m.id DESC LIMIT 1
);

DELETE FROM conversations WHERE connector_id IS NULL;
ALTER TABLE conversations ALTER COLUMN connector_id SET NOT NULL;
ALTER TABLE conversations DROP CONSTRAINT conversations_channel_contact_key;
ALTER TABLE conversations ADD CONSTRAINT conversations_connector_contact_key
    UNIQUE (connector_id, contact);

-- What a routing application was refused without its decision being refused: tags
-- past a conversation's limit, kv writes past the quota. A list of sentences.
ALTER TABLE routing_records ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';

-- Bytes of key plus value (UTF-8) of each entry, and each scope's totals, kept in the
-- transactions that write kv data, so the quota is checked without summing a scope.
ALTER TABLE plugin_kv ADD COLUMN size BIGINT NOT NULL DEFAULT 0;
UPDATE plugin_kv SET size = octet_length(key) + octet_length(value);

CREATE TABLE plugin_kv_usage (
    scope TEXT PRIMARY KEY,
    keys  BIGINT NOT NULL,
    bytes BIGINT NOT NULL
);

INSERT INTO plugin_kv_usage (scope, keys, bytes)
SELECT scope, COUNT(*), SUM(size) FROM plugin_kv GROUP BY scope;
