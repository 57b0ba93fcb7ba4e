package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/internal/fanout"
	"github.com/cliquet-go/cliquet/storage/internal/match"
)

// Defaults of [Options].
const (
	DefaultURL         = "redis://localhost:6379/0"
	DefaultPoolSize    = 25
	DefaultPoolTimeout = 30 * time.Second
	DefaultPrefix      = "storage:"
)

// Options configures [New]. Zero values mean the documented defaults.
type Options struct {
	// URL is the server address, redis://[user:password@]host:port/db (or rediss:// for TLS,
	// unix:// for a socket), in the syntax of go-redis ParseURL. Default [DefaultURL].
	URL string
	// PoolSize is the maximum number of connections. Default [DefaultPoolSize].
	PoolSize int
	// PoolTimeout is how long a call waits for a free connection. Default [DefaultPoolTimeout].
	PoolTimeout time.Duration
	// DialTimeout, ReadTimeout and WriteTimeout override the URL's (or go-redis's defaults:
	// 5 s, 3 s, 3 s) when positive.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// MaxRetries is how many times go-redis retries a command after a network error; 0 keeps
	// go-redis's default (3) and -1 disables retries.
	MaxRetries int
	// DialerRetries is how many times a connection is dialled before a call fails; 0 keeps
	// go-redis's default (5, 100 ms apart). 1 makes calls fail fast when the server is down.
	DialerRetries int
	// Prefix is prepended to every key the backend writes, and [Backend.Flush] removes only
	// the keys that start with it. Default [DefaultPrefix].
	Prefix string
}

// OptionsFromSettings reads storage_url, storage_pool_size, storage_pool_timeout and
// storage_prefix (an extra setting of this backend; default "storage:").
func OptionsFromSettings(s *config.Settings) (Options, error) {
	size, err := s.Int("storage_pool_size")
	if err != nil {
		return Options{}, err
	}
	timeout, err := s.Seconds("storage_pool_timeout")
	if err != nil {
		return Options{}, err
	}
	opt := Options{URL: s.String("storage_url"), PoolSize: size, PoolTimeout: timeout}
	if !s.IsUnset("storage_prefix") {
		opt.Prefix = s.String("storage_prefix")
	}
	return opt, nil
}

func init() {
	storage.Register("redis", func(ctx context.Context, s *config.Settings) (storage.Backend, error) {
		opt, err := OptionsFromSettings(s)
		if err != nil {
			return nil, err
		}
		b, err := New(ctx, opt)
		if err != nil {
			return nil, err
		}
		return b, nil
	})
}

// Backend is the Redis storage backend. It is safe for concurrent use, also by several
// processes sharing one server. It implements [storage.Backend], and declines its units of
// work (Begin) with storage.ErrNotSupported: see the package documentation.
type Backend struct {
	// The optional capabilities the backend declines: units of work (see "No transactions"
	// in the package documentation), a schema (Redis keys need none), and the joint calls
	// (the permission data is not in this backend's keys).
	storage.Unsupported

	client  *goredis.Client
	prefix  string
	changes fanout.Set // the listeners of Listen (notify.go)
}

var _ storage.Backend = (*Backend)(nil)

// New returns a backend for opt. It does not contact the server: a server that is down makes
// the calls fail with *storage.BackendError, and [Backend.Ping] checks it.
func New(ctx context.Context, opt Options) (*Backend, error) {
	if opt.URL == "" {
		opt.URL = DefaultURL
	}
	ro, err := goredis.ParseURL(opt.URL)
	if err != nil {
		return nil, fmt.Errorf("storage: redis: %w", err)
	}
	ro.PoolSize = DefaultPoolSize
	if opt.PoolSize > 0 {
		ro.PoolSize = opt.PoolSize
	}
	ro.PoolTimeout = DefaultPoolTimeout
	if opt.PoolTimeout > 0 {
		ro.PoolTimeout = opt.PoolTimeout
	}
	if opt.DialTimeout > 0 {
		ro.DialTimeout = opt.DialTimeout
	}
	if opt.ReadTimeout > 0 {
		ro.ReadTimeout = opt.ReadTimeout
	}
	if opt.WriteTimeout > 0 {
		ro.WriteTimeout = opt.WriteTimeout
	}
	if opt.MaxRetries != 0 {
		ro.MaxRetries = opt.MaxRetries
	}
	if opt.DialerRetries > 0 {
		ro.DialerRetries = opt.DialerRetries
	}
	if opt.Prefix == "" {
		opt.Prefix = DefaultPrefix
	}
	b := &Backend{client: goredis.NewClient(ro), prefix: opt.Prefix}
	b.changes.Source = b.listenSource
	return b, nil
}

// Client returns the underlying go-redis client (for diagnostics and tests).
func (b *Backend) Client() *goredis.Client { return b.client }

// Close stops the change listeners and closes the connection pool.
func (b *Backend) Close() error {
	b.changes.Close()
	return b.client.Close()
}

