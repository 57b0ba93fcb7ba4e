package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/internal/match"
)

// List loads the collection (one MULTI with HGETALL of the objects, and of the tombstones
// when opt.IncludeDeleted) and selects, orders and limits it in process with the shared
// matcher. Its cost grows with the size of the collection; see the package documentation.
func (b *Backend) List(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	out, _, err := b.list(ctx, "list", s, opt, false)
	return out, err
}

// ListWithTimestamp is List that also reads the collection's clock in the same MULTI/EXEC,
// so that the page and the timestamp come from the same state of the collection. A
// collection without a clock yet (never read nor written, or flushed in between) has it
// fixed as Timestamp does, and is read again.
func (b *Backend) ListWithTimestamp(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, int64, error) {
	for {
		out, ts, err := b.list(ctx, "list_with_timestamp", s, opt, true)
		if err != nil || ts != 0 {
			return out, ts, err
		}
		if _, err := b.Timestamp(ctx, s); err != nil {
			return nil, 0, err
		}
	}
}

// Count returns the number of live objects matching filters: HLEN without filters, a load
// and a match otherwise.
func (b *Backend) Count(ctx context.Context, s storage.Scope, filters []storage.Filter) (int, error) {
	if len(filters) == 0 {
		n, err := b.client.HLen(ctx, b.keys(s).obj).Result()
		if err != nil {
			return 0, fail("count", err)
		}
		return int(n), nil
	}
	m, err := match.Compile(filters, nil)
	if err != nil {
		return 0, err
	}
	docs, _, err := b.load(ctx, "count", s, false, needsData(storage.ListOptions{Filters: filters}), 0, false)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, d := range docs {
		if m.Match(d) {
			n++
		}
	}
	return n, nil
}

// list selects the objects of opt; with clock, it also returns the collection's clock read
// with them (0 when the collection has none).
func (b *Backend) list(ctx context.Context, op string, s storage.Scope, opt storage.ListOptions, clock bool) ([]storage.Object, int64, error) {
	if _, err := match.Compile(opt.Filters, opt.Pagination); err != nil {
		return nil, 0, err // malformed filters fail before any I/O
	}
	docs, ts, err := b.load(ctx, op, s, opt.IncludeDeleted, needsData(opt), opt.Since, clock)
	if err != nil {
		return nil, 0, err
	}
	selected, err := match.Apply(docs, opt)
	if err != nil {
		return nil, 0, err
	}
	out := make([]storage.Object, len(selected))
	for i, d := range selected {
		if d.Deleted {
			out[i] = storage.Object{ID: d.ID, LastModified: d.LastModified, Deleted: true}
			continue
		}
		out[i] = storage.Object{ID: d.ID, LastModified: d.LastModified, Data: d.Raw}
	}
	return out, ts, nil
}

// load reads the live objects (and the tombstones when withDeleted) of s in one atomic
// MULTI/EXEC. Data is decoded only when withData is set (a filter or sort names a data field);
// Doc.Raw holds the stored data of live objects. With a positive since (a delta), the
// horizon is read in the same MULTI, and a delta it makes incomplete fails with a
// *storage.HorizonError. With clock, the collection's clock is read in the same MULTI too,
// and returned (0 when it has none).
func (b *Backend) load(ctx context.Context, op string, s storage.Scope, withDeleted, withData bool, since int64, clock bool) ([]*match.Doc, int64, error) {
	k := b.keys(s)
	var objCmd, delCmd *goredis.MapStringStringCmd
	var hzCmd, clockCmd *goredis.StringCmd
	_, err := b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		objCmd = p.HGetAll(ctx, k.obj)
		if withDeleted {
			delCmd = p.HGetAll(ctx, k.del)
		}
		if since > 0 {
			hzCmd = p.Get(ctx, k.hz)
		}
		if clock {
			clockCmd = p.Get(ctx, k.clock)
		}
		return nil
	})
	if err != nil && !errors.Is(err, goredis.Nil) { // Nil: no horizon or clock key
		return nil, 0, fail(op, err)
	}
	if err := objCmd.Err(); err != nil {
		return nil, 0, fail(op, err)
	}
	if hzCmd != nil {
		h, err := hzCmd.Int64()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return nil, 0, fail(op, err)
		}
		if err := storage.CheckHorizon(s, since, h); err != nil {
			return nil, 0, err
		}
	}
	var ts int64
	if clockCmd != nil {
		if ts, err = clockCmd.Int64(); err != nil && !errors.Is(err, goredis.Nil) {
			return nil, 0, fail(op, err)
		}
	}
	objs := objCmd.Val()
	var dels map[string]string
	if delCmd != nil {
		dels = delCmd.Val()
	}
	docs := make([]match.Doc, 0, len(objs)+len(dels))
	for id, v := range objs {
		o, err := decodeStored(id, v)
		if err != nil {
			return nil, 0, fail(op, err)
		}
		d := match.Doc{ID: id, LastModified: o.LastModified}
		if withData {
			if d.Data, err = match.Decode(o.Data); err != nil {
				return nil, 0, fail(op, fmt.Errorf("stored object %q: %w", id, err))
			}
		}
		d.Raw = o.Data
		docs = append(docs, d)
	}
	for id, v := range dels {
		ts, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, 0, fail(op, fmt.Errorf("stored tombstone %q: %w", id, err))
		}
		docs = append(docs, match.Doc{ID: id, LastModified: ts, Deleted: true})
	}
	ptrs := make([]*match.Doc, len(docs))
	for i := range docs {
		ptrs[i] = &docs[i]
	}
	return ptrs, ts, nil
}

// needsData reports whether a filter, pagination rule or sort of opt names a data field (not
// "id", "last_modified" or "deleted"), in which case the objects' data must be decoded.
func needsData(opt storage.ListOptions) bool {
	meta := func(f string) bool { return f == "id" || f == "last_modified" || f == "deleted" }
	for _, f := range opt.Filters {
		if !meta(f.Field) {
			return true
		}
	}
	for _, g := range opt.Pagination {
		for _, f := range g {
			if !meta(f.Field) {
				return true
			}
		}
	}
	for _, so := range opt.Sort {
		if !meta(so.Field) {
			return true
		}
	}
	return false
}
