-- What keeps an offering pass as short at 1,000 agents as at 10 (PostgreSQL): each of
-- its reads goes through an index over the rows it needs, not over every interaction.

-- When the current offer runs out, fixed when it is made: the pass finds the offers
-- running out without reading the ones still running.
ALTER TABLE interactions ADD COLUMN offer_expires_at BIGINT;
UPDATE interactions SET offer_expires_at = offered_at + COALESCE(
    (SELECT g.offer_timeout_ms FROM acd_groups g WHERE g.id = interactions.acd_group), 30000)
WHERE state = 'invited';
CREATE INDEX interactions_offers_running ON interactions (offer_expires_at)
    WHERE state = 'invited';

-- The waiting interactions in the order they are offered in (priority, then oldest).
CREATE INDEX interactions_waiting ON interactions (priority DESC, created_at, id)
    WHERE state = 'queued';

-- What each agent holds against their capacity.
CREATE INDEX interactions_holding ON interactions (agent_id)
    WHERE state IN ('invited', 'accepted', 'reply_created');

-- Passes by agent: deleting an agent deletes theirs.
CREATE INDEX interaction_passes_by_agent ON interaction_passes (agent_id);
