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
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/storage"
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
	b       *Backend
	queue   chan *pipedWrite
	ctx     context.Context // canceled by close
	stop    context.CancelFunc
	wg      sync.WaitGroup
	workers int // how many workers run
	// pipelines and writes count what the workers sent, grouped the writes that a grouped
	// create carried, for tests and diagnostics.
	pipelines, writes, grouped atomic.Int64
}

// pipedWrite is one statement waiting in the pipeline.
type pipedWrite struct {
	sql  string
	args [][]byte
	// locked: lockSQL, with the first two arguments (the collection), runs first, in the
	// statement's transaction (see lockedRow).
	locked bool
	res    chan pipedRow // buffered: the worker never waits for the caller
}

// pipedRow is the result of a pipelined statement. It implements pgx.Row for the few
// destination types the writes scan into.
type pipedRow struct {
	values [][]byte   // the first row's values in text format; nil: no row
	rows   [][][]byte // every row (a grouped create returns one per object)
	err    error
}

func newPipeline(b *Backend, workers int) *pipeline {
	ctx, stop := context.WithCancel(context.Background())
	p := &pipeline{b: b, queue: make(chan *pipedWrite, 4*maxPipelined), ctx: ctx, stop: stop, workers: workers}
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
	return p.enqueue(ctx, false, sql, args)
}

// queryRowLocked is QueryRow for a statement that runs after lockSQL for collection s, in
// one transaction. The statement's first two arguments must be s's resource and parent.
func (p *pipeline) queryRowLocked(ctx context.Context, s storage.Scope, sql string, args ...any) pgx.Row {
	if len(args) < 2 || args[0] != any(s.Resource) || args[1] != any(s.Parent) {
		return pipedRow{err: fmt.Errorf("storage/postgresql: a locked statement's arguments do not start with its collection")}
	}
	return p.enqueue(ctx, true, sql, args)
}

