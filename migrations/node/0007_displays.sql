-- What staff decided about the wall displays (devices, groups, announcements,
-- slides, theme), as one JSON row rewritten after each batch that changed it.
CREATE TABLE display_state (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL
);
