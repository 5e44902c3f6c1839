-- Trunks added by operators may register to a provider too (as the config
-- file's `[[trunk]] registrar` entries do). The password is never stored:
-- only H(username:realm:password) for MD5 and for SHA-256 (RFC 7616), which
-- answer that realm's challenges. NULL registrar: a trunk by source only.
ALTER TABLE trunks ADD COLUMN registrar TEXT;
ALTER TABLE trunks ADD COLUMN domain TEXT;
ALTER TABLE trunks ADD COLUMN username TEXT;
ALTER TABLE trunks ADD COLUMN realm TEXT;
ALTER TABLE trunks ADD COLUMN ha1 TEXT;
ALTER TABLE trunks ADD COLUMN ha1_sha256 TEXT;
ALTER TABLE trunks ADD COLUMN proxy TEXT;
ALTER TABLE trunks ADD COLUMN expires BIGINT;
