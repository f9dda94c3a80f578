-- One action sent to many venues (a template, an announcement, an update):
-- who sent what, and each venue's message (its delivery state is what the
-- venue's node reports back, in the hub's fold of its events).
CREATE TABLE actions (
    id TEXT PRIMARY KEY,
    -- NULL: sent by a super-admin to venues of no operator or of several.
    operator_id TEXT,
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    -- The staff account that sent it; NULL for the admin key.
    sent_by TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX actions_by_operator ON actions (operator_id, created_ms);
CREATE TABLE action_deliveries (
    action_id TEXT NOT NULL,
    venue_id TEXT NOT NULL,
    -- The signed message sent; NULL when it could not be sent (see error).
    message_id TEXT,
    error TEXT,
    PRIMARY KEY (action_id, venue_id)
);
