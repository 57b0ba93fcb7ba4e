-- 005: the data of each object as its writer sent it (compact JSON text, protocol fields
-- removed), beside the jsonb column that filters and sorts use. jsonb reorders an object's
-- keys (shortest first); reads return this text instead, so that a client gets its keys back
-- in its own order (Kinto's web admin builds its forms from a JSON schema's key order).
-- Objects written before this migration have none: reads render their jsonb.
ALTER TABLE objects ADD COLUMN IF NOT EXISTS raw TEXT;
