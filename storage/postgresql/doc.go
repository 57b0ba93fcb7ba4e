// Package postgresql is the PostgreSQL storage backend: objects are stored as JSONB, filters
// and sorts run in SQL, and writes to one collection are serialised by a clock row so that
// timestamps are strictly increasing in commit order.
//
// Import it for its side effect to make storage_backend = postgresql available, or call [New]:
//
//	import _ "github.com/cliquet-go/cliquet/storage/postgresql"
//
// Settings read by the registered factory ([Open]): storage_url (postgres:// or
// postgresql:// DSN), storage_pool_size (maximum connections, default 25),
// storage_pool_timeout (seconds to wait for a connection, default 30),
// storage_statement_timeout (seconds a statement may run, or wait for a lock, before
// PostgreSQL cancels it and the call fails with a *storage.BackendError; default 30, 0 for
// none),
// storage_write_workers (connections of the write pipeline, default [DefaultWriteWorkers]:
// half the CPUs, at least 2, at most half the pool; negative: no pipeline) and
// storage_max_fetch_size (cap on the rows List returns without a limit, default 10000) and
// storage_notify (announce the writes with NOTIFY, default true; see below).
// Opening the backend does not touch the schema: run [Backend.InitializeSchema] from the
// migrate step.
//
// # Schema
//
// Migrations are embedded SQL files applied in order by InitializeSchema, inside one
// transaction guarded by an advisory lock; the version is the row storage_schema_version of
// the metadata table.
//
//	objects(resource_name, parent_id, id TEXT COLLATE "C",   -- primary key
//	        last_modified BIGINT NOT NULL, deleted BOOLEAN NOT NULL, data JSONB)
//	  UNIQUE INDEX (resource_name, parent_id, last_modified DESC)  -- _since, keyset pages
//	  INDEX (resource_name, parent_id, last_modified) WHERE deleted -- purge (migration 002)
//	timestamps(resource_name, parent_id, last_modified BIGINT,  -- the collection clocks,
//	           live BIGINT, horizon BIGINT)                       -- fillfactor 50 (migration 003);
//	                                                              -- live, horizon: migration 004
//	metadata(name, value)                                         -- storage_schema_version
//
// A tombstone is the object's row with deleted = TRUE and data NULL. "id", "last_modified"
// and "deleted" are never stored in data.
//
// # Timestamps
//
// Every write statement's first step bumps the collection's clock row to max(previous+1, now
// in ms on the server), then writes the object with the new value. That step locks the
// clock row until the transaction commits, so two writers of one collection are
// serialised: the later one reads the clock after the earlier one committed and gets a
// larger timestamp. Timestamps are thus unique and commit-ordered, and a client polling with
// _since (last_modified > t) never misses a write that commits later with a smaller
// timestamp. Concurrent writers wait instead of failing. A client-forced timestamp
// (replication) is kept unless another object of the collection has it, in which case the
// object gets the clock's value; the clock becomes max(previous+1, forced). DeleteAll
// reserves one timestamp per tombstone from the clock in the same statement. The first read
// of a never-written collection stores the current time as its timestamp.
//
// # Live counter
//
// The clock row also counts the collection's live objects (the live column): the step that
// bumps the clock adds the write's delta (+1 for an object created or brought back from a
// tombstone, -1 for a deletion), so the counter is exact and moves in commit order, and
// Count without filters reads that one row instead of counting the objects. The delta is
// computed from the statement's snapshot, which must then show every earlier write of the
// object; two forms of each statement make sure it does (see the comment above lockSQL):
//
//   - in a unit of work's transaction, the statement is sent together with a SELECT … FOR
//     UPDATE of the clock row (one round trip, one transaction): its snapshot is taken
//     after the lock, so nothing it reads can change before it commits;
//   - in autocommit mode it is sent alone and checks, while it writes, that the object is
//     in the state its snapshot showed; when a write of the same object committed while it
//     waited for the clock row, it fails with a unique violation that rolls it back, and is
//     sent again in the first form. The common create needs no check: it inserts with a
//     plain INSERT, which fails the same way when the id is taken.
//
// A conditional Update or Delete ([storage.Condition]) checks its condition in the same
// statement, on the latest committed version of the object: a write committed meanwhile
// makes it write nothing (storage.ErrModified) and leaves the clock alone.
//
// # Tombstone horizon
//
// PurgeDeleted and PurgeTombstones delete tombstones and, in the same statement, raise the
// clock row's horizon column to the newest timestamp among them (it never goes down). The
// list statement of a delta (storage.ListOptions.Since, the protocol's _since) reads the
// horizon with the page, in the same statement and snapshot as the collection timestamp, and
// fails with a *storage.HorizonError when the delta starts below it: checking it costs no
// round trip. PurgeTombstones finds the collections that have old tombstones with the
// partial index of migration 002, then purges them one at a time, each in a short
// transaction of its own.
//
// # Filters and ordering
//
// Filters, pagination rules and sorts are translated to SQL on jsonb values, which follow
// PostgreSQL's jsonb ordering (null < string < number < boolean < array < object); an absent
// field is SQL NULL, sorted last ascending and first descending. Field names and values are
// always passed as parameters: a dotted field is the text[] parameter of data #> $n::text[].
// Only a page's LIMIT is written as a literal (an integer), so that PostgreSQL keeps the
// statement's generic plan instead of planning it again on every execution. For the same
// reason GetMany sends up to 16 keys as a VALUES list of parameters, one statement per number
// of keys, and only more keys as arrays.
// Filters on "id" and "last_modified" use the columns, so that _since, _before and keyset
// pages on the default order use the index.
//
// Strings compare with the database collation: create the database with the C or C.UTF-8
// collation (initdb --locale=C.UTF-8, or CREATE DATABASE … TEMPLATE template0 LC_COLLATE
// 'C.UTF-8') so that strings inside JSON compare byte-wise, as in the other backends.
// InitializeSchema logs a warning otherwise.
//
// jsonb cannot hold the NUL character. A filter value containing NUL is therefore handled
// without sending it: EQ, IN, LIKE and CONTAINS cannot match it, NOT and EXCLUDE always do,
// and LT, GT, MIN and MAX against a string are rewritten exactly on the part before the NUL.
// An ordering comparison with an array or object containing NUL returns [ErrNULValue]. A
// field name containing NUL addresses an absent field. Object data containing \u0000 is
// rejected with [ErrInvalidData]. These errors, and any data exception PostgreSQL raises
// on input (invalid UTF-8 in a field name or an id), are [storage.ErrInvalid], not
// *storage.BackendError: the protocol answers 400, not 503.
//
// # Units of work
//
// [Backend.Begin] returns a context carrying a unit of work. Reads made with it go to the
// pool until the first write, which opens the transaction; later calls, reads included, use
// it. Calls without a unit of work run in autocommit mode.
//
// Final writes: cliquet's Transaction middleware permits a request's unit of work to end
// with an autocommitted write (a permission that the batch view and the before-commit
// event delivery withdraw), and its resource handlers mark a write after which nothing can
// fail the request; these context marks are internal to the module. When the unit has not
// written yet and its context carries both, the write runs in autocommit mode (through the
// write pipeline, or on a pooled connection when it is off) instead of opening the
// transaction. Its one statement is atomic on its own and takes the
// clock row lock like any write, so timestamps stay unique and commit-ordered; the lock is
// released when the statement commits, without the BEGIN and COMMIT round trips that would
// otherwise keep it held. That is what lets cliquet's single-write requests (a POST, PUT,
// PATCH or DELETE of a non-shareable resource, outside a batch and without before-commit
// listeners) write to a hot collection at the rate of the bare statement. Commit and Rollback
// then have nothing to end; a later write of the unit opens a transaction of its own.
//
// # Write pipeline
//
// The single writes made in autocommit mode (Create, Update and Delete outside a unit's
// transaction, final writes included) go to a few worker connections
// ([Options.WriteWorkers]). A worker takes every write queued at that moment, up to 64, and
// sends them in PostgreSQL's pipeline mode in one network write, each followed by its own
// Sync: each write is its own implicit transaction, committed or refused alone. Within the
// batch, the common creates (no forced timestamp, data without protocol keys) into distinct
// collections run as one grouped statement: one transaction that locks their clock rows in
// one order, bumps each once and inserts the objects; a group PostgreSQL refuses is run again
// one write at a time. A write's result is delivered only when its Sync is acknowledged,
// after the commit, so an acknowledged write is visible from every connection. Under
// concurrency this saves round trips, system calls and PostgreSQL's per-statement and
// per-commit work; a write alone pays one goroutine hand-off more. A write queued behind a
// write that waits for a lock (say, on a clock row a long batch transaction holds) waits
// with it.
//
// When the data sent holds no top-level "id", "last_modified" or "deleted" (what a resource
// sends), Create and Update return the data sent instead of having PostgreSQL render the
// stored jsonb back.
//
// Failures of the server or of the
// pool (including the pool timeout) are returned as *storage.BackendError; the pool reopens
// connections by itself when the server comes back.
//
// # Change notifications
//
// The backend announces its writes: every statement that moves a collection clock calls
// pg_notify on [NotifyChannel] with the collection, its new timestamp and the action, so
// that the notification is queued by the writing transaction and delivered at its commit,
// never for a rolled-back write. [Backend.Listen] listens on one connection of its
// own (not from the pool, application_name "cliquet change listener"), reopened when it
// breaks. NOTIFY takes a lock at commit that serialises the commits of the transactions that
// notified, across the server: [Options.NoNotify] (storage_notify = false) turns the
// announcements off, by a run-time parameter of the pool's connections that the statements
// test.
package postgresql
