-- Permission backend schema, version 2 (the same tables as kinto.core's permission backend).
-- Applied by Backend.InitializeSchema on an empty database, before the migrations from version
-- 2 on (migrations/); idempotent.

CREATE TABLE IF NOT EXISTS user_principals (
    user_id   TEXT COLLATE "C" NOT NULL,
    principal TEXT NOT NULL,

    PRIMARY KEY (user_id, principal)
);
-- RemovePrincipal looks rows up by principal.
CREATE INDEX IF NOT EXISTS idx_user_principals_principal
    ON user_principals(principal);

CREATE TABLE IF NOT EXISTS access_control_entries (
    object_id  TEXT COLLATE "C" NOT NULL,
    permission TEXT NOT NULL,
    principal  TEXT NOT NULL,

    PRIMARY KEY (object_id, permission, principal)
);
-- The primary key serves exact and prefix (LIKE 'abc%', "C" collation) object id lookups;
-- AccessibleObjects starts from the principals.
CREATE INDEX IF NOT EXISTS idx_access_control_entries_principal_permission
    ON access_control_entries(principal, permission, object_id);

-- Shared with the storage backend when both use one database (as in kinto).
CREATE TABLE IF NOT EXISTS metadata (
    name  VARCHAR(128) NOT NULL,
    value VARCHAR(512) NOT NULL
);
INSERT INTO metadata (name, value) VALUES ('permission_schema_version', '2');
