package postgresql

import (
	"context"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/storagetest"
)

// harness runs the conformance suite on a database of its own, emptied for every subtest.
type harness struct {
	url          string
	writeWorkers int // Options.WriteWorkers
}

func (h harness) New(ctx context.Context, t *testing.T) storage.Backend {
	b := newTestBackend(t, Options{URL: h.url, WriteWorkers: h.writeWorkers})
	if err := b.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return b
}

// Lacks declares that the PostgreSQL backend provides every optional capability: the suite
// fails if one is missing.
func (harness) Lacks() []storagetest.Capability { return nil }

// Broken returns a backend pointed at a closed port, with a short pool timeout.
func (h harness) Broken(ctx context.Context, t *testing.T) storage.Backend {
	b, err := New(ctx, Options{URL: "postgres://postgres@" + testenv.FreeAddr(t) + "/nowhere?sslmode=disable",
		PoolTimeout: 300 * time.Millisecond, WriteWorkers: h.writeWorkers})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformance runs the suite with the write pipeline (the default), so single writes go
// through it; TestConformanceWithoutWritePipeline runs it with every write on a pooled
// connection of its own.
func TestConformance(t *testing.T) {
	storagetest.Run(t, harness{url: testDatabase(t, "storage_pg_test_conformance")})
}

func TestConformanceWithoutWritePipeline(t *testing.T) {
	storagetest.Run(t, harness{url: testDatabase(t, "storage_pg_test_conformance_nopipe"), writeWorkers: -1})
}
