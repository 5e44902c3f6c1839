-- Trunks added by operators (admin UI, API): calls from these source
-- address blocks are taken without digest auth, as from the [[trunk]]
-- entries of the config file. Portable: TEXT and BIGINT only.
CREATE TABLE trunks (
    name        TEXT PRIMARY KEY,
    -- CIDR blocks, comma-separated (each checked before it is stored).
    sources     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
