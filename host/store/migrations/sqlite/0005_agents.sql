-- Agents, their ACD groups, their status per channel, their sessions and the failed
-- logins that slow down password guessing (SQLite).

CREATE TABLE agents (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    login                TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    -- Argon2id in PHC string form; the password itself is never stored.
    password_hash        TEXT NOT NULL,
    capacity_sms         INTEGER NOT NULL CHECK (capacity_sms BETWEEN 0 AND 100),
    capacity_email       INTEGER NOT NULL CHECK (capacity_email BETWEEN 0 AND 100),
    sms_delivery         TEXT NOT NULL CHECK (sms_delivery IN ('web', 'email')),
    sms_delivery_address TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

-- CASCADE both ways: deleting a group takes it out of its agents' groups, deleting an
-- agent takes them out of theirs.
CREATE TABLE agent_groups (
    agent_id  INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    acd_group INTEGER NOT NULL REFERENCES acd_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (agent_id, acd_group)
);

CREATE INDEX agent_groups_by_group ON agent_groups (acd_group, agent_id);

-- One row per agent and channel, written when the agent is created.
CREATE TABLE agent_channels (
    agent_id INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    channel  TEXT NOT NULL CHECK (channel IN ('sms', 'email')),
    state    TEXT NOT NULL CHECK (state IN ('ready', 'not_ready')),
    reason   TEXT,
    since    INTEGER NOT NULL,
    PRIMARY KEY (agent_id, channel)
);

-- Only the SHA-256 of each token: a copy of the database logs nobody in.
CREATE TABLE agent_sessions (
    token_digest TEXT PRIMARY KEY NOT NULL,
    agent_id     INTEGER NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

CREATE INDEX agent_sessions_by_agent ON agent_sessions (agent_id, expires_at);

-- Failed logins by the login tried (which need not exist), kept for the throttle's
-- window and pruned after it. In the database, so the limit holds across nodes.
CREATE TABLE agent_login_failures (
    login TEXT NOT NULL,
    at    INTEGER NOT NULL
);

CREATE INDEX agent_login_failures_by_login ON agent_login_failures (login, at);
CREATE INDEX agent_login_failures_by_time ON agent_login_failures (at);
