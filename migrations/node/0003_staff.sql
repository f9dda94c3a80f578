-- Staff accounts, API keys, revoked sessions and login lockouts: projections
-- of the staff events. Hashes are argon2id (passwords, PINs) or SHA-256 (API
-- key secrets, which are 256-bit random).
CREATE TABLE staff_users (
    id            TEXT    PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    enabled       INTEGER NOT NULL,
    password_hash TEXT,
    pin_hash      TEXT,
    epoch         INTEGER NOT NULL DEFAULT 0,  -- tokens of an older epoch are refused
    updated_seq   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    secret_hash  TEXT    NOT NULL,
    revoked      INTEGER NOT NULL,
    created_seq  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE revoked_sessions (
    sid         TEXT    PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    until_secs  INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE login_lockouts (
    scope     TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    until_ms  INTEGER NOT NULL,
    PRIMARY KEY (scope, subject)
) WITHOUT ROWID;
