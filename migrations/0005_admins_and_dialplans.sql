-- Admin accounts for the web UI (/admin) and their login sessions, and the
-- dialplan's version history. Portable between SQLite and PostgreSQL: TEXT
-- and BIGINT only. (0004 is taken by the recorder's migration.)

-- password_hash is an argon2id PHC string; role is 'admin' or 'viewer'.
CREATE TABLE admins (
    name           TEXT PRIMARY KEY,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);

-- Only the SHA-256 of a session cookie is kept. csrf is the token every
-- form and every changing API call of that session must carry.
CREATE TABLE admin_sessions (
    token_sha256  TEXT PRIMARY KEY,
    admin         TEXT NOT NULL,
    csrf          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

CREATE INDEX admin_sessions_admin ON admin_sessions (admin);

-- Every saved dialplan, newest last. The running plan is the row with the
-- highest id of its name; a rollback saves an old text again as a new row.
-- id is handed out by the application (max + 1, unique), which both
-- backends support without an autoincrement dialect.
CREATE TABLE dialplan_versions (
    id          BIGINT PRIMARY KEY,
    name        TEXT NOT NULL,
    toml        TEXT NOT NULL,
    author      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    comment     TEXT NOT NULL
);

CREATE INDEX dialplan_versions_name ON dialplan_versions (name, id);
