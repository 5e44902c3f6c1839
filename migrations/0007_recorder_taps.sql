-- Recorder workers in their own process (`dialroom recorder`): a pending
-- recording carries where its media tap is served (a WebSocket URL on the
-- server's web port) and the one-time key that opens it. A worker claims the
-- row (sets `worker`), connects, and the server hands it the room's frames.
ALTER TABLE recordings ADD COLUMN tap_url TEXT;
ALTER TABLE recordings ADD COLUMN tap_key TEXT;
