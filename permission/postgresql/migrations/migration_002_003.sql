-- Version 3: membership versions, so that a web head may keep a user's groups between
-- requests and check, inside each authorization statement, that they have not changed.
--
-- user_principals_versions holds, per user id, a number that every change to that user's
-- rows in user_principals replaces, in the same transaction (triggers, so that no writer
-- can forget it). A user id without a row is at version 0. The numbers come from a
-- sequence, which never gives one twice, even to a transaction that rolls back: groups read
-- at a version (even inside a transaction that was then rolled back) are never taken for
-- the groups of another state at the same number. Rows are never deleted.
CREATE SEQUENCE IF NOT EXISTS user_principals_version_seq;
CREATE TABLE IF NOT EXISTS user_principals_versions (
    user_id TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL
);

-- The changed user ids come from the statement's transition table, sorted, so that two
-- statements changing the memberships of the same users take their version rows' locks in
-- the same order.
CREATE OR REPLACE FUNCTION bump_user_principals_versions() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        UPDATE user_principals_versions SET version = nextval('user_principals_version_seq');
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO user_principals_versions (user_id, version)
        SELECT user_id, nextval('user_principals_version_seq')
          FROM (SELECT user_id FROM changed UNION SELECT user_id FROM changed_before ORDER BY user_id) AS u
        ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version;
    ELSE
        INSERT INTO user_principals_versions (user_id, version)
        SELECT user_id, nextval('user_principals_version_seq')
          FROM (SELECT DISTINCT user_id FROM changed ORDER BY user_id) AS u
        ON CONFLICT (user_id) DO UPDATE SET version = EXCLUDED.version;
    END IF;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS user_principals_versions_insert ON user_principals;
CREATE TRIGGER user_principals_versions_insert AFTER INSERT ON user_principals
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_user_principals_versions();
DROP TRIGGER IF EXISTS user_principals_versions_delete ON user_principals;
CREATE TRIGGER user_principals_versions_delete AFTER DELETE ON user_principals
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION bump_user_principals_versions();
DROP TRIGGER IF EXISTS user_principals_versions_update ON user_principals;
CREATE TRIGGER user_principals_versions_update AFTER UPDATE ON user_principals
    REFERENCING NEW TABLE AS changed OLD TABLE AS changed_before
    FOR EACH STATEMENT EXECUTE FUNCTION bump_user_principals_versions();
DROP TRIGGER IF EXISTS user_principals_versions_truncate ON user_principals;
CREATE TRIGGER user_principals_versions_truncate AFTER TRUNCATE ON user_principals
    FOR EACH STATEMENT EXECUTE FUNCTION bump_user_principals_versions();

UPDATE metadata SET value = '3' WHERE name = 'permission_schema_version';
