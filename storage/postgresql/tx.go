package postgresql

import (
	"context"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/storage"
)

type unitKey struct{}

// unit is a unit of work started by Begin. Its transaction starts at the first write.
type unit struct {
	b    *Backend
	mu   sync.Mutex
	conn *pgxpool.Conn
	tx   pgx.Tx
	done bool
	// final: a write for which finalwrite.Allowed held ran in autocommit mode; later
	// writes (which the contract excludes) open a transaction of their own.
	final bool
}

var _ storage.Tx = (*unit)(nil)

// Begin returns a context carrying a new unit of work, and its handle; it does no I/O and
// never fails. Calls made with the context read from the pool until the first write, which
// opens a transaction on a dedicated connection; from then on every call with the context,
// reads included, goes through that transaction. Commit and Rollback end it; calling them again returns nil, and calls made
// with the context afterwards run in autocommit mode.
//
// A write made before any other write of the unit, with a context that allows and marks a
// final write (cliquet's unit of work and resource handlers do), runs in autocommit mode
// instead of opening the transaction: its statement commits when it returns and releases the collection's clock row
// at once (see "Units of work" in the package documentation).
func (b *Backend) Begin(ctx context.Context) (context.Context, storage.Tx, error) {
	u := &unit{b: b}
	return context.WithValue(ctx, unitKey{}, u), u, nil
}

func (b *Backend) unitFrom(ctx context.Context) *unit {
	u, _ := ctx.Value(unitKey{}).(*unit)
	if u == nil || u.b != b {
		return nil
	}
	return u
}

// begin opens the transaction; u.mu is held.
func (u *unit) begin(ctx context.Context) error {
	conn, err := u.b.acquire(ctx)
	if err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return err
	}
	u.conn, u.tx = conn, tx
	return nil
}

// Commit commits the transaction, if one was started.
func (u *unit) Commit(ctx context.Context) error {
	return u.end(ctx, "commit", func(tx pgx.Tx) error { return tx.Commit(ctx) })
}

// Rollback abandons the transaction, if one was started.
func (u *unit) Rollback(ctx context.Context) error {
	return u.end(ctx, "rollback", func(tx pgx.Tx) error { return tx.Rollback(ctx) })
}

func (u *unit) end(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done {
		return nil
	}
	u.done = true
	if u.tx == nil {
		return nil
	}
	err := fn(u.tx)
	u.conn.Release() // the pool closes the connection if the transaction did not end cleanly
	u.tx, u.conn = nil, nil
	return u.b.wrap(op, err)
}
