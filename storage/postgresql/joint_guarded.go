package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/internal/finalwrite"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// guardShape is what the text of a guarded creation depends on: the numbers of ancestors,
// of bindings (0: no permission check) and of principals.
type guardShape struct{ ancestors, bindings, principals int }

// guardedSQLs caches the statements of CreateGuarded by guardShape.
var guardedSQLs sync.Map

// maxGuarded bounds each count of a guardShape, so that the statements stay few.
const maxGuarded = 16

// guardedSQL returns the common create with ACEs (jointCreate(createFast.full)) preceded by
// a guard, a step that checks, in the
// statement's snapshot, that each ancestor is live at its version and that the user holds
// one of the bindings; the collection's clock is bumped, and anything written, only when
// the guard holds. The statement returns one row: the guard's answer, then the created
// object's timestamp and data (NULL when nothing was written though the guard held: no
// clock row yet). Parameters after the joint create's seven:
// each ancestor's resource, parent, id and version; each binding's object and permission;
// the principals; the user and Authenticated (whose groups count).
func guardedSQL(shape guardShape) string {
	if sql, ok := guardedSQLs.Load(shape); ok {
		return sql.(string)
	}
	n := 7
	param := func(cast string) string {
		n++
		return "$" + strconv.Itoa(n) + "::" + cast
	}
	var conds []string
	for range shape.ancestors {
		conds = append(conds, fmt.Sprintf(`EXISTS (SELECT 1 FROM objects WHERE resource_name = %s AND parent_id = %s
		AND id = %s AND last_modified = %s AND NOT deleted)`, param("text"), param("text"), param("text"), param("bigint")))
	}
	if shape.bindings > 0 {
		pairs := make([]string, shape.bindings)
		for i := range pairs {
			pairs[i] = "(" + param("text") + ", " + param("text") + ")"
		}
		principals := make([]string, shape.principals)
		for i := range principals {
			principals[i] = param("text")
		}
		held := "a.principal IN (SELECT principal FROM user_principals WHERE user_id IN (" + param("text") + ", " + param("text") + "))"
		if len(principals) > 0 {
			held = "a.principal IN (" + strings.Join(principals, ", ") + ") OR " + held
		}
		conds = append(conds, `EXISTS (SELECT 1 FROM access_control_entries a
		WHERE (a.object_id, a.permission) IN (`+strings.Join(pairs, ", ")+`) AND (`+held+`))`)
	}
	if len(conds) == 0 {
		conds = []string{"TRUE"}
	}
	create := jointCreate(createFast.full)
	for _, part := range []string{"WITH clock AS (", "WHERE t.resource_name = $1 AND t.parent_id = $2 AND $4::bigint = 0", "\nSELECT last_modified, raw FROM w"} {
		if !strings.Contains(create, part) {
			panic("storage/postgresql: the common create changed shape; guardedSQL cannot find " + strconv.Quote(part))
		}
	}
	// The guard is the statement's first step; the clock is bumped only when it holds.
	create = strings.Replace(create, "WITH clock AS (", "WITH guard AS (\n\tSELECT "+strings.Join(conds, "\n\tAND ")+" AS ok),\nclock AS (", 1)
	create = strings.Replace(create, "WHERE t.resource_name = $1 AND t.parent_id = $2 AND $4::bigint = 0",
		"WHERE (SELECT ok FROM guard) AND t.resource_name = $1 AND t.parent_id = $2 AND $4::bigint = 0", 1)
	create = strings.Replace(create, "\nSELECT last_modified, raw FROM w", "\nSELECT g.ok::text, w.last_modified::text, w.raw FROM guard AS g LEFT JOIN w ON TRUE", 1)
	sql, _ := guardedSQLs.LoadOrStore(shape, create)
	return sql.(string)
}

