package memory_test

import (
	"context"
	"testing"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/permission/permissiontest"
)

func TestConformance(t *testing.T) {
	permissiontest.Run(t, permissiontest.HarnessFunc(func(context.Context, *testing.T) permission.Backend { return memory.New() }))
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
