-- Operators (tenants) own venues; hub staff belong to one operator with a
-- role (owner, admin, regional, auditor), or to none as a hub super-admin.
CREATE TABLE operators (
    id UUID PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);
-- NULL: a venue of no operator, seen only by super-admins (venues made
-- before operators existed).
ALTER TABLE venues ADD COLUMN operator_id UUID;
CREATE TABLE hub_staff (
    id UUID PRIMARY KEY,
    operator_id UUID,
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
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    -- Raised by a new password, a disable or a sign-out everywhere: sessions
    -- made before end.
    epoch BIGINT NOT NULL DEFAULT 0,
    disabled_ms BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE TABLE staff_sessions (
    hash TEXT PRIMARY KEY,
    staff_id UUID NOT NULL,
    epoch BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
