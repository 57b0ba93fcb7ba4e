package postgresql

import (
	"context"
	"errors"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/permission"
	permpg "github.com/cliquet-go/cliquet/permission/postgresql"
	"github.com/cliquet-go/cliquet/storage"
)

// BenchmarkGetManyAccess compares the authorization read of a Kinto record GET (3 keys: the
// bucket, the collection and the record; 4 objects to check: those and the records' plural
// URI, the record's ACEs in full; 3 principals, the user having 2 groups of its own and 2
// through Authenticated) made as one GetManyAccess with GetMany then Access, run one after
// the other, and run concurrently (the resource layer's fallback); GetManyAccess also on a
// permission backend that keeps no groups between statements (groups-read). The tables hold 10,000
// other records, 40,000 other ACEs and 10,000 other group memberships. All three compute the
// same answer (checked once). Each reports the CPU time of the benchmark process
// (cpu-ns/op) and of the database's PostgreSQL backends (pg-cpu-ns/op).
func BenchmarkGetManyAccess(b *testing.B) {
	be, p := newJointBackends(b, "storage_pg_test_joint_bench", Options{PoolSize: 4, WriteWorkers: -1})
	keys, queries := jointFixture(b, be, p)
	ctx := context.Background()
	if _, err := be.pool.Exec(ctx, `
		INSERT INTO objects (resource_name, parent_id, id, last_modified, data)
		SELECT 'record', '/buckets/b/collections/c' || (i % 100), 'r' || i, i, '{"title":"a record"}'
		  FROM generate_series(1, 10000) AS i ON CONFLICT DO NOTHING;
		INSERT INTO access_control_entries (object_id, permission, principal)
		SELECT '/buckets/b' || (i % 100) || '/collections/c' || (i % 1000) || '/records/r' || i, p, 'basicauth:u' || (i % 5000)
		  FROM generate_series(1, 20000) i, unnest(ARRAY['read', 'write']) p;
		INSERT INTO user_principals (user_id, principal)
		SELECT 'basicauth:u' || i, '/buckets/b' || (i % 100) || '/groups/g' || k
		  FROM generate_series(1, 5000) i, generate_series(1, 2) k`); err != nil {
		b.Fatal(err)
	}
	// As autovacuum leaves them: the visibility map set, statistics up to date.
	if _, err := be.pool.Exec(ctx, `VACUUM ANALYZE objects, access_control_entries, user_principals`); err != nil {
		b.Fatal(err)
	}
	k, q := keys[0], queries[0]
	sequential := func() ([]storage.Object, permission.Access, error) {
		objs, err := be.GetMany(ctx, k)
		if err != nil {
			return nil, permission.Access{}, err
		}
		a, err := p.Access(ctx, q)
		return objs, a, err
	}
	concurrent := func() ([]storage.Object, permission.Access, error) {
		var (
			a    permission.Access
			aerr error
			done = make(chan struct{})
		)
		go func() {
			defer close(done)
			a, aerr = p.Access(ctx, q)
		}()
		objs, err := be.GetMany(ctx, k)
		<-done
		if err != nil {
			return nil, permission.Access{}, err
		}
		return objs, a, aerr
	}
	joint := func() ([]storage.Object, permission.Access, error) {
		objs, a, err := be.GetManyAccess(ctx, k, p, q)
		if errors.Is(err, storage.ErrNotSupported) {
			b.Fatal("GetManyAccess declined")
		}
		return objs, a, err
	}
	// The same on a permission backend that keeps no groups: its statement reads them.
	reading, err := permpg.New(ctx, permpg.Options{URL: be.pool.Config().ConnConfig.ConnString(), PoolSize: 2, GroupsCacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer reading.Close()
	jointReading := func() ([]storage.Object, permission.Access, error) {
		return be.GetManyAccess(ctx, k, reading, q)
	}
	wantObjs, wantAccess, err := sequential()
	if err != nil {
		b.Fatal(err)
	}
	if len(wantAccess.Groups) != 3 || len(wantAccess.Held) != 3 || len(wantAccess.ACEs) != 2 || wantObjs[2].ID != "r" {
		b.Fatalf("the fixture changed: %+v %+v", wantObjs, wantAccess)
	}
	// For reference: each half alone, and the cost of any statement (SELECT 1).
	getMany := func() ([]storage.Object, permission.Access, error) {
		objs, err := be.GetMany(ctx, k)
		return objs, wantAccess, err
	}
	access := func() ([]storage.Object, permission.Access, error) {
		a, err := p.Access(ctx, q)
		return wantObjs, a, err
	}
	selectOne := func() ([]storage.Object, permission.Access, error) {
		_, err := be.pool.Exec(ctx, "SELECT 1")
		return wantObjs, wantAccess, err
	}
	for _, run := range []struct {
		name string
		f    func() ([]storage.Object, permission.Access, error)
	}{
		{"GetManyAccess", joint}, {"GetManyAccess/groups-read", jointReading}, {"GetMany+Access", sequential}, {"GetMany||Access", concurrent},
		{"GetMany", getMany}, {"Access", access}, {"SELECT1", selectOne},
	} {
		objs, a, err := run.f()
		if err != nil || !reflect.DeepEqual(objs, wantObjs) || !reflect.DeepEqual(a, wantAccess) {
			b.Fatalf("%s = %+v %+v %v\nwant %+v %+v", run.name, objs, a, err, wantObjs, wantAccess)
		}
		b.Run(run.name, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			defer reportPostgresCPU(b, be)()
			for b.Loop() {
				if _, _, err := run.f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportPostgresCPU reports the CPU time that the PostgreSQL backends of be's database used
// per operation ("pg-cpu-ns/op"), from the call to the call of the function it returns:
// the database's share of a call, even while other databases of the server are busy. It
// needs the server on this machine (it reads /proc), and reports nothing otherwise. The
// database must be this benchmark's alone.
func reportPostgresCPU(b *testing.B, be *Backend) func() {
	start, ok := backendsCPU(b, be)
	if !ok {
		return func() {}
	}
	return func() {
		end, _ := backendsCPU(b, be)
		var used int64
		for pid, ns := range end {
			used += ns - start[pid] // a backend started meanwhile started at 0
		}
		b.ReportMetric(float64(used)/float64(b.N), "pg-cpu-ns/op")
	}
}

// backendsCPU returns the user and system CPU time (in ns) used so far by each backend
// process connected to be's database; false when /proc does not show them.
func backendsCPU(b *testing.B, be *Backend) (map[int]int64, bool) {
	rows, err := be.pool.Query(context.Background(),
		`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	out := map[int]int64{}
	for _, pid := range pids {
		raw, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
		if err != nil {
			return nil, false
		}
		closing := strings.LastIndexByte(string(raw), ')')
		f := strings.Fields(string(raw[closing+2:]))
		if closing < 0 || len(f) < 13 {
			return nil, false
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[int(pid)] = (ut + st) * 10_000_000 // clock ticks of 10 ms (USER_HZ 100)
	}
	return out, true
}
