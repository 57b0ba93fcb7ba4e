package cachetest_test

import (
	"context"
	"testing"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/cache/cachetest"
	"github.com/cliquet-go/cliquet/cache/memory"
)

// A backend package runs the suite from a one-line test. Backends that cannot fail use
// HarnessFunc, returning views of one store under the prefixes the suite asks for; the
// others implement Harness, whose Broken method returns a backend whose calls all fail (an
// unreachable server, a closed pool).
func ExampleRun() {
	testConformance := func(t *testing.T) {
		store := memory.New(nil)
		cachetest.Run(t, cachetest.HarnessFunc(func(_ context.Context, _ *testing.T, prefix string) cache.Backend {
			return store.WithPrefix(prefix)
		}))
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T) { ... }
}

// TestHarnessFuncProvesABackendInOneLine runs the suite through the adapter, as a backend
// that cannot fail would: the subtests needing a broken backend skip, the others pass.
func TestHarnessFuncProvesABackendInOneLine(t *testing.T) {
	store := memory.New(nil)
	cachetest.Run(t, cachetest.HarnessFunc(func(_ context.Context, _ *testing.T, prefix string) cache.Backend { return store.WithPrefix(prefix) }))
}
