-- rollback: compatible
-- An API key lives only as long as its user's credentials: it carries the
-- user's credential epoch at the time it was made and is refused once the
-- password or PIN changes or the account is disabled. Keys made before this
-- migration take their user's current epoch.
ALTER TABLE api_keys ADD COLUMN epoch INTEGER NOT NULL DEFAULT 0;
UPDATE api_keys SET epoch = coalesce((SELECT epoch FROM staff_users WHERE staff_users.id = api_keys.user_id), 0);
