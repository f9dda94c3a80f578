-- Cash games and the player directory: projections of the cash and player
-- events, written from the writer's state after each commit.
ALTER TABLE poker_tables ADD COLUMN must_move INTEGER NOT NULL DEFAULT 0;

CREATE TABLE players (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    nickname  TEXT,
    phone     TEXT,
    email     TEXT,
    notes     TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE cash_policy (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    policy  TEXT NOT NULL            -- CashPolicy as JSON
);

CREATE TABLE waiting_lists (
    id          TEXT    PRIMARY KEY,
    game        TEXT    NOT NULL,
    small_blind INTEGER NOT NULL,
    big_blind   INTEGER NOT NULL,
    queue       TEXT    NOT NULL,    -- entry ids in call order, JSON array
    seatings    TEXT    NOT NULL     -- recent seating times (ms), JSON array
) WITHOUT ROWID;

CREATE TABLE wait_entries (
    id             TEXT    PRIMARY KEY,
    list_id        TEXT    NOT NULL,
    player_id      TEXT    NOT NULL,
    joined_ms      INTEGER NOT NULL,
    call_number    INTEGER,
    called_ms      INTEGER,
    deadline_ms    INTEGER,
    calls_made     INTEGER NOT NULL,
    call_in_until  INTEGER,
    arrived        INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE seats (
    table_id    TEXT    NOT NULL,
    seat        INTEGER NOT NULL,
    player_id   TEXT    NOT NULL,
    since_ms    INTEGER NOT NULL,
    away_since  INTEGER,
    PRIMARY KEY (table_id, seat)
) WITHOUT ROWID;

CREATE TABLE seat_changes (
    id         TEXT    PRIMARY KEY,
    player_id  TEXT    NOT NULL,
    table_id   TEXT    NOT NULL,
    wants      TEXT,
    at_ms      INTEGER NOT NULL
) WITHOUT ROWID;
