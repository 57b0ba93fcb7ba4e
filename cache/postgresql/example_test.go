package postgresql_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/cliquet-go/cliquet/cache/postgresql"
)

// The schema is created once, by the migrate command, before the application serves
// requests.
func ExampleNew() {
	ctx := context.Background()
	c, err := postgresql.New(ctx, postgresql.Options{
		URL:    os.Getenv("CLIQUET_TEST_POSTGRES_DSN"),
		Prefix: "myapp_",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.InitializeSchema(ctx, false); err != nil {
		log.Fatal(err)
	}

	if err := c.Set(ctx, "token", []byte("alice"), time.Hour); err != nil {
		log.Fatal(err)
	}
	v, err := c.Get(ctx, "token")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(v))
}
