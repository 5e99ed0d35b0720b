-- The server's first tables: host-wide settings and ACD groups (PostgreSQL).
-- Timestamps are integer milliseconds since the Unix epoch on both backends.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE acd_groups (
    -- An identity never reuses the ids of deleted groups, like SQLite's AUTOINCREMENT.
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
