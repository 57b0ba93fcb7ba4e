package testenv_test

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// A package's test helpers pick the database, the Redis database number and the key prefix
// that keep its tests away from the other packages'. Without the servers the tests skip, or
// fail when CI is set.
func Example() {
	_ = func(t *testing.T) (pgURL, redisURL, prefix string) {
		pgURL = testenv.PostgresDatabase(t, "mypkg_test") // created when missing
		redisURL = testenv.RedisURL(t, 9)                 // this package's Redis database
		prefix = testenv.UniquePrefix(t, "mypkg:")        // "mypkg:1f0c9a3e:"
		return pgURL, redisURL, prefix
	}
}

// A Buffer collects the logs of server goroutines while the test reads them.
func ExampleBuffer() {
	var logs testenv.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("listening", "addr", "127.0.0.1:8888")
	fmt.Print(logs.String())
	// Output: level=INFO msg=listening addr=127.0.0.1:8888
}
