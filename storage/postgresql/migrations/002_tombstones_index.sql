-- 002: a partial index over tombstones, for PurgeDeleted and tombstone-only scans.
CREATE INDEX objects_tombstones_idx
    ON objects (resource_name, parent_id, last_modified)
    WHERE deleted;
