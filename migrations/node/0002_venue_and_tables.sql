-- Projections of venue and table events. Rebuilt from the log if ever needed.
CREATE TABLE venue_settings (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    settings     TEXT    NOT NULL,  -- VenueSettings as JSON
    updated_seq  INTEGER NOT NULL
);

CREATE TABLE poker_tables (
    id           TEXT    PRIMARY KEY,
    name         TEXT    NOT NULL,
    game         TEXT    NOT NULL,
    small_blind  INTEGER NOT NULL,
    big_blind    INTEGER NOT NULL,
    seats        INTEGER NOT NULL,
    status       TEXT    NOT NULL,
    created_seq  INTEGER NOT NULL,
    updated_seq  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX poker_tables_name ON poker_tables (lower(name));
