package postgresql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
)

func TestAWriteThroughOneWebHeadIsHeardByAnother(t *testing.T) {
	url := testDatabase(t, "storage_pg_test_notify")
	ctx := context.Background()
	listener, writer := newTestBackend(t, Options{URL: url}), newTestBackend(t, Options{URL: url, WriteWorkers: -1})
	changes := testenv.Listen(t, listener)
	s := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/heads"}

	start := time.Now()
	o, err := writer.Create(ctx, s, storage.Object{Data: []byte(`{"a": 1}`)})
	if err != nil {
		t.Fatal(err)
	}
	c := changes.Await(t, time.Second, testenv.At(s, o.LastModified))
	if c.Action != storage.ActionCreate {
		t.Errorf("action %q, want create", c.Action)
	}
	t.Logf("heard after %s", time.Since(start))

	// In a unit of work: announced at the commit, with the actions of each write.
	uctx, tx, _ := writer.Begin(ctx)
	u, err := writer.Update(uctx, s, storage.Object{ID: o.ID, Data: []byte(`{"a": 2}`)}, storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := writer.Delete(uctx, s, o.ID, 0, storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for _, c := range changes.All() {
		if c.Timestamp == u.LastModified || c.Timestamp == d.LastModified {
			t.Fatalf("announced before the commit: %+v", c)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if c := changes.Await(t, time.Second, testenv.At(s, u.LastModified)); c.Action != storage.ActionUpdate {
		t.Errorf("action %q, want update", c.Action)
	}
	if c := changes.Await(t, time.Second, testenv.At(s, d.LastModified)); c.Action != storage.ActionDelete {
		t.Errorf("action %q, want delete", c.Action)
	}
}

func TestNoNotifyAnnouncesNothing(t *testing.T) {
	url := testDatabase(t, "storage_pg_test_notify")
	ctx := context.Background()
	listener, quiet := newTestBackend(t, Options{URL: url}), newTestBackend(t, Options{URL: url, NoNotify: true})
	if _, err := quiet.Listen(ctx, func(storage.Change) {}); !errors.Is(err, storage.ErrNotifyDisabled) {
		t.Fatalf("Listen with NoNotify: got %v, want ErrNotifyDisabled", err)
	}
	changes := testenv.Listen(t, listener)
	s := storage.Scope{Resource: "record", Parent: "quiet"}
	if _, err := quiet.Create(ctx, s, storage.Object{}); err != nil {
		t.Fatal(err)
	}
	if _, err := quiet.DeleteAll(ctx, s, storage.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	loud, err := listener.Create(ctx, s, storage.Object{})
	if err != nil {
		t.Fatal(err)
	}
	changes.Await(t, time.Second, testenv.At(s, loud.LastModified))
	if got := changes.All(); len(got) != 1 {
		t.Fatalf("changes %+v, want only the write of the notifying backend", got)
	}
}

func TestAScopeTooLongForAPayloadIsALostChange(t *testing.T) {
	b := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_notify")})
	changes := testenv.Listen(t, b)
	s := storage.Scope{Resource: "record", Parent: strings.Repeat("/long", 2000)}
	if _, err := b.Create(context.Background(), s, storage.Object{}); err != nil {
		t.Fatal(err)
	}
	changes.Await(t, time.Second, func(c storage.Change) bool { return c.Lost })
}

func TestTheListenerComesBackAfterItsConnectionIsKilled(t *testing.T) {
	b := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_notify")})
	testenv.ListenerComesBack(t, b, func() error {
		var killed int
		err := b.pool.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, listenerName).Scan(&killed)
		if err == nil && killed != 1 {
			err = fmt.Errorf("%d listening connections killed, want 1", killed)
		}
		return err
	})
}
