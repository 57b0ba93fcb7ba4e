package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/cache/memory"
)

func ExampleNew() {
	ctx := context.Background()
	c := memory.New(&memory.Options{Prefix: "myapp_"})
	defer c.Close()

	if err := c.Set(ctx, "token", []byte("alice"), time.Hour); err != nil {
		panic(err)
	}
	v, _ := c.Get(ctx, "token")
	fmt.Println(string(v))

	_ = c.Delete(ctx, "token")
	_, err := c.Get(ctx, "token")
	fmt.Println(errors.Is(err, cache.ErrNotFound))
	// Output:
	// alice
	// true
}

func ExampleBackend_WithPrefix() {
	ctx := context.Background()
	shared := memory.New(nil)
	app1, app2 := shared.WithPrefix("app1_"), shared.WithPrefix("app2_")

	_ = app1.Set(ctx, "nonce", []byte("one"), time.Minute)
	_ = app2.Set(ctx, "nonce", []byte("two"), time.Minute)
	_ = app1.Flush(ctx) // only app1's keys

	v, _ := shared.Get(ctx, "app2_nonce")
	_, err := app1.Get(ctx, "nonce")
	fmt.Println(string(v), errors.Is(err, cache.ErrNotFound))
	// Output: two true
}
