-- Portable between SQLite and PostgreSQL: TEXT and BIGINT only.
CREATE TABLE users (
    name        TEXT PRIMARY KEY,
    realm       TEXT NOT NULL,
    ha1_md5     TEXT NOT NULL,
    ha1_sha256  TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE locations (
    aor         TEXT NOT NULL,
    contact     TEXT NOT NULL,
    q           BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    call_id     TEXT NOT NULL,
    cseq        BIGINT NOT NULL,
    received    TEXT,
    user_agent  TEXT,
    PRIMARY KEY (aor, contact)
);

CREATE INDEX locations_expires ON locations (expires_at);

-- Counters other processes bump so the server knows to reload (users_version).
CREATE TABLE meta (
    key    TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);

INSERT INTO meta (key, value) VALUES ('users_version', 0);
