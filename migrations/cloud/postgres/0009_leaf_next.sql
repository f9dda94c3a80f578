-- A venue's next leaf credentials while a rotation is under way: the node
-- took them (asked with its key) and links with them; both users are in the
-- hub's users file until the node says the new one works, then the new one
-- replaces the old.
ALTER TABLE nodes ADD COLUMN leaf_user_next TEXT;
ALTER TABLE nodes ADD COLUMN leaf_hash_next TEXT;
-- The node clock of the last take it signed: a request no later is a replay.
ALTER TABLE nodes ADD COLUMN leaf_take_ms BIGINT;
