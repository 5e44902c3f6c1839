-- API tokens for scripts and the admin JSON API (/api/v1). Only the SHA-256
-- of a token is kept; the token itself is shown once, when it is made.
-- Portable between SQLite and PostgreSQL: TEXT and BIGINT only.
CREATE TABLE api_tokens (
    name          TEXT PRIMARY KEY,
    token_sha256  TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
