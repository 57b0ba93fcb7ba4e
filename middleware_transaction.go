package cliquet

import (
	"bytes"
	"context"
	"net/http"

	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

type txMarkKey struct{}

// txVetoKey marks the unit of work of a request as to be rolled back whatever the status
// (see [vetoCommit]).
type txVetoKey struct{}

// vetoCommit makes the unit of work of ctx roll back even when the response status is below
// 500 (a failed ResourceChanged listener answering a 4xx error); it reports whether ctx
// belongs to a unit of work.
func vetoCommit(ctx context.Context) bool {
	v, ok := ctx.Value(txVetoKey{}).(*bool)
	if ok {
		*v = true
	}
	return ok
}

// InTransaction reports whether ctx belongs to a request already wrapped by [Transaction]
// (so that a nested dispatch, such as a batch sub-request, joins the outer unit of work).
func InTransaction(ctx context.Context) bool {
	v, _ := ctx.Value(txMarkKey{}).(bool)
	return v
}

// Transaction wraps each write request (any method but GET, HEAD and OPTIONS) in one unit of
// work of store, when store implements storage.Transactor; otherwise it returns next
// unchanged. Only the outermost request starts a unit (see [InTransaction]).
//
// The handler writes to a buffer. A status below 500 commits, then the buffered response
// is sent; a failed commit is answered 503 errno 201 instead. A status of 500 or more, or
// a panic (re-raised after the rollback), rolls the unit back. 4xx responses commit, as in
// Cliquet, unless a failed ResourceChanged listener vetoed the commit (events.go).
func Transaction(store storage.Backend) func(http.Handler) http.Handler {
	txr, ok := store.(storage.Transactor)
	return func(next http.Handler) http.Handler {
		if !ok {
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
			veto := new(bool)
			ctx := context.WithValue(context.WithValue(r.Context(), txMarkKey{}, true), txVetoKey{}, veto)
			ctx, tx := txr.Begin(ctx)
			bw := &bufferedWriter{header: w.Header().Clone()}
			done := false
			defer func() {
				if !done {
					tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the panic matters more
				}
			}()
			next.ServeHTTP(bw, r.WithContext(ctx))
			done = true
			if bw.status() >= 500 || *veto {
				if err := tx.Rollback(context.WithoutCancel(ctx)); err != nil {
					logFrom(r).ErrorContext(r.Context(), "rollback failed", "error", err.Error())
				}
				bw.flushTo(w)
				return
			}
			if err := tx.Commit(ctx); err != nil {
				tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // the commit error is reported
				e := protocol.NewError(http.StatusServiceUnavailable, protocol.ErrnoBackend, protocol.MsgBackend)
				e.Cause = err
				protocol.WriteError(w, r, e)
				return
			}
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
