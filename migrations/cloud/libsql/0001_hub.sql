-- The hub's tables as the first release made them (IF NOT EXISTS: a file
-- made before migrations were numbered has them already).
CREATE TABLE IF NOT EXISTS venues (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reg_tokens (
    hash TEXT PRIMARY KEY,
    venue_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER
);
CREATE TABLE IF NOT EXISTS nodes (
    node_id TEXT PRIMARY KEY,
    venue_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    leaf_user TEXT NOT NULL,
    leaf_password TEXT NOT NULL,
    registered_ms INTEGER NOT NULL,
    head_seq INTEGER NOT NULL DEFAULT 0,
    head_hash BLOB NOT NULL DEFAULT x'0000000000000000000000000000000000000000000000000000000000000000',
    verified_seq INTEGER NOT NULL DEFAULT 0,
    last_contact_ms INTEGER,
    heartbeat TEXT,
    -- Set when `pvm-node resync` moved the venue to a new node id: this
    -- node's events are kept as they are but no longer folded.
    retired_ms INTEGER
);
CREATE TABLE IF NOT EXISTS events (
    node_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    venue_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    envelope BLOB NOT NULL,
    PRIMARY KEY (node_id, seq)
) WITHOUT ROWID;
-- A venue's events, newest first, without scanning every venue's (the admin pages).
CREATE INDEX IF NOT EXISTS events_by_venue ON events (venue_id, seq);
CREATE TABLE IF NOT EXISTS problems (
    id INTEGER PRIMARY KEY,
    node_id TEXT,
    seq INTEGER,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    last_ms INTEGER
);
