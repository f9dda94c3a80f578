-- Set when an admin revokes a node (a stolen or retired box): its leaf user
-- is gone from the hub's nats-server, it may not resync or upload, and its
-- events stay as they are (still folded: the venue's history is kept).
ALTER TABLE nodes ADD COLUMN revoked_ms BIGINT;
