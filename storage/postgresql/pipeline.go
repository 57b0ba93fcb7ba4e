package postgresql

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxPipelined bounds how many writes one pipeline carries.
const maxPipelined = 64

// errClosed is what a write waiting for the pipeline gets when the backend closes.
var errClosed = errors.New("storage/postgresql: backend closed")

// rowQuerier runs a statement returning at most one row: what the single writes (Create,
// Update, Delete) need, and what both a pooled connection and the write pipeline offer.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pipeline runs the backend's single writes made in autocommit mode (no unit of work
// transaction) on a few connections, in PostgreSQL's pipeline mode: a worker takes every
// write queued at that moment (up to maxPipelined), sends them in one network write, each
// followed by its own Sync, so that each is still its own transaction, committed or failed
// alone, and reads their results in one go. Under concurrency this saves a round trip, a
// system call pair and a server wake-up per write; alone, a write costs a goroutine hand-off
// more. A write's result is delivered only once its Sync is acknowledged, that is after its
// commit, so a client that got a response reads the write from any connection.
type pipeline struct {
	b     *Backend
	queue chan *pipedWrite
	ctx   context.Context // canceled by close
	stop  context.CancelFunc
	wg    sync.WaitGroup
	// pipelines and writes count what the workers sent, for tests and diagnostics.
	pipelines, writes atomic.Int64
}

// pipedWrite is one statement waiting in the pipeline.
type pipedWrite struct {
	sql  string
	args [][]byte
	res  chan pipedRow // buffered: the worker never waits for the caller
}

// pipedRow is the result of a pipelined statement. It implements pgx.Row for the few
// destination types the writes scan into.
type pipedRow struct {
	values [][]byte // the first row's values in text format; nil: no row
	err    error
}

func newPipeline(b *Backend, workers int) *pipeline {
	ctx, stop := context.WithCancel(context.Background())
	p := &pipeline{b: b, queue: make(chan *pipedWrite, 4*maxPipelined), ctx: ctx, stop: stop}
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

// close stops the workers after their current pipelines. Writes still queued, and writes
// made later, fail with errClosed.
func (p *pipeline) close() {
	p.stop()
	p.wg.Wait()
}

// QueryRow queues the statement and waits for its row. The statement runs even when ctx
// ends meanwhile (like a statement already sent); the caller then gets ctx's error.
func (p *pipeline) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	w := &pipedWrite{sql: sql, args: make([][]byte, len(args)), res: make(chan pipedRow, 1)}
	for i, a := range args {
		v, err := textArg(a)
		if err != nil {
			return pipedRow{err: err}
		}
		w.args[i] = v
	}
	select {
	case p.queue <- w:
	case <-ctx.Done():
		return pipedRow{err: ctx.Err()}
	case <-p.ctx.Done():
		return pipedRow{err: errClosed}
	}
	select {
	case r := <-w.res:
		return r
	case <-ctx.Done():
		return pipedRow{err: ctx.Err()}
	case <-p.ctx.Done():
		return pipedRow{err: errClosed}
	}
}

// textArg is a statement parameter in PostgreSQL's text format (nil is NULL).
func textArg(a any) ([]byte, error) {
	switch v := a.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(v), nil
	case int64:
		return strconv.AppendInt(nil, v, 10), nil
	case int:
		return strconv.AppendInt(nil, int64(v), 10), nil
	}
	return nil, fmt.Errorf("storage/postgresql: pipelined parameter of type %T", a)
}

// Scan implements pgx.Row for *int64, *string and *[]byte destinations.
func (r pipedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if r.values == nil {
		return pgx.ErrNoRows
	}
	if len(dest) != len(r.values) {
		return fmt.Errorf("storage/postgresql: pipelined row has %d values, scanned into %d", len(r.values), len(dest))
	}
	for i, d := range dest {
		v := r.values[i]
		switch d := d.(type) {
		case *[]byte:
			*d = v // Read copied it
		case *string:
			*d = string(v)
		case *int64:
			n, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return fmt.Errorf("storage/postgresql: pipelined value %d: %w", i, err)
			}
			*d = n
		default:
			return fmt.Errorf("storage/postgresql: pipelined value %d scanned into %T", i, d)
		}
	}
	return nil
}

