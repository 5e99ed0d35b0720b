-- Each agent's load per channel (what they hold against their capacity: offered,
-- accepted, drafting a reply), kept beside their status by a trigger on interactions,
-- so an offering pass reads who has room from the agents' own rows instead of counting
-- every ready agent's interactions. The trigger keeps it true whichever statement
-- moves an interaction; the offering transaction still counts before it offers, and
-- puts the column right if it ever disagrees.
ALTER TABLE agent_channels ADD COLUMN held BIGINT NOT NULL DEFAULT 0;

UPDATE agent_channels SET held = (
    SELECT COUNT(*) FROM interactions i JOIN inbound_messages m ON m.id = i.message_id
    WHERE i.agent_id = agent_channels.agent_id AND m.channel = agent_channels.channel
      AND i.state IN ('invited', 'accepted', 'reply_created'));

CREATE FUNCTION interactions_track_load() RETURNS trigger AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.agent_id IS NOT NULL
       AND OLD.state IN ('invited', 'accepted', 'reply_created') THEN
        UPDATE agent_channels SET held = held - 1
        WHERE agent_id = OLD.agent_id
          AND channel = (SELECT channel FROM inbound_messages WHERE id = OLD.message_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.agent_id IS NOT NULL
       AND NEW.state IN ('invited', 'accepted', 'reply_created') THEN
        UPDATE agent_channels SET held = held + 1
        WHERE agent_id = NEW.agent_id
          AND channel = (SELECT channel FROM inbound_messages WHERE id = NEW.message_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER interactions_load_on_insert AFTER INSERT ON interactions
    FOR EACH ROW EXECUTE FUNCTION interactions_track_load();
CREATE TRIGGER interactions_load_on_update AFTER UPDATE OF state, agent_id ON interactions
    FOR EACH ROW EXECUTE FUNCTION interactions_track_load();
CREATE TRIGGER interactions_load_on_delete AFTER DELETE ON interactions
    FOR EACH ROW EXECUTE FUNCTION interactions_track_load();
