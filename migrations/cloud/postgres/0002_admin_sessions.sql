-- Admin sign-ins, kept across restarts and shared by every pvm-cloud
-- process: the SHA-256 (hex) of the cookie's secret, never the secret, and
-- a fingerprint of the admin key it was made with (a new key ends them).
CREATE TABLE admin_sessions (
    hash TEXT PRIMARY KEY,
    admin_key TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