// work is one worker: it takes the first queued write, then every write queued behind it.
func (p *pipeline) work() {
	defer p.wg.Done()
	names := map[string]string{} // statement text -> prepared statement name, for this worker
	batch := make([]*pipedWrite, 0, maxPipelined)
	for {
		select {
		case w := <-p.queue:
			batch = append(batch[:0], w)
		case <-p.ctx.Done():
			return
		}
	drain:
		for len(batch) < maxPipelined {
			select {
			case w := <-p.queue:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		p.pipelines.Add(1)
		p.writes.Add(int64(len(batch)))
		p.run(batch, names)
		clear(batch)
	}
}

// run sends batch through one connection and delivers every result.
func (p *pipeline) run(batch []*pipedWrite, names map[string]string) {
	failAll := func(from int, err error) {
		for _, w := range batch[from:] {
			w.res <- pipedRow{err: err}
		}
	}
	conn, err := p.b.acquire(p.ctx)
	if err != nil {
		failAll(0, err)
		return
	}
	defer conn.Release()
	stmts := make([]*pgconn.StatementDescription, len(batch))
	for i, w := range batch {
		name, ok := names[w.sql]
		if !ok {
			h := fnv.New64a()
			h.Write([]byte(w.sql))
			name = "cliquet_pipelined_" + strconv.FormatUint(h.Sum64(), 36)
			names[w.sql] = name
		}
		// Prepared once per connection: pgx returns its cached description afterwards.
		sd, err := conn.Conn().Prepare(p.ctx, name, w.sql)
		if err != nil {
			failAll(0, err)
			return
		}
		stmts[i] = sd
	}
	pl := conn.Conn().PgConn().StartPipeline(p.ctx)
	for i, w := range batch {
		pl.SendQueryStatement(stmts[i], w.args, nil, nil)
		pl.SendPipelineSync()
	}
	if err := pl.Flush(); err != nil {
		failAll(0, err)
		_ = pl.Close()
		return
	}
	for i, w := range batch {
		row, broken := readPiped(pl)
		if broken != nil {
			failAll(i, broken)
			_ = pl.Close()
			return
		}
		w.res <- row
	}
	if err := pl.Close(); err != nil {
		p.b.log.Warn("storage/postgresql: closing a write pipeline", "error", err)
	}
}

// readPiped reads one write's result and its Sync. broken is set when the connection
// failed, so that no later result can be read; a statement's own error is in the row.
func readPiped(pl *pgconn.Pipeline) (row pipedRow, broken error) {
	res, err := pl.GetResults()
	switch r := res.(type) {
	case *pgconn.ResultReader:
		out := r.Read()
		row.err = out.Err
		if out.Err == nil && len(out.Rows) > 0 {
			row.values = out.Rows[0]
		}
	default:
		var pgErr *pgconn.PgError
		if err == nil {
			return row, fmt.Errorf("storage/postgresql: unexpected pipeline result %T", res)
		}
		if !errors.As(err, &pgErr) {
			return row, err
		}
		row.err = err // the statement failed before running (say, a bad parameter)
	}
	if row.err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(row.err, &pgErr) {
			return row, row.err
		}
	}
	// The Sync: the write's implicit transaction is committed (or rolled back) when it is
	// acknowledged, so the result is delivered only now.
	sync, err := pl.GetResults()
	if err != nil {
		return row, err
	}
	if _, ok := sync.(*pgconn.PipelineSync); !ok {
		return row, fmt.Errorf("storage/postgresql: pipeline result %T where a Sync was expected", sync)
	}
	return row, nil
}
