-- 004: two columns on each collection's clock row, both moved by the statements that hold
-- its lock:
--   live     the number of live objects (creates +1, deletions -1, a tombstone brought back
--            +1), so that an unfiltered count reads one row instead of scanning;
--   horizon  the newest timestamp of a tombstone purged from the collection (0: none), below
--            which a _since delta would miss deletions.
-- Adding a column with a constant default does not rewrite the table. The writers are kept
-- out while the existing objects are counted (EXCLUSIVE mode lets readers through), so the
-- counters start exact; a collection whose objects have no clock row gets one.
ALTER TABLE timestamps
    ADD COLUMN live BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN horizon BIGINT NOT NULL DEFAULT 0;

LOCK TABLE timestamps, objects IN EXCLUSIVE MODE;

INSERT INTO timestamps AS t (resource_name, parent_id, last_modified, live)
SELECT resource_name, parent_id, max(last_modified), count(*) FILTER (WHERE NOT deleted)
FROM objects
GROUP BY resource_name, parent_id
ON CONFLICT (resource_name, parent_id) DO UPDATE SET live = EXCLUDED.live;
