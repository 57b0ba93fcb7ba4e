package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/redis"
	"github.com/cliquet-go/cliquet/storage/storagetest"
)

// harness gives every subtest a backend on its own key prefix under root; TestConformance
// flushes root at the end.
type harness struct {
	url  string
	root string
}

func (h harness) New(ctx context.Context, t *testing.T) storage.Backend {
	b, err := redis.New(ctx, redis.Options{URL: h.url, Prefix: testenv.UniquePrefix(t, h.root), PoolSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (h harness) Broken(ctx context.Context, t *testing.T) storage.Backend {
	b, err := redis.New(ctx, redis.Options{
		URL:         "redis://" + testenv.FreeAddr(t) + "/3",
		DialTimeout: 100 * time.Millisecond, PoolTimeout: 100 * time.Millisecond, MaxRetries: -1, DialerRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Lacks declares the optional capabilities a Redis backend lacks.
func (harness) Lacks() []storagetest.Capability {
	return []storagetest.Capability{storagetest.Transactor, storagetest.Migrator}
}

func TestConformance(t *testing.T) {
	h := harness{url: testURL(t), root: testenv.UniquePrefix(t, "cliquettest:conformance:")}
	newBackend(t, h.root) // its cleanup flushes every subtest's keys (they share the root prefix)
	storagetest.Run(t, h)
}
