package postgresql

import (
	"context"
	"reflect"
	"testing"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// BenchmarkGetManyAccess compares the authorization read of a Kinto record GET (3 keys: the
// bucket, the collection and the record; 4 objects to check: those and the records' plural
// URI, the record's ACEs in full; 3 principals, the user having 2 groups of its own and 2
// through Authenticated) made as one GetManyAccess with GetMany then Access, run one after
// the other, and run concurrently (the resource layer's fallback). The tables hold 10,000
// other records, 40,000 other ACEs and 10,000 other group memberships. All three compute the
// same answer (checked once).
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
		  FROM generate_series(1, 5000) i, generate_series(1, 2) k;
		ANALYZE objects, access_control_entries, user_principals`); err != nil {
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
		objs, a, ok, err := be.GetManyAccess(ctx, k, p, q)
		if !ok {
			b.Fatal("GetManyAccess declined")
		}
		return objs, a, err
	}
	wantObjs, wantAccess, err := sequential()
	if err != nil {
		b.Fatal(err)
	}
	if len(wantAccess.Groups) != 3 || len(wantAccess.Held) != 3 || len(wantAccess.ACEs) != 2 || wantObjs[2].ID != "r" {
		b.Fatalf("the fixture changed: %+v %+v", wantObjs, wantAccess)
	}
	for _, run := range []struct {
		name string
		f    func() ([]storage.Object, permission.Access, error)
	}{{"GetManyAccess", joint}, {"GetMany+Access", sequential}, {"GetMany||Access", concurrent}} {
		objs, a, err := run.f()
		if err != nil || !reflect.DeepEqual(objs, wantObjs) || !reflect.DeepEqual(a, wantAccess) {
			b.Fatalf("%s = %+v %+v %v\nwant %+v %+v", run.name, objs, a, err, wantObjs, wantAccess)
		}
		b.Run(run.name, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, _, err := run.f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
