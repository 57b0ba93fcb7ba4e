package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/internal/fanout"
)

// NotifyChannel is the PostgreSQL channel on which the backend announces its committed
// writes (storage.Backend.Listen): every statement that moves a collection clock calls
// pg_notify(NotifyChannel, payload) for the clock row, so that the notification is queued
// by the writing transaction and delivered at its commit (at the statement's end for a write
// in autocommit mode), and never for a rolled-back write. The payload is the JSON array
// [timestamp, action, resource, parent], or [timestamp, action] when the scope is too long
// for a notification (PostgreSQL refuses payloads of 8000 bytes or more); a listener then
// treats it as a lost change.
const NotifyChannel = "cliquet_changes"

// notifySetting is the custom run-time parameter that turns the announcements off on a
// connection (Options.NoNotify): the statements test it, so one text serves both modes.
const notifySetting = "cliquet.notify"

// maxNotifiedScope bounds the bytes of resource and parent a payload carries: JSON may
// escape a byte into six, and the payload must stay under 8000 bytes.
const maxNotifiedScope = "1300"

// notifyExpr is the expression, for the RETURNING clause of a statement that moves a
// collection clock, that announces the write (see NotifyChannel); resource, parent, ts and
// action are SQL expressions of the clock row's scope, its new timestamp and the action.
// NOTIFY takes a lock at commit that serialises the committing transactions that notified,
// across the server: Options.NoNotify (storage_notify = false) spares it when no web head
// serves change feeds.
func notifyExpr(resource, parent, ts, action string) string {
	return `CASE WHEN current_setting('` + notifySetting + `', true) IS DISTINCT FROM 'off' THEN
		pg_notify('` + NotifyChannel + `', (CASE WHEN octet_length(` + resource + `) + octet_length(` + parent + `) <= ` + maxNotifiedScope + `
			THEN json_build_array(` + ts + `, ` + action + `, ` + resource + `, ` + parent + `)
			ELSE json_build_array(` + ts + `, ` + action + `) END)::text) END`
}

// listenPing is how long the listening connection may stay silent before it is checked
// with a query: a connection lost without a word (a network cut) is noticed within it.
const listenPing = 30 * time.Second

// Listen implements storage.Backend: one connection of its own per Backend (not taken from
// the pool), opened at the first Listen and closed after the last stop, runs LISTEN on
// NotifyChannel. When it breaks, it is opened again (fanout.Reopen), and the
// listeners then get a storage.Change whose Lost is true. It fails with
// storage.ErrNotifyDisabled when the backend does not announce its writes
// (Options.NoNotify).
func (b *Backend) Listen(ctx context.Context, fn func(storage.Change)) (func(), error) {
	if b.noNotify {
		return nil, storage.ErrNotifyDisabled
	}
	return b.changes.Listen(ctx, fn)
}

// listenSource is the fanout.Source of Listen: it opens the listening connection and
// receives the notifications until it is stopped.
func (b *Backend) listenSource(ctx context.Context, send func(storage.Change)) (func(), error) {
	conn, err := b.listenConn(ctx)
	if err != nil {
		return nil, b.wrap("listen", err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.receive(lctx, conn, send)
	}()
	return func() { cancel(); <-done }, nil
}

// listenerName is the application_name of the listening connection (unless the URL sets
// one), which tells it apart in pg_stat_activity.
const listenerName = "cliquet change listener"

// listenConn opens a connection with the pool's configuration and runs LISTEN on it.
func (b *Backend) listenConn(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, b.poolTimeout)
	defer cancel()
	cfg := b.pool.Config().ConnConfig
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = listenerName
	}
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+NotifyChannel); err != nil {
		conn.Close(context.Background()) //nolint:errcheck // already failing
		return nil, err
	}
	return conn, nil
}

// receive hands the notifications of conn to send until ctx ends, opening the connection
// again when it breaks.
func (b *Backend) receive(ctx context.Context, conn *pgx.Conn, send func(storage.Change)) {
	defer func() {
		if conn != nil {
			conn.Close(context.Background()) //nolint:errcheck // closing
		}
	}()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if c, ok := parseNotification(n.Payload); ok {
				send(c)
			}
			continue
		case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
			pctx, cancel := context.WithTimeout(ctx, b.poolTimeout)
			_, err = conn.Exec(pctx, "SELECT 1")
			cancel()
			if err == nil {
				continue
			}
		}
		if ctx.Err() != nil {
			return
		}
		b.log.Warn("storage/postgresql: the change listener lost its connection; reconnecting", "error", err.Error())
		conn.Close(context.Background()) //nolint:errcheck // broken
		var ok bool
		if conn, ok = fanout.Reopen(ctx, b.listenConn); !ok {
			return // stopped
		}
		send(storage.Change{Lost: true})
	}
}

// parseNotification decodes a payload of NotifyChannel; a payload without scope (too long
// to be sent) is a lost change.
func parseNotification(payload string) (storage.Change, bool) {
	var parts []json.RawMessage
	if err := json.Unmarshal([]byte(payload), &parts); err != nil || len(parts) < 2 {
		return storage.Change{}, false
	}
	var c storage.Change
	if json.Unmarshal(parts[0], &c.Timestamp) != nil || json.Unmarshal(parts[1], &c.Action) != nil {
		return storage.Change{}, false
	}
	if len(parts) < 4 {
		return storage.Change{Lost: true}, true
	}
	if json.Unmarshal(parts[2], &c.Scope.Resource) != nil || json.Unmarshal(parts[3], &c.Scope.Parent) != nil {
		return storage.Change{}, false
	}
	return c, true
}
