-- How far the hub has acknowledged this node's log (the pump's outbox position).
CREATE TABLE sync_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    acked_seq   INTEGER NOT NULL,
    last_ack_ms INTEGER
);
