-- The server's first tables: host-wide settings and ACD groups (SQLite).
-- Timestamps are integer milliseconds since the Unix epoch on both backends.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE acd_groups (
    -- AUTOINCREMENT: ids of deleted groups are never handed out again, so an old id in
    -- a log or a script cannot silently point at a different group.
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
