-- Version 1 is kinto's first permission schema: the two tables, no metadata row.
CREATE TABLE IF NOT EXISTS metadata (
    name  VARCHAR(128) NOT NULL,
    value VARCHAR(512) NOT NULL
);

ALTER TABLE user_principals
    ALTER COLUMN user_id TYPE TEXT COLLATE "C";
ALTER TABLE access_control_entries
    ALTER COLUMN object_id TYPE TEXT COLLATE "C";

CREATE INDEX IF NOT EXISTS idx_user_principals_principal
    ON user_principals(principal);
CREATE INDEX IF NOT EXISTS idx_access_control_entries_principal_permission
    ON access_control_entries(principal, permission, object_id);

INSERT INTO metadata (name, value) VALUES ('permission_schema_version', '2');
