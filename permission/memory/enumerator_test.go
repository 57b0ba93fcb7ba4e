package memory_test

import (
	"context"
	"fmt"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
)

// MatchingObjects and PrincipalUsers list what DeleteObjectPermissions with a pattern and
// RemovePrincipal are about to change, so that cliquet's permission journal can record it.
func ExampleBackend_MatchingObjects() {
	ctx := context.Background()
	b := memory.New()
	defer b.Close()

	_ = b.AddPrincipalToACE(ctx, "/buckets/b1", "write", "basicauth:alice")
	_ = b.AddPrincipalToACE(ctx, "/buckets/b1/collections/c1", "read", "/buckets/b1/groups/g")
	_ = b.AddPrincipalToACE(ctx, "/buckets/b1/groups/g", "write", "basicauth:alice")
	_ = b.AddPrincipalToACE(ctx, "/buckets/b10", "write", "basicauth:bob")
	_ = b.AddUserPrincipal(ctx, "basicauth:bob", "/buckets/b1/groups/g")
	_ = b.AddUserPrincipal(ctx, permission.Authenticated, "/buckets/b1/groups/g")

	objects, _ := b.MatchingObjects(ctx, "/buckets/b1/*")
	users, _ := b.PrincipalUsers(ctx, "/buckets/b1/groups/g")
	fmt.Println(objects)
	fmt.Println(users)
	// Output:
	// [/buckets/b1/collections/c1 /buckets/b1/groups/g]
	// [basicauth:bob system.Authenticated]
}
