-- Meeting ids callers type in the IVR (dialplan action "ivr"), and the room
-- each leads to. Portable between SQLite and PostgreSQL: TEXT and BIGINT only.
CREATE TABLE meetings (
    id             TEXT PRIMARY KEY,
    room           TEXT NOT NULL,
    pin            TEXT,
    moderator_pin  TEXT,
    created_at     BIGINT NOT NULL
);

CREATE INDEX meetings_room ON meetings (room);
