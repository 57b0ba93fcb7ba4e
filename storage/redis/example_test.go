package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/redis"
)

// Example opens the backend on a local server and writes, reads and lists one object. It
// needs a Redis server, so it is compiled but not run.
func Example() {
	ctx := context.Background()
	b, err := redis.New(ctx, redis.Options{URL: "redis://localhost:6379/1", Prefix: "myapp:"})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	bookmarks := storage.Scope{Resource: "bookmark", Parent: "basicauth:alice"}
	created, err := b.Create(ctx, bookmarks, storage.Object{Data: json.RawMessage(`{"url":"https://example.com"}`)})
	if err != nil {
		log.Fatal(err)
	}
	got, err := b.Get(ctx, bookmarks, created.ID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(got.Data))

	recent, err := b.List(ctx, bookmarks, storage.ListOptions{
		Filters: []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: created.LastModified - 1}},
		Sort:    []storage.Sort{{Field: "last_modified", Desc: true}},
		Limit:   20,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(recent))
}

// ExampleOptionsFromSettings shows how the settings map onto [redis.Options].
func ExampleOptionsFromSettings() {
	s := config.MustFromMap(map[string]string{
		"storage_url":          "redis://cache.internal:6379/2",
		"storage_pool_size":    "10",
		"storage_pool_timeout": "1.5",
		"storage_prefix":       "kinto:",
	}, config.Options{Env: []string{}})
	opt, err := redis.OptionsFromSettings(s)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(opt.URL, opt.PoolSize, opt.PoolTimeout, opt.Prefix)
	// Output: redis://cache.internal:6379/2 10 1.5s kinto:
}
