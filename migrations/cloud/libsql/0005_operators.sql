-- Operators (tenants) own venues; hub staff belong to one operator with a
-- role (owner, admin, regional, auditor), or to none as a hub super-admin.
CREATE TABLE operators (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL
);
-- NULL: a venue of no operator, seen only by super-admins (venues made
-- before operators existed).
ALTER TABLE venues ADD COLUMN operator_id TEXT;
CREATE TABLE hub_staff (
    id TEXT PRIMARY KEY,
    operator_id TEXT,
    -- Lower case: usernames are unique whatever their case.
    username TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    -- argon2id (PHC string).
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    -- A regional manager's venues: a JSON array of venue ids.
    venues TEXT NOT NULL DEFAULT '[]',
    -- The TOTP secret (base32) once confirmed; one waiting for its first code.
    totp_secret TEXT,
    totp_pending TEXT,
    -- The last 30-second step a code was accepted for: a code works once.
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    -- Raised by a new password, a disable or a sign-out everywhere: sessions
    -- made before end.
    epoch INTEGER NOT NULL DEFAULT 0,
    disabled_ms INTEGER,
    created_ms INTEGER NOT NULL
);
CREATE TABLE staff_sessions (
    hash TEXT PRIMARY KEY,
    staff_id TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
);
