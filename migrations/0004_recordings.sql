-- Recordings as jobs (the recorder worker). One row per recording of a room:
-- who started it, its state (pending, recording, finalizing, done, failed)
-- with the reason for a failure or for how it ended, the worker that holds it
-- and that worker's last heartbeat, the files written (a JSON list of names in
-- [recorder] dir), the duration and the size. Times are Unix milliseconds.
-- Portable between SQLite and PostgreSQL: TEXT and BIGINT only.
CREATE TABLE recordings (
    id            TEXT PRIMARY KEY,
    room          TEXT NOT NULL,
    started_by    TEXT NOT NULL,
    state         TEXT NOT NULL,
    reason        TEXT,
    tracks        BIGINT NOT NULL,
    worker        TEXT,
    heartbeat_at  BIGINT,
    files         TEXT NOT NULL,
    duration_ms   BIGINT NOT NULL,
    size_bytes    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    started_at    BIGINT,
    ended_at      BIGINT
);

CREATE INDEX recordings_state ON recordings (state);
CREATE INDEX recordings_room ON recordings (room);
