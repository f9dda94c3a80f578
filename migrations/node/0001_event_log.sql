-- The event log: the truth. One row per envelope, in seq order.
-- `envelope` holds the exact bytes that were hashed and signed.
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY,
    id       TEXT    NOT NULL UNIQUE,
    kind     TEXT    NOT NULL,
    hlc_ms   INTEGER NOT NULL,
    hlc_ctr  INTEGER NOT NULL,
    actor    TEXT    NOT NULL,
    envelope BLOB    NOT NULL
);
