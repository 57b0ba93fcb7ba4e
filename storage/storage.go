// Package storage defines the contract of cliquet's record storage backends.
//
// A backend stores JSON objects in collections addressed by a [Scope] (resource name and
// parent id). Each collection has a timestamp, in epoch milliseconds, that strictly increases
// with every write, and keeps tombstones of deleted objects so that clients can synchronise
// with _since. Implementations live in sub-packages (memory, postgresql, redis) and register
// themselves by name with [Register]; package storagetest is the conformance suite every
// backend passes.
//
// # Optional capabilities and decorators
//
// Every method of [Backend] is part of the contract, so that a decorator (a monitoring
// timer, a cache) implements it once by forwarding every method, and keeps every capability
// of the backend it wraps. A few methods are capabilities a backend may lack; it then
// answers them with [ErrNotSupported], as database/sql drivers answer driver.ErrSkip, and
// the caller takes its fallback: InitializeSchema (a backend without a schema), Begin
// (a backend without units of work: every call applies at once), Listen (a backend that
// cannot announce its writes) and the joint reads and writes of objects with a permission
// backend's data (GetManyAccess, GetManyAccessList, CreateWithACEs, CreateGuarded: the
// caller then calls the two backends separately). A decorator passes ErrNotSupported
// through unchanged; one that cannot honour a capability of its own (a decorator that
// changes what GetMany answers cannot let a joint read bypass it) answers it so itself.
//
// # Values in filters
//
// [Filter.Value] holds what encoding/json decodes into an any: nil, bool, float64, string,
// []any and map[string]any, except that a number float64 does not hold exactly (an integer
// beyond 2^53, more than 15 significant digits) is its json.Number literal. Numbers compare
// by their exact decimal values, as in jsonb; a float64 stands for its shortest decimal
// form. Integers of other Go types are accepted and compared as numbers.
// For IN and EXCLUDE, and for CONTAINS and CONTAINS_ANY, Value is a []any. For HAS it is a bool.
// For LIKE it is a string in which '*' matches any run of characters (case-insensitive; the
// resource layer wraps a pattern without '*' as *pattern*). [Missing] stands for "the field is
// absent" in pagination rules.
//
// # Ordering
//
// Comparisons and sorting follow PostgreSQL's jsonb ordering, so that every backend agrees:
// null < string < number < boolean < array < object, and an absent field sorts after
// everything (last in ascending order, first in descending order). Strings compare byte-wise.
// Filters agree with that ordering: a missing field compares greater than every value, so it
// satisfies GT and MIN (as in kinto.core's memory and PostgreSQL backends; keyset pagination
// relies on it), and NOT and EXCLUDE; it never satisfies EQ, LT, MAX, IN, LIKE, CONTAINS or
// CONTAINS_ANY. The special fields "id" (string) and "last_modified" (integer)
// address the object's metadata, and "deleted" is true on tombstones and absent otherwise.
// Field names use dots for nested fields ("author.name").
//
// # Tombstones, the horizon and counts
//
// A tombstone records a deletion for the clients that synchronise with deltas (_since).
// Purging tombstones (PurgeDeleted, PurgeTombstones) raises the collection's horizon, the
// newest timestamp of a purged tombstone, in the same atomic step; a delta starting below
// it (ListOptions.Since) fails with a [*HorizonError], so that a client is told to
// synchronise again instead of missing deletions. Count without filters reads a counter
// each backend keeps with the collection timestamp, moved by the same atomic step as every
// write, so that a total costs no scan.
package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/cliquet-go/cliquet/internal/jsonenc"
	"github.com/cliquet-go/cliquet/permission"
)

// Scope addresses one collection of objects: objects of one resource under one parent
// (for example the bookmarks of one user: {"bookmark", "basicauth:alice"}).
type Scope struct {
	Resource string
	Parent   string
}

func (s Scope) String() string { return s.Resource + "@" + s.Parent }

