-- rollback: compatible
-- The operator's hub accounts that may log in at this node (roaming staff):
-- the last list the hub sent, whole, as JSON (one row).
CREATE TABLE hub_staff (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    issued_ms INTEGER NOT NULL,
    accounts TEXT NOT NULL,
    updated_seq INTEGER NOT NULL
);
