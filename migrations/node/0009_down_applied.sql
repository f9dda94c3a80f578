-- rollback: compatible
-- The hub's messages applied here, by their signed id: a message sent again
-- (a replay, or a re-created PVM_DOWN stream whose sequences start over) is
-- recognised by its id, not by a stream sequence. The newest 10,000 are kept;
-- a message issued before the oldest kept one is refused as too old.
CREATE TABLE down_applied (
    id         TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    issued_ms  INTEGER NOT NULL,
    applied_ms INTEGER NOT NULL
);
CREATE INDEX down_applied_by_issue ON down_applied (issued_ms);
