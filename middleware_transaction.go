package cliquet

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/cliquet-go/cliquet/internal/finalwrite"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// txKey carries the *txState of the request's unit of work.
type txKey struct{}

// txState is what the Transaction middleware shares with the code inside its unit of work.
type txState struct {
	veto      bool        // roll back whatever the status (see vetoCommit)
	denyFinal func()      // withdraws finalwrite.Allow (see RequireTransaction)
	journal   permJournal // the unit's permission changes, undone on rollback (permission_journal.go)
}

// undoPermissions restores the permissions the unit of work changed through a backend
// wrapped by JournalPermission (see permission_journal.go). It runs before the storage
// rollback, while the unit still holds its row locks, so that a concurrent writer of the
// same collection, blocked on them, changes the ACLs only after they are restored. Failures
// are logged and reported to Sentry, never raised.
func (st *txState) undoPermissions(ctx context.Context, r *http.Request) {
	var report func(error)
	if a := AppFrom(ctx); a != nil && a.sentry != nil {
		report = func(err error) { a.sentry.Capture(ctx, err, r) }
	}
	st.journal.undo(ctx, logFrom(r), report) //nolint:errcheck // logged and reported by undo
}

// vetoCommit makes the unit of work of ctx roll back even when the response status is below
// 500 (a failed ResourceChanged listener answering a 4xx error); it reports whether ctx
// belongs to a unit of work.
func vetoCommit(ctx context.Context) bool {
	st, ok := ctx.Value(txKey{}).(*txState)
	if ok {
		st.veto = true
	}
	return ok
}

// RollbackUnit makes the unit of work of ctx (see [Transaction]) roll back whatever the
// response status, undoing its permission changes with its storage writes; it reports
// whether ctx belongs to a unit of work. A handler calls it when a write fails after a
// permission change that must not outlive it, and then answers the error as usual.
func RollbackUnit(ctx context.Context) bool { return vetoCommit(ctx) }

// InTransaction reports whether ctx belongs to a request already wrapped by [Transaction]
// (so that a nested dispatch, such as a batch sub-request, joins the outer unit of work).
func InTransaction(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*txState)
	return ok
}

// RequireTransaction makes the unit of work of ctx (see [Transaction]) a real transaction
// until the end of the request: no write of the request runs in autocommit mode, even one
// that a resource handler marks as the request's final write (see [Transaction]). Code
// inside the unit that may still fail the request after its handler wrote calls it before
// the handler runs: the batch view (its sub-requests share the unit) and the delivery of
// ResourceRead and ResourceChanged events (a failing listener rolls the write back) do. It
// does nothing outside a unit of work.
func RequireTransaction(ctx context.Context) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok && st.denyFinal != nil {
		st.denyFinal()
	}
}

// Transaction wraps each write request (any method but GET, HEAD and OPTIONS) in one unit of
// work of store (storage.Backend.Begin); when store has no units of work (Begin declines with
// storage.ErrNotSupported), the request runs without one. Only the outermost request starts
// a unit (see [InTransaction]).
//
// The handler writes to a buffer. A status below 500 commits, then the buffered response
// is sent; a failed commit is answered 503 errno 201 instead. A status of 500 or more, or
// a panic (re-raised after the rollback), rolls the unit back. 4xx responses commit, as in
// Cliquet, unless a failed ResourceChanged listener vetoed the commit (events.go).
//
// The unit allows a final write: a resource handler whose last write is its only one, with
// nothing after it that can fail, marks it as final (through a context mark internal to
// the module), and a backend that honours the mark (storage/postgresql) then runs it in
// autocommit mode, so that the collection's clock row is not held locked across the COMMIT
// round trip. [RequireTransaction] withdraws that permission; the batch view and the
// before-commit event delivery call it.
//
// Permission changes are part of the unit when the permission backend is wrapped by
// [JournalPermission] (Initialize does it for App.Permission): a rollback, including after
// a failed commit or a panic, restores the ACLs and user principals the unit changed. Without
// a unit of work, permission changes are kept whatever the response, like storage writes.
// A Begin that fails otherwise is answered 503 errno 201.
func Transaction(store storage.Backend) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if store == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				next.ServeHTTP(w, r)
				return
			}
			if InTransaction(r.Context()) {
				next.ServeHTTP(w, r)
				return
			}
			st := &txState{}
			ctx, tx, err := store.Begin(context.WithValue(r.Context(), txKey{}, st))
			if errors.Is(err, storage.ErrNotSupported) {
				next.ServeHTTP(w, r) // no units of work: every write applies at once
				return
			}
			if err != nil {
				e := protocol.NewError(http.StatusServiceUnavailable, protocol.ErrnoBackend, protocol.MsgBackend)
				e.Cause = err
				protocol.WriteError(w, r, e)
				return
			}
			ctx, st.denyFinal = finalwrite.Allow(ctx)
			bw := &bufferedWriter{header: w.Header().Clone()}
			done := false
			defer func() {
				if !done {
					st.undoPermissions(context.WithoutCancel(ctx), r)
					tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the panic matters more
				}
			}()
			next.ServeHTTP(bw, r.WithContext(ctx))
			done = true
			if bw.status() >= 500 || st.veto {
				st.undoPermissions(context.WithoutCancel(ctx), r)
				if err := tx.Rollback(context.WithoutCancel(ctx)); err != nil {
					logFrom(r).ErrorContext(r.Context(), "rollback failed", "error", err.Error())
				}
				bw.flushTo(w)
				return
			}
			if err := tx.Commit(ctx); err != nil {
				st.undoPermissions(context.WithoutCancel(ctx), r)
				tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the commit error is reported
				e := protocol.NewError(http.StatusServiceUnavailable, protocol.ErrnoBackend, protocol.MsgBackend)
				e.Cause = err
				protocol.WriteError(w, r, e)
				return
			}
			st.journal.reset() // committed: the permission changes stay
			bw.flushTo(w)
		})
	}
}

// bufferedWriter holds a whole response until the unit of work is settled.
type bufferedWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedWriter) status() int {
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}

func (b *bufferedWriter) flushTo(w http.ResponseWriter) {
	h := w.Header()
	for k := range h {
		if _, ok := b.header[k]; !ok {
			delete(h, k)
		}
	}
	for k, v := range b.header {
		h[k] = v
	}
	w.WriteHeader(b.status())
	w.Write(b.body.Bytes()) //nolint:errcheck // the client went away; nothing to do
}
