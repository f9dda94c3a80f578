-- rollback: compatible
-- The last few players each waiting list lost to a no-show or a removal,
-- kept so staff can put them back (JSON array of {entry, place, no_show}).
ALTER TABLE waiting_lists ADD COLUMN off_list TEXT NOT NULL DEFAULT '[]';
