package redis_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"github.com/cliquet-go/cliquet/cache/redis"
)

// Give each application sharing a Redis database its own prefix: Flush only removes the keys
// under it.
func ExampleNew() {
	ctx := context.Background()
	c, err := redis.New(ctx, redis.Options{
		URL:    os.Getenv("CLIQUET_TEST_REDIS_URL"),       // redis://host:6379/1
		Prefix: "myapp" + strconv.Itoa(os.Getpid()) + "_", // here: one per test process
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if err := c.Set(ctx, "token", []byte("alice"), time.Hour); err != nil {
		log.Fatal(err)
	}
	v, err := c.Get(ctx, "token")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(v))
	_ = c.Flush(ctx) // deletes the keys under the prefix only
}
