-- 001: objects (live and tombstones), per-collection clocks, schema metadata.
CREATE TABLE IF NOT EXISTS metadata (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE objects (
    resource_name TEXT COLLATE "C" NOT NULL,
    parent_id     TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    last_modified BIGINT NOT NULL,
    deleted       BOOLEAN NOT NULL DEFAULT FALSE,
    data          JSONB,
    PRIMARY KEY (resource_name, parent_id, id)
);

-- Timestamps are unique per collection; this index also serves _since polling, the default
-- -last_modified order and keyset pages on last_modified.
CREATE UNIQUE INDEX objects_resource_parent_last_modified_idx
    ON objects (resource_name, parent_id, last_modified DESC);

-- The collection clock: one row per (resource, parent), locked by every write until commit.
CREATE TABLE timestamps (
    resource_name TEXT COLLATE "C" NOT NULL,
    parent_id     TEXT COLLATE "C" NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (resource_name, parent_id)
);
