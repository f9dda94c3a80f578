-- A venue's events are found through its nodes (one live node per venue):
-- the primary key (node_id, seq) serves every read, and the second index on
-- (venue_id, seq) only cost each stored event another index entry.
DROP INDEX IF EXISTS events_by_venue;
