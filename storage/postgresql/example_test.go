package postgresql_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/postgresql"
)

// Example opens the backend, brings its schema up to date (the migrate step), then writes
// inside a unit of work and polls the collection with a _since filter. It needs a server, so
// it is compiled but not run.
func Example() {
	ctx := context.Background()
	b, err := postgresql.New(ctx, postgresql.Options{
		URL:      "postgres://postgres@127.0.0.1:5432/cliquet?sslmode=disable",
		PoolSize: 10,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	if err := b.InitializeSchema(ctx, false); err != nil {
		log.Fatal(err)
	}

	s := storage.Scope{Resource: "bookmark", Parent: "basicauth:alice"}
	since, err := b.Timestamp(ctx, s)
	if err != nil {
		log.Fatal(err)
	}

	txCtx, tx, err := b.Begin(ctx) // never fails on PostgreSQL: the transaction starts lazily
	if err != nil {
		log.Fatal(err)
	}
	if _, err := b.Create(txCtx, s, storage.Object{Data: []byte(`{"url": "https://example.com"}`)}); err != nil {
		_ = tx.Rollback(ctx)
		log.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		log.Fatal(err) // a *storage.BackendError when the server is unreachable
	}

	changes, err := b.List(ctx, s, storage.ListOptions{
		Filters:        []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: since}},
		Sort:           []storage.Sort{{Field: "last_modified"}},
		IncludeDeleted: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range changes {
		fmt.Println(o.ID, o.LastModified, o.Deleted)
	}
}

// Example_settings opens the backend the way cliquet does: by name, from settings. Opening
// does not connect; with no server listening, calls fail with a *storage.BackendError after
// at most storage_pool_timeout.
func Example_settings() {
	ctx := context.Background()
	settings := config.MustFromMap(map[string]string{
		"storage_url":          "postgresql://postgres@127.0.0.1:1/cliquet?sslmode=disable",
		"storage_pool_size":    "5",
		"storage_pool_timeout": "0.5",
	}, config.Options{Env: []string{}})
	b, err := storage.Open(ctx, "kinto.core.storage.postgresql", settings)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	err = b.Ping(ctx, true)
	var be *storage.BackendError
	fmt.Println(errors.As(err, &be), be.Backend, be.Op)
	// Output: true postgresql ping
}
