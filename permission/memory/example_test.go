package memory_test

import (
	"context"
	"fmt"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
)

func ExampleNew() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()

	_ = b.AddPrincipalToACE(ctx, "/articles/a1", "write", "basicauth:alice")
	_ = b.AddPrincipalToACE(ctx, "/articles/a2", "read", permission.Authenticated)
	_ = b.AddPrincipalToACE(ctx, "/comments/c1", "read", "basicauth:alice")

	ok, _ := b.CheckPermission(ctx, []string{"basicauth:alice"}, []permission.Binding{
		{ObjectID: "/articles/a1", Permission: "read"},
		{ObjectID: "/articles/a1", Permission: "write"}, // write implies read
	})
	fmt.Println("alice may read a1:", ok)

	objs, _ := b.AccessibleObjects(ctx,
		[]string{"basicauth:alice", permission.Authenticated, permission.Everyone},
		[]permission.Binding{{ObjectID: "/articles/*", Permission: "read"}, {ObjectID: "/articles/*", Permission: "write"}})
	fmt.Println(objs["/articles/a1"], objs["/articles/a2"], len(objs))
	// Output:
	// alice may read a1: true
	// [write] [read] 2
}
