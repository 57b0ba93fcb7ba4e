package memory_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/permission/permissiontest"
)

type harness struct{}

func (harness) New(context.Context, *testing.T) permission.Backend { return memory.New() }

// Broken returns a closed backend: every call fails with a *permission.BackendError.
func (harness) Broken(_ context.Context, t *testing.T) permission.Backend {
	b := memory.New()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return b
}

// Lacks declares the optional capabilities a memory backend lacks.
func (harness) Lacks() []permissiontest.Capability {
	return []permissiontest.Capability{permissiontest.Migrator, permissiontest.Shared}
}

func TestConformance(t *testing.T) { permissiontest.Run(t, harness{}) }

func TestAClosedBackendFailsWithErrClosed(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	if err := b.AddPrincipalToACE(ctx, "/a", "read", "u"); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := b.ObjectPermissions(ctx, "/a")
	var be *permission.BackendError
	if !errors.As(err, &be) || !errors.Is(err, memory.ErrClosed) || be.Op != "object_permissions" {
		t.Errorf("ObjectPermissions after Close: %v, want a *permission.BackendError (op object_permissions) wrapping memory.ErrClosed", err)
	}
}

// Memory-specific tests.

func TestRegisteredAsMemory(t *testing.T) {
	s := config.MustFromMap(nil, config.Options{Env: []string{}})
	for _, name := range []string{"memory", "cliquet.permission.memory", "kinto.core.permission.memory"} {
		b, err := permission.Open(context.Background(), name, s)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if _, ok := b.(*memory.Backend); !ok {
			t.Errorf("Open(%q) = %T, want *memory.Backend", name, b)
		}
	}
}

func TestBackendsAreIndependent(t *testing.T) {
	ctx := context.Background()
	a, b := memory.New(), memory.New()
	if err := a.AddPrincipalToACE(ctx, "/x", "read", "u"); err != nil {
		t.Fatal(err)
	}
	got, err := b.ObjectPermissions(ctx, "/x")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("a second backend sees %v, want nothing", got)
	}
}
