// Package memory is an in-process storage backend, for tests and development: data lives in
// maps and is lost when the process exits.
//
// It is registered under the name "memory" (and the Cliquet/Kinto aliases
// "cliquet.storage.memory", "kinto.core.storage.memory"), so storage_backend = memory selects
// it. It passes the storagetest conformance suite; filters, pagination rules and sorting follow
// the jsonb ordering of the storage package doc.
//
// Its writes are announced in process (see [Backend.Listen]). It has neither units of work
// nor a schema, and cannot read a permission backend's data: it declines those optional
// capabilities of [storage.Backend] with [storage.ErrNotSupported].
//
// Each collection (a [storage.Scope]) has its own lock. Writes decode Data once and keep both
// the compacted bytes and the decoded form, so a Get is a map lookup plus a copy of the bytes,
// and List/Count/DeleteAll evaluate filters without decoding JSON. Returned objects never alias
// the backend's memory.
package memory

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/internal/fanout"
	"github.com/cliquet-go/cliquet/storage/internal/match"
)

func init() {
	storage.Register("memory", func(_ context.Context, s *config.Settings) (storage.Backend, error) {
		readonly, err := s.Bool("readonly")
		if err != nil {
			return nil, err
		}
		return New(&Options{ReadOnly: readonly}), nil
	})
}

// Options configures a Backend. The zero value (or a nil *Options) gives the defaults.
type Options struct {
	// Clock gives the current time; timestamps are its Unix milliseconds. Default time.Now.
	Clock func() time.Time
	// ReadOnly makes Timestamp fail, with a *storage.BackendError wrapping storage.ErrReadOnly,
	// on a collection whose timestamp was never initialised (kinto's readonly mode). Writes are
	// still accepted: refusing them is the HTTP layer's job. Default false.
	ReadOnly bool
}

// Backend is the memory storage backend. It is safe for concurrent use. Create one with [New].
type Backend struct {
	// The optional capabilities the backend declines: it has no units of work (each call
	// applies at once), no schema, and cannot read a permission backend's data with its own.
	storage.Unsupported

	clock    func() time.Time
	readonly bool
	closed   atomic.Bool // set by Close: every call then fails (see Close)

	mu    sync.RWMutex
	colls map[storage.Scope]*collection

	changes fanout.Set // the listeners of Listen (notify.go)
}

// collection holds one scope. Docs are immutable once stored: writes replace the pointer, so
// readers may use docs after releasing the lock.
type collection struct {
	mu sync.RWMutex
	ts int64 // collection timestamp; 0 until the first write or read
	// horizon is the newest timestamp of a purged tombstone (storage.Backend.Horizon).
	horizon int64
	live    map[string]*match.Doc
	dead    map[string]*match.Doc // tombstones
}

var _ storage.Backend = (*Backend)(nil)

// New returns an empty backend. opts may be nil.
func New(opts *Options) *Backend {
	b := &Backend{clock: time.Now, colls: make(map[storage.Scope]*collection)}
	if opts != nil {
		if opts.Clock != nil {
			b.clock = opts.Clock
		}
		b.readonly = opts.ReadOnly
	}
	return b
}