// Key addresses one object: its collection and its id.
type Key struct {
	Scope Scope
	ID    string
}

// Object is what backends persist. The protocol fields are lifted out of Data: Data never
// contains "id", "last_modified" or "deleted" (backends drop them if present).
type Object struct {
	ID           string
	LastModified int64 // epoch milliseconds, unique within the collection
	Deleted      bool  // a tombstone; Data is nil
	Data         json.RawMessage
}

// MarshalJSON renders the object as the protocol shows it: Data with "id" and "last_modified"
// (and "deleted": true for a tombstone) added.
func (o Object) MarshalJSON() ([]byte, error) {
	return o.AppendJSON(nil), nil
}

// AppendJSON appends the protocol rendering of o to buf (see [Object.MarshalJSON]).
func (o Object) AppendJSON(buf []byte) []byte {
	buf = append(buf, `{"id":`...)
	buf = jsonenc.AppendStringHTML(buf, o.ID) // as json.Marshal encodes it, without reflection
	buf = append(buf, `,"last_modified":`...)
	buf = strconv.AppendInt(buf, o.LastModified, 10)
	if o.Deleted {
		return append(buf, `,"deleted":true}`...)
	}
	d := o.Data
	// Skip leading white space and the opening brace of Data.
	for len(d) > 0 && (d[0] == ' ' || d[0] == '\n' || d[0] == '\t' || d[0] == '\r') {
		d = d[1:]
	}
	if len(d) < 2 || d[0] != '{' {
		return append(buf, '}')
	}
	rest := d[1:]
	i := 0
	for i < len(rest) && (rest[i] == ' ' || rest[i] == '\n' || rest[i] == '\t' || rest[i] == '\r') {
		i++
	}
	if i < len(rest) && rest[i] == '}' {
		return append(buf, '}')
	}
	buf = append(buf, ',')
	return append(buf, rest...)
}

// Operator is a filter comparison.
type Operator int

// Filter operators (querystring prefixes in parentheses).
const (
	EQ           Operator = iota // field=v
	NOT                          // not_
	LT                           // lt_
	GT                           // gt_
	MIN                          // min_ (>=)
	MAX                          // max_ (<=)
	IN                           // in_
	EXCLUDE                      // exclude_
	LIKE                         // like_
	HAS                          // has_
	CONTAINS                     // contains_
	CONTAINS_ANY                 // contains_any_
)

var operatorNames = [...]string{"eq", "not", "lt", "gt", "min", "max", "in", "exclude", "like", "has", "contains", "contains_any"}

func (o Operator) String() string {
	if int(o) < len(operatorNames) {
		return operatorNames[o]
	}
	return fmt.Sprintf("Operator(%d)", int(o))
}

// MissingValue is the type of [Missing].
type MissingValue struct{}

// Missing is a Filter value meaning "the field is absent". With EQ (and MIN) it matches objects
// that lack the field; with LT (and NOT) it matches objects that have it (absent sorts last);
// with GT it matches nothing and with MAX everything. The resource layer uses it in pagination
// rules.
var Missing = MissingValue{}

// Filter is one condition on a field. Filters in a list are AND-ed.
type Filter struct {
	Field string
	Op    Operator
	Value any
}

// Sort orders by one field; Desc reverses it.
type Sort struct {
	Field string
	Desc  bool
}

// ListOptions selects, orders and limits objects.
type ListOptions struct {
	Filters []Filter // AND-ed
	Sort    []Sort   // applied in order; backends add no implicit tie-breaker
	// Pagination is an OR of AND-ed filter groups (keyset pagination rules): an object is kept
	// when it satisfies every filter of at least one group. Empty means no restriction.
	Pagination [][]Filter
	// Limit caps the number of objects returned; 0 means no limit.
	Limit int
	// IncludeDeleted adds the tombstones that match the filters.
	IncludeDeleted bool
	// Since, when positive, declares the list a delta: the changes after Since that a
	// client polling with _since=Since asks for. It does not filter (the caller adds the
	// last_modified > Since filter); it makes List (and [Backend.ListWithTimestamp])
	// fail with a [*HorizonError] (errors.Is [ErrBeyondHorizon]) instead of answering when
	// tombstones newer than Since were purged from the collection (see [Backend.Horizon]):
	// such a delta would silently miss those deletions. The check and the page are read
	// from the same state of the collection. 0 means no check (a full listing).
	Since int64
}