// fail wraps a go-redis error. A write refused by a read-only replica also matches
// storage.ErrReadOnly.
func fail(op string, err error) error {
	if goredis.IsReadOnlyError(err) {
		err = fmt.Errorf("%w: %w", storage.ErrReadOnly, err)
	}
	return &storage.BackendError{Backend: "redis", Op: op, Err: err}
}

// Create stores a new object; see [storage.Backend.Create].
func (b *Backend) Create(ctx context.Context, s storage.Scope, o storage.Object) (storage.Object, error) {
	data, _, err := match.CleanData(o.Data)
	if err != nil {
		return storage.Object{}, err
	}
	if o.ID == "" {
		o.ID = uuid.NewString()
	}
	res, err := scriptCreate.Run(ctx, b.client, b.keys(s).slice(), o.ID, []byte(data), storage.KeptForced(o.LastModified, time.Now())).Slice()
	if err != nil {
		return storage.Object{}, fail("create", err)
	}
	if len(res) != 2 {
		return storage.Object{}, fail("create", fmt.Errorf("unexpected script reply %v", res))
	}
	if ok, _ := res[0].(int64); ok == 0 {
		stored, _ := res[1].(string)
		existing, err := decodeStored(o.ID, stored)
		if err != nil {
			return storage.Object{}, fail("create", err)
		}
		return storage.Object{}, &storage.UnicityError{Field: "id", Existing: existing}
	}
	lm, _ := res[1].(int64)
	return storage.Object{ID: o.ID, LastModified: lm, Data: data}, nil
}

// Get returns a live object with one HGET; see [storage.Backend.Get].
func (b *Backend) Get(ctx context.Context, s storage.Scope, id string) (storage.Object, error) {
	v, err := b.client.HGet(ctx, b.keys(s).obj, id).Result()
	if errors.Is(err, goredis.Nil) {
		return storage.Object{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.Object{}, fail("get", err)
	}
	o, err := decodeStored(id, v)
	if err != nil {
		return storage.Object{}, fail("get", err)
	}
	return o, nil
}

// GetMany returns the live objects at keys in one round trip: a pipeline of one HMGET per
// collection the keys address; see [storage.Backend.GetMany]. Like successive Gets, the reads
// of different collections are not one atomic snapshot.
func (b *Backend) GetMany(ctx context.Context, keys []storage.Key) ([]storage.Object, error) {
	out := make([]storage.Object, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	// The keys of each collection, in the order of their first appearance.
	type group struct {
		ids []string
		pos []int // pos[j]: the index in keys of ids[j]
		cmd *goredis.SliceCmd
	}
	var groups []*group
	index := make(map[storage.Scope]*group, 4)
	for i, k := range keys {
		g := index[k.Scope]
		if g == nil {
			g = &group{}
			index[k.Scope] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, k.ID)
		g.pos = append(g.pos, i)
	}
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for _, g := range groups {
			g.cmd = p.HMGet(ctx, b.keys(keys[g.pos[0]].Scope).obj, g.ids...)
		}
		return nil
	})
	if err != nil {
		return nil, fail("get_many", err)
	}
	for _, g := range groups {
		vals := g.cmd.Val()
		if len(vals) != len(g.ids) {
			return nil, fail("get_many", fmt.Errorf("HMGET returned %d values for %d fields", len(vals), len(g.ids)))
		}
		for j, v := range vals {
			if v == nil {
				continue
			}
			s, ok := v.(string)
			if !ok {
				return nil, fail("get_many", fmt.Errorf("unexpected HMGET value %T", v))
			}
			o, err := decodeStored(g.ids[j], s)
			if err != nil {
				return nil, fail("get_many", err)
			}
			out[g.pos[j]] = o
		}
	}
	return out, nil
}

// Update replaces or creates the object; see [storage.Backend.Update]. A condition is
// checked inside the script that writes.
func (b *Backend) Update(ctx context.Context, s storage.Scope, o storage.Object, cond storage.Condition) (storage.Object, error) {
	data, _, err := match.CleanData(o.Data)
	if err != nil {
		return storage.Object{}, err
	}
	if o.ID == "" {
		return storage.Object{}, errors.New("storage: redis: update without an id")
	}
	want := max(cond.LastModified, 0) // negative: no condition
	lm, err := scriptUpdate.Run(ctx, b.client, b.keys(s).slice(), o.ID, []byte(data), storage.KeptForced(o.LastModified, time.Now()), want).Int64()
	if errors.Is(err, goredis.Nil) {
		return storage.Object{}, storage.ErrModified
	}
	if err != nil {
		return storage.Object{}, fail("update", err)
	}
	return storage.Object{ID: o.ID, LastModified: lm, Data: data}, nil
}

// Delete turns a live object into a tombstone; see [storage.Backend.Delete]. A condition is
// checked inside the script that writes.
func (b *Backend) Delete(ctx context.Context, s storage.Scope, id string, lastModified int64, cond storage.Condition) (storage.Object, error) {
	want := max(cond.LastModified, 0) // negative: no condition
	lm, err := scriptDelete.Run(ctx, b.client, b.keys(s).slice(), id, storage.KeptForced(lastModified, time.Now()), want).Int64()
	if errors.Is(err, goredis.Nil) {
		if want != 0 {
			return storage.Object{}, storage.ErrModified
		}
		return storage.Object{}, storage.ErrNotFound
	}
	if err != nil {
		return storage.Object{}, fail("delete", err)
	}
	return storage.Object{ID: id, LastModified: lm, Deleted: true}, nil
}

