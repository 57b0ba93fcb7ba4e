package redis_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/redis"
)

// The backend needs a server, so this example is compiled but not run.
func ExampleNew() {
	ctx := context.Background()
	b, err := redis.New(redis.Options{
		URL:    "redis://127.0.0.1:6379/1",
		Prefix: "myapp:permission:", // keys of several applications can share one database
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	if err := b.AddUserPrincipal(ctx, "basicauth:alice", "/groups/editors"); err != nil {
		log.Fatal(err)
	}
	if err := b.AddPrincipalToACE(ctx, "/articles/a1", "write", "/groups/editors"); err != nil {
		log.Fatal(err)
	}
	groups, err := b.UserPrincipals(ctx, "basicauth:alice")
	if err != nil {
		log.Fatal(err)
	}
	principals := append([]string{"basicauth:alice", permission.Authenticated, permission.Everyone}, groups...)
	ok, err := b.CheckPermission(ctx, principals, []permission.Binding{{ObjectID: "/articles/a1", Permission: "write"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("alice may write a1:", ok)
}