// enqueue queues one write and waits for its row.
func (p *pipeline) enqueue(ctx context.Context, locked bool, sql string, args []any) pgx.Row {
	w := &pipedWrite{sql: sql, args: make([][]byte, len(args)), locked: locked, res: make(chan pipedRow, 1)}
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

// run sends batch through one connection and delivers every result. The common creates of
// the batch (createFast) into distinct collections go as one grouped statement, one
// transaction for all of them: PostgreSQL's cost per statement and per commit is then paid
// once for the group. The other writes go one by one, each its own transaction.
func (p *pipeline) run(batch []*pipedWrite, names map[string]string) {
	conn, err := p.b.acquire(p.ctx)
	if err != nil {
		failAll(batch, err)
		return
	}
	defer conn.Release()
	group, singles := partition(batch)
	if len(group) > 0 {
		g := groupedCreate(group)
		if !p.send(conn, names, []*pipedWrite{g}) {
			failAll(group, (<-g.res).err)
			return
		}
		r := <-g.res
		if r.err != nil {
			singles = append(group, singles...) // refused as a whole: each runs alone
		} else {
			p.deliverGroup(group, r.rows)
		}
	}
	if len(singles) > 0 {
		p.send(conn, names, singles)
	}
}

// failAll answers every write of writes with err.
func failAll(writes []*pipedWrite, err error) {
	for _, w := range writes {
		w.res <- pipedRow{err: err}
	}
}

// deliverGroup answers the writes of a grouped create from its rows (resource, parent, id,
// last_modified); a write without a row gets none (its collection had no clock row yet, or
// its id is taken), and then goes on alone (see Backend.create).
func (p *pipeline) deliverGroup(group []*pipedWrite, rows [][][]byte) {
	lm := make(map[[3]string][]byte, len(rows))
	for _, r := range rows {
		lm[[3]string{string(r[0]), string(r[1]), string(r[2])}] = r[3]
	}
	p.grouped.Add(int64(len(group)))
	for _, g := range group {
		row := pipedRow{}
		if v, found := lm[[3]string{string(g.args[0]), string(g.args[1]), string(g.args[2])}]; found {
			row.values = [][]byte{v}
		}
		g.res <- row
	}
}

// partition picks the writes that can share a grouped create (at least two common creates,
// one per collection); the others are singles.
func partition(batch []*pipedWrite) (group, singles []*pipedWrite) {
	seen := map[[2]string]bool{}
	for _, w := range batch {
		if w.sql == createFast.lean {
			k := [2]string{string(w.args[0]), string(w.args[1])}
			if !seen[k] {
				seen[k] = true
				group = append(group, w)
				continue
			}
		}
		singles = append(singles, w)
	}
	if len(group) < 2 {
		return nil, batch
	}
	return group, singles
}

// groupedCreate is the write that runs group's creates in one statement (groupCreateSQL).
func groupedCreate(group []*pipedWrite) *pipedWrite {
	cols := make([][][]byte, 4) // resource, parent, id, data
	for _, w := range group {
		cols[0] = append(cols[0], w.args[0])
		cols[1] = append(cols[1], w.args[1])
		cols[2] = append(cols[2], w.args[2])
		cols[3] = append(cols[3], w.args[4])
	}
	args := make([][]byte, len(cols))
	for i, c := range cols {
		args[i] = textArray(c)
	}
	return &pipedWrite{sql: groupCreateSQL, args: args, res: make(chan pipedRow, 1)}
}

// textArray is a text[] parameter in PostgreSQL's text format (a nil element is NULL).
func textArray(elems [][]byte) []byte {
	out := []byte{'{'}
	for i, e := range elems {
		if i > 0 {
			out = append(out, ',')
		}
		if e == nil {
			out = append(out, "NULL"...)
			continue
		}
		out = append(out, '"')
		for _, c := range e {
			if c == '"' || c == '\\' {
				out = append(out, '\\')
			}
			out = append(out, c)
		}
		out = append(out, '"')
	}
	return append(out, '}')
}

// groupCreateSQL is createFast (lean) for several objects of distinct collections, given
// as arrays ($1 resource names, $2 parent ids, $3 ids, $4 data). The clock rows are locked
// in one order (the sort below the row locks), so that two grouped statements never
// deadlock; each collection's clock is bumped and its live counter incremented once, and
// its object inserted, all in one transaction. An object gets no row back when its
// collection has no clock row yet or its id is taken (by a live object or a tombstone, in
// the statement's snapshot): the caller then goes on alone. An id taken after the snapshot
// makes the plain INSERT fail, and the whole group is run again one write at a time.
var groupCreateSQL = `WITH input AS (
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS i(resource_name, parent_id, id, data)),
locked AS (
	SELECT t.resource_name, t.parent_id FROM timestamps AS t JOIN input AS i
		ON t.resource_name = i.resource_name AND t.parent_id = i.parent_id
	WHERE NOT EXISTS (SELECT 1 FROM objects AS x WHERE x.resource_name = i.resource_name
		AND x.parent_id = i.parent_id AND x.id = i.id)
	ORDER BY t.resource_name, t.parent_id
	FOR UPDATE OF t),
clock AS (
	UPDATE timestamps AS t SET last_modified = GREATEST(t.last_modified + 1, ` + nowMS + `), live = t.live + 1
	FROM locked AS l WHERE t.resource_name = l.resource_name AND t.parent_id = l.parent_id
	RETURNING t.resource_name, t.parent_id, t.last_modified,
		` + notifyExpr("t.resource_name", "t.parent_id", "t.last_modified", "'create'") + `)
INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data, raw)
SELECT i.resource_name, i.parent_id, i.id, c.last_modified, FALSE,
	COALESCE(i.data::jsonb, '{}'::jsonb) - '{id,last_modified,deleted}'::text[], COALESCE(i.data, '{}')
FROM input AS i JOIN clock AS c ON c.resource_name = i.resource_name AND c.parent_id = i.parent_id
RETURNING o.resource_name, o.parent_id, o.id, o.last_modified`

// send runs writes in one pipeline on conn, each followed by a Sync, and answers each with
// its rows or its error. ok is false when the connection failed: the writes not answered yet
// are then answered with that failure.
func (p *pipeline) send(conn *pgxpool.Conn, names map[string]string, writes []*pipedWrite) (ok bool) {
	prepare := func(sql string) (*pgconn.StatementDescription, error) {
		name, found := names[sql]
		if !found {
			h := fnv.New64a()
			h.Write([]byte(sql))
			name = "cliquet_pipelined_" + strconv.FormatUint(h.Sum64(), 36)
			names[sql] = name
		}
		// Prepared once per connection: pgx returns its cached description afterwards.
		return conn.Conn().Prepare(p.ctx, name, sql)
	}
	lock, err := prepare(lockSQL)
	if err != nil {
		failAll(writes, err)
		return false
	}
	stmts := make([]*pgconn.StatementDescription, len(writes))
	for i, w := range writes {
		sd, err := prepare(w.sql)
		if err != nil {
			failAll(writes, err)
			return false
		}
		stmts[i] = sd
	}
	pl := conn.Conn().PgConn().StartPipeline(p.ctx)
	for i, w := range writes {
		if w.locked { // in the statement's transaction: no Sync in between
			pl.SendQueryStatement(lock, w.args[:2], nil, nil)
		}
		pl.SendQueryStatement(stmts[i], w.args, nil, nil)
		pl.SendPipelineSync()
	}
	if err := pl.Flush(); err != nil {
		failAll(writes, err)
		_ = pl.Close()
		return false
	}
	for i, w := range writes {
		rows, err, broken := readPiped(pl, w.locked)
		if broken != nil {
			failAll(writes[i:], broken)
			_ = pl.Close()
			return false
		}
		row := pipedRow{rows: rows, err: err}
		if err == nil && len(rows) > 0 {
			row.values = rows[0]
		}
		w.res <- row
	}
	if err := pl.Close(); err != nil {
		p.b.log.Warn("storage/postgresql: closing a write pipeline", "error", err)
	}
	return true
}

// readPiped reads one statement's rows and its Sync, after the result of the lockSQL
// statement sent before it when locked. err is the statement's own error (PostgreSQL
// refused it, or the lock before it); broken is set when the connection failed, so that no
// later result can be read.
func readPiped(pl *pgconn.Pipeline, locked bool) (rows [][][]byte, err, broken error) {
	if locked {
		res, gerr := pl.GetResults()
		switch r := res.(type) {
		case *pgconn.ResultReader:
			err = r.Read().Err
		default:
			if gerr == nil {
				return nil, nil, fmt.Errorf("storage/postgresql: unexpected pipeline result %T", res)
			}
			err = gerr
		}
		if err != nil {
			// The statement after it was not run: PostgreSQL skips to the Sync.
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) {
				return nil, nil, err
			}
			return nil, err, syncOf(pl)
		}
	}
	res, gerr := pl.GetResults()
	switch r := res.(type) {
	case *pgconn.ResultReader:
		out := r.Read()
		rows, err = out.Rows, out.Err
	default:
		if gerr == nil {
			return nil, nil, fmt.Errorf("storage/postgresql: unexpected pipeline result %T", res)
		}
		err = gerr // the statement failed before running (say, a bad parameter)
	}
	if err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			return nil, nil, err
		}
	}
	// The Sync: the statement's implicit transaction is committed (or rolled back) when it is
	// acknowledged, so results are delivered only now.
	if serr := syncOf(pl); serr != nil {
		return nil, nil, serr
	}
	return rows, err, nil
}

// syncOf reads the Sync that ends a write's statements.
func syncOf(pl *pgconn.Pipeline) error {
	sync, err := pl.GetResults()
	if err != nil {
		return err
	}
	if _, ok := sync.(*pgconn.PipelineSync); !ok {
		return fmt.Errorf("storage/postgresql: pipeline result %T where a Sync was expected", sync)
	}
	return nil
}
