package postgresql

import (
	"context"
	"strings"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// jointCreate turns a create statement ("WITH clock AS (...), w AS (INSERT INTO objects
// ...) ... SELECT last_modified, raw FROM w", see writeStatement) into one that also
// inserts the new object's ACEs into the permission tables of the same database, when, and
// only when, the object is written: the ACEs are $6 (the object's URI) and $7, a JSON array
// of [permission, principal] pairs (text, which the write pipeline can send, unlike arrays).
func jointCreate(create string) string {
	i := strings.LastIndex(create, "\nSELECT ")
	return create[:i] + `,
aces AS (
	INSERT INTO access_control_entries (object_id, permission, principal)
	SELECT $6::text, e->>0, e->>1 FROM jsonb_array_elements($7::text::jsonb) AS e
	WHERE EXISTS (SELECT 1 FROM w)
	ON CONFLICT DO NOTHING)` + create[i:]
}

// jointForms are the create statements of CreateWithACEs, full texts only (jointCreate).
var jointForms = createStatements{
	fast:    writeSQL{full: jointCreate(createFast.full)},
	now:     writeSQL{full: jointCreate(createNow.full)},
	general: writeForms{writeSQL{full: jointCreate(createForms.auto.full)}, writeSQL{full: jointCreate(createForms.locked.full)}},
}

// CreateWithACEs is [Backend.Create] that also gives the new object, whose URI is
// objectID, the ACEs of aces, in the same statement (one round trip, one transaction: both
// are written or neither), when perms is, under its decorators, a PostgreSQL permission
// backend on this backend's database (see GetManyAccess). The object's ACL must be empty
// beforehand: the ACEs are added, not replaced. It returns storage.ErrNotSupported, doing
// nothing, for another permission backend, or for ACEs that cannot be stored (an empty or
// unstorable string); the caller then writes the two separately.
func (b *Backend) CreateWithACEs(ctx context.Context, s storage.Scope, o storage.Object, perms permission.Backend, objectID string, aces permission.Set) (storage.Object, error) {
	if b.jointBackend(perms) == nil || objectID == "" || !storable(objectID) {
		return storage.Object{}, storage.ErrNotSupported
	}
	acesJSON, ok := acePairs(aces)
	if !ok {
		return storage.Object{}, storage.ErrNotSupported
	}
	st := jointForms
	st.extra = []any{objectID, acesJSON}
	out, err := b.create(ctx, s, o, st)
	if err != nil {
		return storage.Object{}, err
	}
	return out, nil
}
