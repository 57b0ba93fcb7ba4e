package cliquet

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/storage"
	stmemory "github.com/cliquet-go/cliquet/storage/memory"
)

// tombstoneIn creates and deletes an object in s and returns the tombstone.
func tombstoneIn(t *testing.T, store storage.Backend, s storage.Scope) storage.Object {
	t.Helper()
	ctx := context.Background()
	o, err := store.Create(ctx, s, storage.Object{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := store.Delete(ctx, s, o.ID, 0, storage.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestPeriodicPurge(t *testing.T) {
	s := storage.Scope{Resource: "note", Parent: "p"}
	t.Run("every interval, the tombstones older than the retention are purged", func(t *testing.T) {
		store := stmemory.New(nil)
		app := newApp(t, map[string]string{"tombstones_purge_interval_seconds": "0.01", "tombstones_retention_seconds": "0.02"},
			Config{Storage: store})
		tomb := tombstoneIn(t, store, s)
		deadline := time.Now().Add(5 * time.Second)
		for {
			h, err := store.Horizon(context.Background(), s)
			if err != nil {
				t.Fatal(err)
			}
			if h == tomb.LastModified {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("horizon %d after 5 s, want %d: the job did not purge", h, tomb.LastModified)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := app.Close(); err != nil {
			t.Fatal(err)
		}
		if app.purge != nil {
			t.Error("Close left the job running")
		}
	})
	t.Run("the job needs a retention", func(t *testing.T) {
		_, err := tryApp(map[string]string{"tombstones_purge_interval_seconds": "60"}, Config{Storage: stmemory.New(nil)})
		if err == nil || !strings.Contains(err.Error(), "tombstones_retention_seconds") {
			t.Fatalf("Initialize = %v, want an error naming tombstones_retention_seconds", err)
		}
	})
	t.Run("off by default, and in readonly mode", func(t *testing.T) {
		for _, values := range []map[string]string{
			{"tombstones_retention_seconds": "0.001"},
			{"tombstones_retention_seconds": "0.001", "tombstones_purge_interval_seconds": "0.01", "readonly": "true"},
		} {
			app := newApp(t, values, Config{Storage: stmemory.New(nil)})
			if app.purge != nil {
				t.Errorf("settings %v started the job", values)
			}
		}
	})
}

func TestPurgeTombstones(t *testing.T) {
	s := storage.Scope{Resource: "note", Parent: "p"}
	store := stmemory.New(nil)
	app := newApp(t, nil, Config{Storage: store})
	ctx := context.Background()
	if _, err := PurgeTombstones(ctx, app, 0); !errors.Is(err, ErrNoRetention) {
		t.Errorf("PurgeTombstones without a retention = %v, want ErrNoRetention", err)
	}
	if _, err := PurgeTombstones(ctx, app, -time.Second); err == nil {
		t.Error("a negative retention was accepted")
	}
	// The retention falls halfway between the two tombstones, with room for a slow
	// machine between the second one and the purge.
	old := tombstoneIn(t, store, s)
	time.Sleep(400 * time.Millisecond)
	tombstoneIn(t, store, s)
	n, err := PurgeTombstones(ctx, app, 200*time.Millisecond)
	if err != nil || n != 1 {
		t.Fatalf("PurgeTombstones = %d, %v; want the older tombstone", n, err)
	}
	if h, _ := store.Horizon(ctx, s); h != old.LastModified {
		t.Errorf("horizon %d, want %d", h, old.LastModified)
	}
}
