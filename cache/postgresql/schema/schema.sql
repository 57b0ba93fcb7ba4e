-- Cache schema, version 1 (the current version: keep CurrentSchemaVersion in step).
-- Applied by Backend.InitializeSchema ("migrate"), or by hand by a DBA.
CREATE TABLE IF NOT EXISTS cache (
    key   TEXT COLLATE "C" PRIMARY KEY, -- the prefixed key; "C" so that LIKE 'prefix%' uses the index
    value BYTEA NOT NULL,
    ttl   TIMESTAMPTZ NOT NULL          -- expiry instant; rows with ttl <= now() are expired
);
CREATE INDEX IF NOT EXISTS idx_cache_ttl ON cache (ttl);

CREATE TABLE IF NOT EXISTS cache_metadata (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO cache_metadata (name, value) VALUES ('cache_schema_version', '1')
    ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;
