-- How far the hub has acknowledged this node's log (the pump's outbox
-- position), and how far this node has applied what the hub sent down.
CREATE TABLE sync_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    acked_seq   INTEGER NOT NULL,
    last_ack_ms INTEGER,
    -- The last PVM_DOWN stream sequence applied here (templates, announcements).
    down_seq    INTEGER NOT NULL DEFAULT 0
);