// coll returns the collection of s, creating it when create is true (else it may be nil).
func (b *Backend) coll(s storage.Scope, create bool) *collection {
	b.mu.RLock()
	c := b.colls[s]
	b.mu.RUnlock()
	if c != nil || !create {
		return c
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c = b.colls[s]; c == nil {
		c = &collection{live: make(map[string]*match.Doc), dead: make(map[string]*match.Doc)}
		b.colls[s] = c
	}
	return c
}

// bump returns the timestamp of a new write in c and advances the collection timestamp; c.mu
// must be held for writing. A positive forced value is kept as the object's timestamp, except
// when it equals the collection timestamp (then both become previous+1); the collection
// timestamp becomes max(previous+1, forced). A forced value more than a day ahead of the
// clock (storage.MaxForcedAhead) is ignored.
func (b *Backend) bump(c *collection, forced int64) int64 {
	prev := c.ts
	clock := b.clock()
	if forced = storage.KeptForced(forced, clock); forced > 0 {
		switch {
		case forced > prev:
			c.ts = forced
		case forced == prev:
			c.ts = prev + 1
			return c.ts
		default:
			c.ts = prev + 1
		}
		return forced
	}
	now := clock.UnixMilli()
	if now <= prev {
		now = prev + 1
	}
	c.ts = now
	return now
}

func object(d *match.Doc) storage.Object {
	if d.Deleted {
		return storage.Object{ID: d.ID, LastModified: d.LastModified, Deleted: true}
	}
	return storage.Object{ID: d.ID, LastModified: d.LastModified, Data: bytes.Clone(d.Raw)}
}

func tombstone(id string, ts int64) *match.Doc {
	return &match.Doc{ID: id, LastModified: ts, Deleted: true}
}

// Create implements [storage.Backend].
func (b *Backend) Create(ctx context.Context, s storage.Scope, o storage.Object) (storage.Object, error) {
	if err := b.check(ctx, "create"); err != nil {
		return storage.Object{}, err
	}
	raw, data, err := match.CleanData(o.Data)
	if err != nil {
		return storage.Object{}, err
	}
	id := o.ID
	if id == "" {
		id = uuid.NewString()
	}
	c := b.coll(s, true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if existing, ok := c.live[id]; ok {
		return storage.Object{}, &storage.UnicityError{Field: "id", Existing: object(existing)}
	}
	d := &match.Doc{ID: id, LastModified: b.bump(c, o.LastModified), Data: data, Raw: raw}
	c.live[id] = d
	delete(c.dead, id)
	b.announce(s, c.ts, storage.ActionCreate)
	return object(d), nil
}

// Get implements [storage.Backend].
func (b *Backend) Get(ctx context.Context, s storage.Scope, id string) (storage.Object, error) {
	if err := b.check(ctx, "get"); err != nil {
		return storage.Object{}, err
	}
	c := b.coll(s, false)
	if c == nil {
		return storage.Object{}, storage.ErrNotFound
	}
	c.mu.RLock()
	d, ok := c.live[id]
	c.mu.RUnlock()
	if !ok {
		return storage.Object{}, storage.ErrNotFound
	}
	return object(d), nil
}

// GetMany implements [storage.Backend]: a lookup per key, each under its collection's read
// lock, copying the data as Get does.
func (b *Backend) GetMany(ctx context.Context, keys []storage.Key) ([]storage.Object, error) {
	if err := b.check(ctx, "get_many"); err != nil {
		return nil, err
	}
	out := make([]storage.Object, len(keys))
	for i, k := range keys {
		c := b.coll(k.Scope, false)
		if c == nil {
			continue
		}
		c.mu.RLock()
		d, ok := c.live[k.ID]
		c.mu.RUnlock()
		if ok {
			out[i] = object(d)
		}
	}
	return out, nil
}

// Update implements [storage.Backend].
// A condition is checked under the collection lock, with the write.
func (b *Backend) Update(ctx context.Context, s storage.Scope, o storage.Object, cond storage.Condition) (storage.Object, error) {
	if err := b.check(ctx, "update"); err != nil {
		return storage.Object{}, err
	}
	if o.ID == "" {
		return storage.Object{}, errors.New("storage: memory: update: empty object id")
	}
	raw, data, err := match.CleanData(o.Data)
	if err != nil {
		return storage.Object{}, err
	}
	want := max(cond.LastModified, 0) // negative: no condition
	c := b.coll(s, want == 0)
	if c == nil {
		return storage.Object{}, storage.ErrModified
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.live[o.ID]
	if want != 0 && (!ok || old.LastModified != want) {
		return storage.Object{}, storage.ErrModified
	}
	forced := o.LastModified
	if ok && forced <= old.LastModified {
		forced = 0
	}
	d := &match.Doc{ID: o.ID, LastModified: b.bump(c, forced), Data: data, Raw: raw}
	c.live[o.ID] = d
	delete(c.dead, o.ID)
	if ok {
		b.announce(s, c.ts, storage.ActionUpdate)
	} else {
		b.announce(s, c.ts, storage.ActionCreate)
	}
	return object(d), nil
}

// Delete implements [storage.Backend].
// A condition is checked under the collection lock, with the write.
func (b *Backend) Delete(ctx context.Context, s storage.Scope, id string, lastModified int64, cond storage.Condition) (storage.Object, error) {
	if err := b.check(ctx, "delete"); err != nil {
		return storage.Object{}, err
	}
	want := max(cond.LastModified, 0) // negative: no condition
	missing := storage.ErrNotFound
	if want != 0 {
		missing = storage.ErrModified
	}
	c := b.coll(s, false)
	if c == nil {
		return storage.Object{}, missing
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.live[id]
	if !ok {
		return storage.Object{}, missing
	}
	if want != 0 && old.LastModified != want {
		return storage.Object{}, storage.ErrModified
	}
	if lastModified <= old.LastModified {
		lastModified = 0
	}
	t := tombstone(id, b.bump(c, lastModified))
	delete(c.live, id)
	c.dead[id] = t
	b.announce(s, c.ts, storage.ActionDelete)
	return object(t), nil
}

// DeleteAll implements [storage.Backend].
func (b *Backend) DeleteAll(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	if err := b.check(ctx, "delete_all"); err != nil {
		return nil, err
	}
	m, err := match.Compile(opt.Filters, opt.Pagination)
	if err != nil {
		return nil, err
	}
	c := b.coll(s, false)
	if c == nil {
		return []storage.Object{}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	selected := make([]*match.Doc, 0, len(c.live))
	for _, d := range c.live {
		if m.Match(d) {
			selected = append(selected, d)
		}
	}
	match.Sort(selected, opt.Sort)
	if opt.Limit > 0 && len(selected) > opt.Limit {
		selected = selected[:opt.Limit]
	}
	out := make([]storage.Object, len(selected))
	for i, d := range selected {
		t := tombstone(d.ID, b.bump(c, 0))
		delete(c.live, d.ID)
		c.dead[d.ID] = t
		out[i] = object(t)
	}
	if len(out) > 0 {
		b.announce(s, c.ts, storage.ActionDelete)
	}
	return out, nil
}

// PurgeDeleted implements [storage.Backend]. The collection timestamp is kept; the horizon
// rises under the same lock.
func (b *Backend) PurgeDeleted(ctx context.Context, s storage.Scope, before int64) (int, error) {
	if err := b.check(ctx, "purge_deleted"); err != nil {
		return 0, err
	}
	c := b.coll(s, false)
	if c == nil {
		return 0, nil
	}
	return c.purge(before), nil
}

// purge removes the tombstones of c older than before (all when before <= 0) and raises
// its horizon; it returns how many it removed.
func (c *collection) purge(before int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for id, t := range c.dead {
		if before <= 0 || t.LastModified < before {
			delete(c.dead, id)
			c.horizon = max(c.horizon, t.LastModified)
			n++
		}
	}
	return n
}

// PurgeTombstones implements [storage.Backend]: PurgeDeleted on every collection, one
// after the other.
func (b *Backend) PurgeTombstones(ctx context.Context, before int64) (int, error) {
	if err := b.check(ctx, "purge_tombstones"); err != nil {
		return 0, err
	}
	b.mu.RLock()
	colls := make([]*collection, 0, len(b.colls))
	for _, c := range b.colls {
		colls = append(colls, c)
	}
	b.mu.RUnlock()
	n := 0
	for _, c := range colls {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		n += c.purge(before)
	}
	return n, nil
}

// Horizon implements [storage.Backend].
func (b *Backend) Horizon(ctx context.Context, s storage.Scope) (int64, error) {
	if err := b.check(ctx, "horizon"); err != nil {
		return 0, err
	}
	c := b.coll(s, false)
	if c == nil {
		return 0, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.horizon, nil
}

// snapshot returns the live docs of s (and its tombstones when deleted is true), and the
// collection timestamp at that moment (0 for a collection that does not exist). It fails
// with the storage.HorizonError of a delta since since (0: none) that the collection's
// horizon makes incomplete, checked under the same lock.
func (b *Backend) snapshot(s storage.Scope, deleted bool, since int64) ([]*match.Doc, int64, error) {
	c := b.coll(s, false)
	if c == nil {
		return nil, 0, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := storage.CheckHorizon(s, since, c.horizon); err != nil {
		return nil, 0, err
	}
	n := len(c.live)
	if deleted {
		n += len(c.dead)
	}
	docs := make([]*match.Doc, 0, n)
	for _, d := range c.live {
		docs = append(docs, d)
	}
	if deleted {
		for _, d := range c.dead {
			docs = append(docs, d)
		}
	}
	return docs, c.ts, nil
}

// List implements [storage.Backend].
func (b *Backend) List(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	if err := b.check(ctx, "list"); err != nil {
		return nil, err
	}
	docs, _, err := b.snapshot(s, opt.IncludeDeleted, opt.Since)
	if err != nil {
		return nil, err
	}
	return page(docs, opt)
}

// page applies opt to docs.
func page(docs []*match.Doc, opt storage.ListOptions) ([]storage.Object, error) {
	docs, err := match.Apply(docs, opt)
	if err != nil {
		return nil, err
	}
	out := make([]storage.Object, len(docs))
	for i, d := range docs {
		out[i] = object(d)
	}
	return out, nil
}

// ListWithTimestamp implements [storage.Backend]: the page is selected from the
// documents copied under the collection's lock together with its timestamp.
func (b *Backend) ListWithTimestamp(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, int64, error) {
	for {
		if _, err := b.Timestamp(ctx, s); err != nil { // fixes a new collection's timestamp
			return nil, 0, err
		}
		docs, ts, err := b.snapshot(s, opt.IncludeDeleted, opt.Since)
		if err != nil {
			return nil, 0, err
		}
		if ts == 0 {
			continue // flushed in between
		}
		out, err := page(docs, opt)
		return out, ts, err
	}
}

// Count implements [storage.Backend]. Without filters it is the size of the collection's
// map of live objects, read under its lock.
func (b *Backend) Count(ctx context.Context, s storage.Scope, filters []storage.Filter) (int, error) {
	if err := b.check(ctx, "count"); err != nil {
		return 0, err
	}
	if len(filters) == 0 {
		c := b.coll(s, false)
		if c == nil {
			return 0, nil
		}
		c.mu.RLock()
		defer c.mu.RUnlock()
		return len(c.live), nil
	}
	m, err := match.Compile(filters, nil)
	if err != nil {
		return 0, err
	}
	n := 0
	docs, _, _ := b.snapshot(s, false, 0)
	for _, d := range docs {
		if m.Match(d) {
			n++
		}
	}
	return n, nil
}

// Timestamp implements [storage.Backend].
func (b *Backend) Timestamp(ctx context.Context, s storage.Scope) (int64, error) {
	if err := b.check(ctx, "timestamp"); err != nil {
		return 0, err
	}
	c := b.coll(s, !b.readonly)
	if c != nil {
		c.mu.RLock()
		ts := c.ts
		c.mu.RUnlock()
		if ts != 0 {
			return ts, nil
		}
	}
	if b.readonly {
		return 0, &storage.BackendError{Backend: "memory", Op: "timestamp", Err: storage.ErrReadOnly}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ts == 0 {
		b.bump(c, 0)
	}
	return c.ts, nil
}

// Flush drops every collection, timestamps included.
func (b *Backend) Flush(ctx context.Context) error {
	if err := b.check(ctx, "flush"); err != nil {
		return err
	}
	b.mu.Lock()
	b.colls = make(map[storage.Scope]*collection)
	b.mu.Unlock()
	return nil
}

// Ping implements [storage.Backend]; a memory backend is available until it is closed.
func (b *Backend) Ping(ctx context.Context, readonly bool) error { return b.check(ctx, "ping") }

// ErrClosed is the cause of the *storage.BackendError every call of a closed backend returns.
var ErrClosed = errors.New("storage: memory: backend closed")

// Close implements [storage.Backend]: it drops the data, and every later call fails with a
// *storage.BackendError wrapping [ErrClosed], as a server backend fails once its connections
// are closed; its listeners (Listen) are stopped. Closing again does nothing.
func (b *Backend) Close() error {
	b.closed.Store(true)
	b.changes.Close()
	b.mu.Lock()
	b.colls = make(map[storage.Scope]*collection)
	b.mu.Unlock()
	return nil
}

// check returns the error of a call named op: a *storage.BackendError wrapping ErrClosed once
// the backend is closed, else the context's error.
func (b *Backend) check(ctx context.Context, op string) error {
	if b.closed.Load() {
		return &storage.BackendError{Backend: "memory", Op: op, Err: ErrClosed}
	}
	return ctx.Err()
}
