package postgresql_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/postgresql"
)

// The backend needs a server, so this example is compiled but not run.
func ExampleNew() {
	ctx := context.Background()
	b, err := postgresql.New(ctx, postgresql.Options{
		URL:         "postgres://postgres@127.0.0.1:5432/kinto?sslmode=disable",
		PoolSize:    10,
		PoolTimeout: 5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	// Create or migrate the tables once, from the migrate command.
	if err := b.InitializeSchema(ctx, false); err != nil {
		log.Fatal(err)
	}
	if err := b.AddPrincipalToACE(ctx, "/buckets/b1/collections/c1/records/r1", "read", "basicauth:alice"); err != nil {
		log.Fatal(err)
	}
	objs, err := b.AccessibleObjects(ctx, []string{"basicauth:alice", permission.Everyone},
		[]permission.Binding{{ObjectID: "/buckets/b1/collections/*/records/*", Permission: "read"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(objs)
}

// Applications usually open the backend by name from their settings.
func ExampleFromSettings() {
	s := config.MustFromMap(map[string]string{
		"permission_backend":      "postgresql",
		"permission_url":          "postgres://postgres@127.0.0.1:5432/kinto?sslmode=disable",
		"permission_pool_size":    "10",
		"permission_pool_timeout": "5",
	}, config.Options{})
	b, err := permission.Open(context.Background(), s.String("permission_backend"), s)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
}
