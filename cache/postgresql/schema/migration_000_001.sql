-- From kinto.core's cache table (key VARCHAR(256), value TEXT holding JSON, ttl TIMESTAMP
-- without time zone, and the sec2ttl() helper) to version 1. Cached values are disposable
-- and kinto's JSON text cannot be told apart from raw bytes, so the old table is dropped.
DROP TABLE IF EXISTS cache;
DROP FUNCTION IF EXISTS sec2ttl(FLOAT);
CREATE TABLE cache (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL,
    ttl   TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_cache_ttl ON cache (ttl);

CREATE TABLE IF NOT EXISTS cache_metadata (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO cache_metadata (name, value) VALUES ('cache_schema_version', '1')
    ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value;
