-- Tournaments: one row per tournament holding its whole state as JSON,
-- rewritten from the writer's state after each batch that touched it.
CREATE TABLE tournaments (
    id     TEXT PRIMARY KEY,
    name   TEXT NOT NULL,
    status TEXT NOT NULL,
    state  TEXT NOT NULL
) WITHOUT ROWID;
