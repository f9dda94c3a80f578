-- The hub's tables on PostgreSQL: the same rows as the libSQL file's, with
-- native types (uuid, bigint, bytea).
CREATE TABLE venues (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE reg_tokens (
    hash TEXT PRIMARY KEY,
    venue_id UUID NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT
);
CREATE TABLE nodes (
    node_id UUID PRIMARY KEY,
    venue_id UUID NOT NULL,
    public_key TEXT NOT NULL,
    leaf_user TEXT NOT NULL,
    leaf_password TEXT NOT NULL,
    registered_ms BIGINT NOT NULL,
    head_seq BIGINT NOT NULL DEFAULT 0,
    head_hash BYTEA NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    verified_seq BIGINT NOT NULL DEFAULT 0,
    last_contact_ms BIGINT,
    heartbeat TEXT,
    -- Set when `pvm-node resync` moved the venue to a new node id: this
    -- node's events are kept as they are but no longer folded.
    retired_ms BIGINT
);
-- One live node per venue, whichever process registers it.
CREATE UNIQUE INDEX nodes_one_live_per_venue ON nodes (venue_id) WHERE retired_ms IS NULL;
CREATE TABLE events (
    node_id UUID NOT NULL,
    seq BIGINT NOT NULL,
    venue_id UUID NOT NULL,
    kind TEXT NOT NULL,
    envelope BYTEA NOT NULL,
    PRIMARY KEY (node_id, seq)
);
-- A venue's events, newest first, without scanning every venue's (the admin pages).
CREATE INDEX events_by_venue ON events (venue_id, seq);
CREATE TABLE problems (
    id BIGSERIAL PRIMARY KEY,
    node_id UUID,
    seq BIGINT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    count BIGINT NOT NULL DEFAULT 1,
    last_ms BIGINT
);
-- One row per node and kind (node-less problems share one per kind).
CREATE UNIQUE INDEX problems_one_per_node_kind ON problems (node_id, kind) NULLS NOT DISTINCT;