// DeleteAll selects the live objects in Go (as List does), then deletes them in one script
// that skips those changed or deleted meanwhile; see [storage.Backend.DeleteAll].
func (b *Backend) DeleteAll(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	opt.IncludeDeleted = false
	selected, _, err := b.list(ctx, "delete_all", s, opt, false)
	if err != nil {
		return nil, err
	}
	if len(selected) == 0 {
		return []storage.Object{}, nil
	}
	args := make([]any, 0, 2*len(selected))
	for _, o := range selected {
		args = append(args, o.ID, o.LastModified)
	}
	res, err := scriptDeleteMany.Run(ctx, b.client, b.keys(s).slice(), args...).Slice()
	if err != nil {
		return nil, fail("delete_all", err)
	}
	out := make([]storage.Object, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		id, _ := res[i].(string)
		lm, _ := res[i+1].(int64)
		out = append(out, storage.Object{ID: id, LastModified: lm, Deleted: true})
	}
	return out, nil
}

// PurgeDeleted removes old tombstones and raises the horizon in one script; see
// [storage.Backend.PurgeDeleted].
func (b *Backend) PurgeDeleted(ctx context.Context, s storage.Scope, before int64) (int, error) {
	n, err := scriptPurge.Run(ctx, b.client, b.keys(s).purgeKeys(), max(before, 0)).Int()
	if err != nil {
		return 0, fail("purge_deleted", err)
	}
	return n, nil
}

// PurgeTombstones finds the collections that have tombstones (SCAN of the keys ending in
// ":del" under the prefix) and purges each one with PurgeDeleted's script; see
// [storage.Backend.PurgeTombstones].
func (b *Backend) PurgeTombstones(ctx context.Context, before int64) (int, error) {
	iter := b.client.Scan(ctx, 0, globEscape(b.prefix)+"{*}:del", 1000).Iterator()
	total := 0
	for iter.Next(ctx) {
		base, ok := strings.CutSuffix(iter.Val(), "del")
		if !ok {
			continue
		}
		n, err := scriptPurge.Run(ctx, b.client, keysOf(base).purgeKeys(), max(before, 0)).Int()
		if err != nil {
			return total, fail("purge_tombstones", err)
		}
		total += n
	}
	if err := iter.Err(); err != nil {
		return total, fail("purge_tombstones", err)
	}
	return total, nil
}

// Horizon reads the collection's horizon with one GET; see [storage.Backend.Horizon].
func (b *Backend) Horizon(ctx context.Context, s storage.Scope) (int64, error) {
	h, err := b.client.Get(ctx, b.keys(s).hz).Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fail("horizon", err)
	}
	return h, nil
}

// Timestamp returns the collection timestamp. A plain GET answers once the collection has a
// clock; the first read stores the server's current time atomically.
func (b *Backend) Timestamp(ctx context.Context, s storage.Scope) (int64, error) {
	k := b.keys(s)
	ts, err := b.client.Get(ctx, k.clock).Int64()
	if err == nil {
		return ts, nil
	}
	if !errors.Is(err, goredis.Nil) {
		return 0, fail("timestamp", err)
	}
	ts, err = scriptTimestamp.Run(ctx, b.client, k.slice()).Int64()
	if err != nil {
		return 0, fail("timestamp", err)
	}
	return ts, nil
}

// Ping checks the server: PING when readonly, otherwise a short-lived write under the prefix.
func (b *Backend) Ping(ctx context.Context, readonly bool) error {
	var err error
	if readonly {
		err = b.client.Ping(ctx).Err()
	} else {
		err = b.client.Set(ctx, b.prefix+"__heartbeat__", time.Now().UnixMilli(), time.Minute).Err()
	}
	if err != nil {
		return fail("ping", err)
	}
	return nil
}

// Flush removes every key under the backend's prefix (SCAN + UNLINK), and nothing else.
func (b *Backend) Flush(ctx context.Context) error {
	iter := b.client.Scan(ctx, 0, globEscape(b.prefix)+"*", 1000).Iterator()
	batch := make([]string, 0, 500)
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := b.client.Unlink(ctx, batch...).Err(); err != nil {
				return fail("flush", err)
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return fail("flush", err)
	}
	if len(batch) > 0 {
		if err := b.client.Unlink(ctx, batch...).Err(); err != nil {
			return fail("flush", err)
		}
	}
	return nil
}

// decodeStored parses a value of the obj hash, "<last_modified>:<data>".
func decodeStored(id, v string) (storage.Object, error) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(v) || v[i] != ':' {
		return storage.Object{}, fmt.Errorf("malformed stored object %q", id)
	}
	lm, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil {
		return storage.Object{}, fmt.Errorf("malformed stored object %q: %w", id, err)
	}
	return storage.Object{ID: id, LastModified: lm, Data: json.RawMessage(v[i+1:])}, nil
}
