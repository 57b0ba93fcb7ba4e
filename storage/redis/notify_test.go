package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
)

func TestAWriteThroughOneWebHeadIsHeardByAnother(t *testing.T) {
	ctx := context.Background()
	prefix := testenv.UniquePrefix(t, "cliquettest:")
	listener, writer := newBackend(t, prefix), newBackend(t, prefix)
	other := newBackend(t, "") // another prefix: other data, not heard
	changes := testenv.Listen(t, listener)
	s := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/heads"}
	if _, err := other.Create(ctx, s, storage.Object{}); err != nil {
		t.Fatal(err)
	}
	o, err := writer.Create(ctx, s, storage.Object{Data: data(t, map[string]int{"a": 1})})
	if err != nil {
		t.Fatal(err)
	}
	if c := changes.Await(t, time.Second, testenv.At(s, o.LastModified)); c.Action != storage.ActionCreate {
		t.Errorf("action %q, want create", c.Action)
	}
	if got := changes.All(); len(got) != 1 {
		t.Errorf("changes %+v, want the write under the listener's prefix only", got)
	}
}

func TestTheListenerComesBackAfterItsConnectionIsKilled(t *testing.T) {
	b := newBackend(t, "")
	// Every pub/sub client of the test server: other tests' listeners come back too.
	testenv.ListenerComesBack(t, b, func() error {
		return b.Client().Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err()
	})
}
