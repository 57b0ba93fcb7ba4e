package permissiontest_test

import (
	"context"
	"testing"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/permission/permissiontest"
)

// A backend package runs the suite from a one-line test. Backends that cannot fail use
// HarnessFunc; the others implement Harness, whose Broken method returns a backend whose
// calls all fail (an unreachable server, a closed pool).
func ExampleRun() {
	testConformance := func(t *testing.T) {
		permissiontest.Run(t, permissiontest.HarnessFunc(func(context.Context, *testing.T) permission.Backend {
			return memory.New()
		}))
	}
	_ = testConformance // in a _test.go file: func TestConformance(t *testing.T) { ... }
}

// TestHarnessFuncProvesABackendInOneLine runs the suite through the adapter, as a backend
// that cannot fail would: the subtests needing a broken backend skip, the others pass.
func TestHarnessFuncProvesABackendInOneLine(t *testing.T) {
	permissiontest.Run(t, permissiontest.HarnessFunc(func(context.Context, *testing.T) permission.Backend { return memory.New() }))
}
