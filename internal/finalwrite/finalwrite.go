// Package finalwrite carries the two context marks that let a storage backend run a unit of
// work's only write in autocommit mode instead of opening a transaction for it.
//
// A unit of work normally keeps the rows it writes locked until Commit. For a request whose
// only write is a single backend call, that lock (the collection clock, which serialises the
// writers of a collection) is then held across the COMMIT round trip for nothing: the one
// statement is atomic on its own. Two marks let a backend commit such a write when the call
// returns:
//
//   - [Allow], by whoever begins the unit of work for a request (cliquet's Transaction
//     middleware): the request may end its unit with an autocommitted write. It returns a
//     deny function for the code that learns later that the request needs a real
//     transaction (a batch, whose sub-requests share the unit; a before-commit event
//     listener, whose failure must roll the write back). Denial is final and covers every
//     context derived from the returned one.
//   - [Mark], by the code making the call (the resource handlers): this call is the
//     request's last write, and nothing after it can fail the request so that it would have
//     to be rolled back.
//
// A storage.Transactor may honour a call made with both marks ([Allowed]) only when the unit
// has not written yet: it then runs the call in autocommit mode and ends the unit's writing
// (Commit and Rollback have nothing left to do for it; a later write, which the marks'
// contract excludes, would open a transaction of its own). The result of an honoured final
// write cannot be rolled back. Backends may ignore the marks; without both of them nothing
// changes.
//
// The marks are internal: they are an agreement between cliquet's unit of work, its resource
// handlers and its in-tree backends, not part of the storage contract.
package finalwrite

import (
	"context"
	"sync/atomic"
)

type markKey struct{}

type gateKey struct{}

// gate is the permission given by Allow; denied is set once.
type gate struct{ denied atomic.Bool }

// Allow returns a context under which writes marked with [Mark] may run in autocommit mode,
// and the function that withdraws that permission for good. Call it on the context returned
// by storage.Transactor.Begin.
func Allow(ctx context.Context) (context.Context, func()) {
	g := &gate{}
	return context.WithValue(ctx, gateKey{}, g), func() { g.denied.Store(true) }
}

// Mark marks the backend call made with the returned context as the last write of its unit
// of work, after which nothing can require a rollback.
func Mark(ctx context.Context) context.Context {
	return context.WithValue(ctx, markKey{}, true)
}

// Allowed reports whether a write made with ctx may run in autocommit mode: ctx is marked by
// [Mark] and carries a permission from [Allow] that was not withdrawn. Backends also check
// that their unit of work has not written yet.
func Allowed(ctx context.Context) bool {
	if final, _ := ctx.Value(markKey{}).(bool); !final {
		return false
	}
	g, _ := ctx.Value(gateKey{}).(*gate)
	return g != nil && !g.denied.Load()
}