// Backend is the contract every storage implementation satisfies. Implementations must be safe
// for concurrent use. Every method takes the context first; a context carrying a unit of work
// (see [Backend.Begin]) makes the call part of it. The methods that a backend may decline
// with [ErrNotSupported] say so (see "Optional capabilities and decorators" in the package
// documentation).
type Backend interface {
	// Create stores a new object. An empty o.ID is replaced by a new UUID4. A positive
	// o.LastModified is kept as the object's timestamp (replication); the collection timestamp
	// then becomes max(previous+1, o.LastModified). A forced value equal to the collection
	// timestamp is bumped to previous+1 instead, so that it stays unique (kinto.core). The same
	// rules apply to the forced values that Update and Delete keep. A forced value more than
	// [MaxForcedAhead] ahead of the backend's clock is ignored, as if none were given (see
	// [KeptForced]): the write gets a fresh timestamp, so that no caller can push the
	// collection timestamp out of the backend's range (an int64, a double in some stores).
	// It removes a tombstone of the same id and returns *UnicityError when a live object has
	// that id.
	Create(ctx context.Context, s Scope, o Object) (Object, error)
	// Get returns a live object, or ErrNotFound (tombstones are not returned).
	Get(ctx context.Context, s Scope, id string) (Object, error)
	// GetMany returns the live objects at keys in one call (one round trip on networked
	// backends), in the order of keys: result[i] is the object at keys[i], or the zero Object
	// (empty ID) when no live object is there (tombstones count as missing). Keys may repeat and
	// may address different collections. No keys gives an empty result.
	GetMany(ctx context.Context, keys []Key) ([]Object, error)
	// Update replaces the object with id o.ID, creating it when missing (upsert). A
	// o.LastModified greater than the stored one is kept; otherwise a fresh timestamp is set.
	//
	// With a non-zero [Condition] (the zero Condition means none) Update is a
	// compare-and-swap: it replaces the object only if a live object with id o.ID currently
	// has exactly cond.LastModified as its timestamp, atomically with that check, and never
	// creates one. Otherwise it writes nothing (the collection timestamp does not move) and
	// returns an error matching [ErrModified], also when the object was deleted or never
	// existed.
	Update(ctx context.Context, s Scope, o Object, cond Condition) (Object, error)
	// Delete turns a live object into a tombstone and returns it, or ErrNotFound. A
	// lastModified greater than the object's timestamp is used as the tombstone's timestamp.
	//
	// With a non-zero [Condition] (the zero Condition means none) it deletes only if the
	// live object currently has exactly cond.LastModified as its timestamp; otherwise it
	// writes nothing and returns an error matching [ErrModified] (not ErrNotFound, even when
	// no live object has the id).
	Delete(ctx context.Context, s Scope, id string, lastModified int64, cond Condition) (Object, error)
	// DeleteAll deletes the live objects selected by opt (IncludeDeleted is ignored) and
	// returns their tombstones, in opt.Sort order.
	DeleteAll(ctx context.Context, s Scope, opt ListOptions) ([]Object, error)
	// PurgeDeleted removes tombstones older than before (all of them when before is 0) and
	// returns how many were removed. In the same atomic step it raises the collection's
	// horizon (see Horizon) to the newest timestamp among them, so that a delta reaching
	// below it fails instead of missing them; the collection timestamp does not move.
	PurgeDeleted(ctx context.Context, s Scope, before int64) (int, error)
	// PurgeTombstones is PurgeDeleted(ctx, s, before) for every collection of the backend
	// (the purge command and its periodic job), and returns how many tombstones it removed
	// in all. Each collection is purged atomically, one after the other: writes go on
	// meanwhile, and a tombstone written during the purge is either kept or counted in the
	// horizon, never lost silently. It never runs in a unit of work, even when ctx carries
	// one. before <= 0 purges every tombstone.
	PurgeTombstones(ctx context.Context, before int64) (int, error)
	// Horizon returns the collection's tombstone horizon: the newest timestamp of a
	// tombstone ever purged from it (by PurgeDeleted or PurgeTombstones), 0 when none was.
	// It never decreases (Flush resets it with everything else). A delta since a timestamp
	// below it is incomplete: see ListOptions.Since.
	Horizon(ctx context.Context, s Scope) (int64, error)
	// List returns the objects selected by opt.
	List(ctx context.Context, s Scope, opt ListOptions) ([]Object, error)
	// Count returns the number of live objects matching filters. Without filters it reads
	// a counter the backend keeps with the collection timestamp, updated atomically by
	// every write that moves it: exact, in commit order, and without a scan.
	Count(ctx context.Context, s Scope, filters []Filter) (int, error)
	// Timestamp returns the collection timestamp: the timestamp of its latest write
	// (tombstones included). The first read of a never-written collection fixes it at the
	// current time, and it stays there until the next write.
	Timestamp(ctx context.Context, s Scope) (int64, error)
	// ListWithTimestamp returns what List(ctx, s, opt) returns and the collection timestamp
	// that Timestamp(ctx, s) returns, read from the same state of the collection: no object
	// of the page is newer than the timestamp, and every write up to the timestamp is
	// visible to the page's query. Like Timestamp, the first read of a never-written
	// collection fixes its timestamp at the current time. The resource layer uses it for
	// list requests (one round trip on PostgreSQL instead of two).
	ListWithTimestamp(ctx context.Context, s Scope, opt ListOptions) ([]Object, int64, error)

	// Begin returns a context that carries a new unit of work, and its handle: calls made
	// with that context join the unit, which commits or rolls back as one. cliquet wraps
	// each write request, and each batch, in one unit. Implementations may start the
	// underlying transaction lazily, at the first write, so that Begin itself is cheap. A
	// backend without units of work (memory, Redis) returns [ErrNotSupported], ctx and a nil
	// Tx: each of its calls applies at once.
	Begin(ctx context.Context) (context.Context, Tx, error)
	// Listen announces the writes committed to the backend: see [Change]. A backend that
	// cannot announce them returns [ErrNotSupported]; one configured not to returns
	// [ErrNotifyDisabled].
	//
	// Listen calls fn with one Change per write committed after Listen returned, by this
	// process or by any other sharing the backend's server (web heads), until stop is
	// called (stop waits for a call in progress to return, and is idempotent). A write
	// inside a unit of work is announced when the unit commits, and never when it rolls
	// back; a write that changes nothing (a failed [Condition], a DeleteAll that matches
	// nothing) is not announced. A write is never announced before it is visible to every
	// reader, but changes may arrive out of timestamp order. When the backend could not
	// listen for a while (its server was unreachable), changes may have been missed: it
	// calls fn with a Change whose Lost is true once it listens again. A backend keeps one
	// listening connection per Backend value, whatever the number of listeners, and opens
	// it at the first Listen.
	//
	// fn is called from one goroutine at a time per listener and must return quickly (it
	// holds up the listening connection, or the writer on the memory backend); it must
	// neither call the backend nor stop a listener. Listen fails with a *BackendError
	// when the listening connection cannot be opened.
	Listen(ctx context.Context, fn func(Change)) (stop func(), err error)

	// GetManyAccess, GetManyAccessList, CreateWithACEs and CreateGuarded read or write
	// objects together with the data of the permission backend perms, in one round trip,
	// when the backend can reach perms' data itself (storage/postgresql, when perms is a
	// PostgreSQL permission backend on the same database: Kinto's usual setup). Otherwise,
	// or when it cannot for this call, a backend returns [ErrNotSupported] without doing
	// anything, and the caller makes the separate calls to the two backends that each
	// method names. A backend that answers must answer what those separate calls would.
	//
	// GetManyAccess answers GetMany(ctx, keys) and perms.Access(ctx, q) together.
	GetManyAccess(ctx context.Context, keys []Key, perms permission.Backend, q permission.AccessQuery) ([]Object, permission.Access, error)
	// GetManyAccessList is GetManyAccess that also reads what ListWithTimestamp(ctx, s, opt)
	// reads: a page of the collection s and its timestamp. page is nil when the backend
	// read no page after all (a collection without a timestamp yet, a delta below its
	// horizon): the caller then lists the collection on its own.
	GetManyAccessList(ctx context.Context, keys []Key, perms permission.Backend, q permission.AccessQuery, s Scope, opt ListOptions) (objs []Object, a permission.Access, page []Object, ts int64, err error)
	// CreateWithACEs is Create that also gives the new object, whose URI is objectID, the
	// ACEs of aces (as perms.AddPrincipalToACE would), atomically: both are written or
	// neither. The object's ACL must be empty beforehand: the ACEs are added, not replaced.
	CreateWithACEs(ctx context.Context, s Scope, o Object, perms permission.Backend, objectID string, aces permission.Set) (Object, error)
	// CreateGuarded is CreateWithACEs preceded, atomically, by checks: that each ancestor
	// of the new object is live at keys[i] with the timestamp versions[i], and, when hold
	// has bindings, that the user holds one of them (see permission.HoldQuery). It fails
	// with [ErrModified], writing nothing, when a check fails: the caller then authorizes
	// and creates the usual way.
	CreateGuarded(ctx context.Context, s Scope, o Object, perms permission.Backend, objectID string, aces permission.Set, keys []Key, versions []int64, hold permission.HoldQuery) (Object, error)

	// Ping checks the backend's server (the "storage" heartbeat); readonly asks for a check
	// that writes nothing.
	Ping(ctx context.Context, readonly bool) error
	// InitializeSchema brings the backend's schema to the current version; with dryRun it
	// only reports what it would do. It is run by an explicit migrate step, never on a
	// request path. A backend without a schema (memory, Redis) returns [ErrNotSupported]:
	// there is nothing to migrate, and it works as soon as it is opened.
	InitializeSchema(ctx context.Context, dryRun bool) error
	// Flush removes every object, tombstone, timestamp and horizon the backend stored, and
	// only that (tests, the flush endpoint).
	Flush(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// Condition is the precondition of a conditional write (compare-and-swap): see
// [Backend.Update] and [Backend.Delete]. The resource layer passes the timestamp of the
// object it read, so that a read-modify-write never overwrites a write made in between.
// The zero Condition means no condition: the write is unconditional.
type Condition struct {
	// LastModified is the timestamp the live object must have at the time of the write.
	// 0 (or a negative value) means no condition.
	LastModified int64
}

// MaxForcedAhead is how far ahead of a backend's clock a forced last_modified (Create,
// Update, Delete) may be; a value beyond it is ignored. The resource layer refuses such
// values with a 400 before they reach storage (the bound of its _since filter); backends
// apply it again so that the collection clock stays sane whatever the caller.
const MaxForcedAhead = 24 * time.Hour

// KeptForced returns the forced timestamp lm that a backend whose clock reads now keeps:
// lm when 0 < lm <= now + [MaxForcedAhead], else 0 (none forced). now may be the web
// head's clock where the backend's timestamps come from its server's (PostgreSQL, Redis):
// a day dwarfs any skew between them.
func KeptForced(lm int64, now time.Time) int64 {
	if lm <= 0 || lm > now.Add(MaxForcedAhead).UnixMilli() {
		return 0
	}
	return lm
}

// Tx is a unit of work started by [Backend.Begin]. After Commit or Rollback, further calls
// are no-ops that return nil.
type Tx interface {
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Sentinel errors. Check them with errors.Is.
var (
	// ErrNotFound: no live object with that id in that scope.
	ErrNotFound = errors.New("storage: object not found")
	// ErrModified: the [Condition] of an Update or Delete does not hold: the object was
	// changed or deleted since it was read (or never existed). Nothing was written.
	ErrModified = errors.New("storage: object modified meanwhile")
	// ErrReadOnly: the backend cannot write (for example a never-initialised timestamp on a
	// read-only database user). It is also a *BackendError's cause.
	ErrReadOnly = errors.New("storage: backend is read-only")
	// ErrInvalid: the input is something the backend cannot store or compare faithfully (a
	// NUL character or invalid UTF-8 that PostgreSQL refuses, a filter value of the wrong
	// type). Backends return errors that wrap it; retrying does not help, and the protocol
	// answers 400 errno 107. The resource layer rejects such input before any backend sees
	// it, so this is a backend's last line of defence.
	ErrInvalid = errors.New("storage: invalid input")
	// ErrNotSupported: the backend does not provide the capability asked for (see
	// "Optional capabilities and decorators" in the package documentation); the caller
	// takes its fallback. It matches [errors.ErrUnsupported] too.
	ErrNotSupported = fmt.Errorf("storage: %w", errors.ErrUnsupported)
)

// ErrBeyondHorizon: a delta (ListOptions.Since) reaches below the collection's tombstone
// horizon, so deletions it should report were purged. The client must synchronise again
// from scratch. The errors returned are [*HorizonError] values, which match it.
var ErrBeyondHorizon = errors.New("storage: tombstones newer than the delta's start were purged")

// HorizonError is the error of a delta that reaches below the collection's horizon (see
// [ListOptions.Since] and [Backend.Horizon]). errors.Is(err, ErrBeyondHorizon) holds.
type HorizonError struct {
	Scope   Scope
	Since   int64 // the start of the delta asked for
	Horizon int64 // the collection's horizon, greater than Since
}

func (e *HorizonError) Error() string {
	return fmt.Sprintf("storage: %s: changes since %d are incomplete: tombstones up to %d were purged", e.Scope, e.Since, e.Horizon)
}

// Is reports whether target is [ErrBeyondHorizon].
func (e *HorizonError) Is(target error) bool { return target == ErrBeyondHorizon }

// CheckHorizon returns the *HorizonError of a delta since since (a positive
// [ListOptions.Since]; 0 checks nothing) in a collection whose horizon is horizon, or nil
// when the delta is complete. Backends call it with the horizon they read with the page.
func CheckHorizon(s Scope, since, horizon int64) error {
	if since > 0 && horizon > since {
		return &HorizonError{Scope: s, Since: since, Horizon: horizon}
	}
	return nil
}

// UnicityError reports that a live object already has the id (or unique field) being written.
type UnicityError struct {
	Field    string
	Existing Object
}

func (e *UnicityError) Error() string {
	return fmt.Sprintf("storage: unicity violation on field %q (existing id %q)", e.Field, e.Existing.ID)
}

// BackendError wraps a failure of the underlying service (server down, pool timeout, SQL
// error). The protocol answers 503 with Retry-After.
type BackendError struct {
	Backend string // "postgresql", "redis", ...
	Op      string // the Backend method, "list"
	Err     error
}

func (e *BackendError) Error() string {
	return fmt.Sprintf("storage: %s: %s: %v", e.Backend, e.Op, e.Err)
}

func (e *BackendError) Unwrap() error { return e.Err }