// CreateGuarded is CreateWithACEs preceded, in the same statement, by checks: that each
// ancestor of the new object is live at keys[i] with the timestamp versions[i], and, when
// hold has bindings, that the user holds one of them (see permission.HoldQuery). It serves
// a creation whose authorization the caller decided on data it read earlier (the
// ancestors it saw, their JSON schema), which the statement checks again at its own
// snapshot, so that the read and the write cost one round trip. It fails with storage.ErrModified, writing
// nothing, when an ancestor is gone or has changed, or when the user holds none of the
// bindings: the caller then authorizes and creates the usual way. It returns
// storage.ErrNotSupported, doing nothing, when it cannot run the statement (see
// CreateWithACEs; a forced timestamp; shapes beyond its bounds; the collection's first
// object; an id already live).
func (b *Backend) CreateGuarded(ctx context.Context, s storage.Scope, o storage.Object, perms permission.Backend, objectID string, aces permission.Set, keys []storage.Key, versions []int64, hold permission.HoldQuery) (created storage.Object, err error) {
	shape := guardShape{ancestors: len(keys), bindings: len(hold.Bindings), principals: len(hold.Principals)}
	if o.ID == "" || o.LastModified != 0 || len(versions) != shape.ancestors || shape.ancestors > maxGuarded ||
		shape.bindings > maxGuarded || shape.principals > maxGuarded || b.jointBackend(perms) == nil || !storable(objectID) ||
		!storable(s.Resource) || !storable(s.Parent) || !storable(o.ID) {
		return storage.Object{}, storage.ErrNotSupported
	}
	pairs, ok := acePairs(aces)
	if !ok {
		return storage.Object{}, storage.ErrNotSupported
	}
	data, echo, err := writeData(o.Data)
	if err != nil {
		return storage.Object{}, err
	}
	args := []any{s.Resource, s.Parent, o.ID, int64(0), data, objectID, pairs}
	for i, k := range keys {
		if !storable(k.Scope.Resource) || !storable(k.Scope.Parent) || !storable(k.ID) {
			return storage.Object{}, storage.ErrNotSupported
		}
		args = append(args, k.Scope.Resource, k.Scope.Parent, k.ID, versions[i])
	}
	if shape.bindings > 0 {
		for _, bd := range hold.Bindings {
			args = append(args, bd.ObjectID, bd.Permission)
		}
		for _, p := range hold.Principals {
			args = append(args, p)
		}
		var user, authenticated any // NULLs: no groups
		if hold.UserID != "" {
			user, authenticated = hold.UserID, permission.Authenticated
		}
		args = append(args, user, authenticated)
	}
	for _, a := range args {
		if s, isStr := a.(string); isStr && !storable(s) {
			return storage.Object{}, storage.ErrNotSupported
		}
	}
	var (
		guard, lm string // text: what the write pipeline scans
		stored    []byte
		found     bool
	)
	sql := guardedSQL(shape)
	err = b.runRow(finalwrite.Mark(ctx), "create", func(q rowQuerier) error {
		if _, inTx := q.(pgx.Tx); inTx {
			return nil // a failure would abort the unit's transaction: declined
		}
		var ts []byte // NULL when nothing was written
		err := q.QueryRow(ctx, sql, args...).Scan(&guard, &ts, &stored)
		if errors.Is(err, pgx.ErrNoRows) || uniqueViolation(err) {
			return nil // declined: the id is taken (the plain INSERT failed, nothing written)
		}
		found, lm = err == nil, string(ts)
		return err
	})
	switch {
	case err != nil:
		return storage.Object{}, err
	case !found:
		return storage.Object{}, storage.ErrNotSupported
	case guard != "true":
		return storage.Object{}, storage.ErrModified
	case lm == "":
		return storage.Object{}, storage.ErrNotSupported // no clock row yet, or the id is live
	}
	ts, err := strconv.ParseInt(lm, 10, 64)
	if err != nil {
		return storage.Object{}, err
	}
	out := storage.Object{ID: o.ID, LastModified: ts, Data: stored}
	if echo != nil {
		out.Data = echo
	}
	return out, nil
}

// acePairs returns aces as the JSON array of [permission, principal] pairs the joint
// creations take; ok is false for ACEs that cannot be stored (an empty or unstorable string).
func acePairs(aces permission.Set) (string, bool) {
	var pairs [][2]string
	for perm, ps := range aces {
		for _, p := range ps {
			if perm == "" || p == "" || !storable(perm) || !storable(p) {
				return "", false
			}
			pairs = append(pairs, [2]string{perm, p})
		}
	}
	out, err := json.Marshal(pairs)
	return string(out), err == nil
}
