-- A row per tournament entry, so a bust-out rewrites one row instead of the
-- whole field; the tournament row keeps the rest of its state as JSON.
CREATE TABLE tournament_entries (
    tournament_id TEXT NOT NULL,
    bullet_id     TEXT NOT NULL,
    player_id     TEXT NOT NULL,
    reentry       INTEGER NOT NULL,
    table_no      INTEGER,
    seat_no       INTEGER,
    busted        INTEGER NOT NULL,
    -- 1 for the first player out; places follow from it and the field size.
    bust_index    INTEGER,
    left_table    INTEGER,
    left_seat     INTEGER,
    rebuys        INTEGER NOT NULL,
    addons        INTEGER NOT NULL,
    -- A counted stack: bagged at the end of a flight, carried into Day 2.
    chips         INTEGER,
    PRIMARY KEY (tournament_id, bullet_id)
) WITHOUT ROWID;

-- Structures staff saved as templates, by lower-case name.
CREATE TABLE tournament_templates (
    name_key  TEXT PRIMARY KEY,
    structure TEXT NOT NULL
) WITHOUT ROWID;

-- Move the entries of existing tournaments out of their state JSON.
INSERT INTO tournament_entries
SELECT t.id, b.key,
       json_extract(b.value, '$.player_id'),
       json_extract(b.value, '$.reentry'),
       json_extract(b.value, '$.seat[0]'),
       json_extract(b.value, '$.seat[1]'),
       json_extract(b.value, '$.busted'),
       (SELECT o.key + 1 FROM json_each(t.state, '$.bust_order') AS o WHERE o.value = b.key),
       json_extract(b.value, '$.left_seat[0]'),
       json_extract(b.value, '$.left_seat[1]'),
       json_extract(b.value, '$.rebuys'),
       json_extract(b.value, '$.addons'),
       json_extract(b.value, '$.chips')
FROM tournaments AS t, json_each(t.state, '$.bullets') AS b;

UPDATE tournaments SET state = json_remove(state, '$.bullets', '$.bust_order');
