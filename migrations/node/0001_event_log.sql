-- The event log: the truth. One row per envelope, in seq order.
-- `envelope` holds the exact bytes that were hashed and signed; the other
-- columns copy header fields for queries. Deliberately no secondary index:
-- every index page an append touches is written and fsynced per commit.
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY,
    id       TEXT    NOT NULL,
    kind     TEXT    NOT NULL,
    hlc_ms   INTEGER NOT NULL,
    hlc_ctr  INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    envelope BLOB    NOT NULL
);
