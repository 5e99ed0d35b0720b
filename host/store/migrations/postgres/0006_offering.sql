-- Offering interactions to agents, the agents' notifications and their presence
-- (PostgreSQL).

-- Who holds an interaction (invited, accepted, drafting a reply, in a workbin), since
-- when the current offer runs, the workbin it sits in and the reply being drafted.
-- Deleting an agent requeues what they hold first (Store::delete_agent).
ALTER TABLE interactions ADD COLUMN agent_id BIGINT REFERENCES agents (id);
ALTER TABLE interactions ADD COLUMN offered_at BIGINT;
ALTER TABLE interactions ADD COLUMN workbin TEXT;
ALTER TABLE interactions ADD COLUMN draft TEXT;

CREATE INDEX interactions_by_agent ON interactions (agent_id, state);

-- How long a group's agents have to answer an offer; NULL is the default (30 s).
ALTER TABLE acd_groups ADD COLUMN offer_timeout_ms BIGINT;

-- When each agent was last offered work on each channel: with `since`, how long they
-- have been idle.
ALTER TABLE agent_channels ADD COLUMN last_offer_at BIGINT;

-- The last CometD connection seen of each agent, and the highest notification they
-- acknowledged: where their next client starts.
ALTER TABLE agents ADD COLUMN last_seen BIGINT;
ALTER TABLE agents ADD COLUMN notified_through BIGINT NOT NULL DEFAULT 0;

-- Agents who rejected an interaction or let its offer run out: passed over for it
-- while anyone else can take it.
CREATE TABLE interaction_passes (
    interaction_id BIGINT NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
    agent_id       BIGINT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    at             BIGINT NOT NULL,
    PRIMARY KEY (interaction_id, agent_id)
);

-- Every notification for every agent, in the order they happened: CometD delivers
-- them from the agent's acknowledged position, so a reconnect or a restart of the
-- server neither loses nor repeats one.
CREATE TABLE agent_notifications (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id       BIGINT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    interaction_id BIGINT,
    data           TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE INDEX agent_notifications_by_agent ON agent_notifications (agent_id, id);
