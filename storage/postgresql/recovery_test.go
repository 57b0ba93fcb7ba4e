package postgresql

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
)

func TestServerFailureGivesBackendErrorsAndThePoolRecovers(t *testing.T) {
	c := testenv.StartPostgresCluster(t, "storage-pg-recovery")
	ctx := context.Background()
	const poolTimeout = time.Second
	b, err := New(ctx, Options{URL: c.URL(), PoolTimeout: poolTimeout, PoolSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	s := storage.Scope{Resource: "r", Parent: "p"}
	first := mustCreate(t, b, s, "first", `{"a":1}`)

	c.Stop()
	calls := map[string]func() error{
		"create":    func() error { _, err := b.Create(ctx, s, storage.Object{}); return err },
		"get":       func() error { _, err := b.Get(ctx, s, "first"); return err },
		"list":      func() error { _, err := b.List(ctx, s, storage.ListOptions{}); return err },
		"timestamp": func() error { _, err := b.Timestamp(ctx, s); return err },
		"ping":      func() error { return b.Ping(ctx, true) },
	}
	for op, call := range calls {
		start := time.Now()
		err := call()
		var be *storage.BackendError
		if !errors.As(err, &be) || be.Backend != "postgresql" || be.Op != op {
			t.Errorf("%s with the server down: %v, want *storage.BackendError{postgresql, %s}", op, err, op)
		}
		if d := time.Since(start); d > poolTimeout+time.Second {
			t.Errorf("%s took %s with a pool timeout of %s", op, d, poolTimeout)
		}
	}
	// A unit of work fails the same way at its first write.
	txCtx, tx, _ := b.Begin(ctx)
	if _, err := b.Update(txCtx, s, storage.Object{ID: "x"}, storage.Condition{}); !errors.As(err, new(*storage.BackendError)) {
		t.Errorf("write in a unit of work with the server down: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("Rollback of a unit that never started: %v", err)
	}

	c.Start()
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 1; ; attempt++ {
		_, err := b.Get(ctx, s, "first")
		if err == nil {
			t.Logf("recovered at attempt %d", attempt)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backend did not recover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	second := mustCreate(t, b, s, "second", `{}`)
	if second.LastModified <= first.LastModified {
		t.Fatalf("timestamp after restart %d not above %d", second.LastModified, first.LastModified)
	}
	if err := b.Ping(ctx, false); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
}
