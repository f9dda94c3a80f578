-- rollback: compatible
-- One row the writer rewrites when /ready asks whether writes work again
-- after a failed commit (a full disk): a real commit, nothing else reads it.
CREATE TABLE write_probe (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    at_ms INTEGER NOT NULL
);
