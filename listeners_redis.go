package cliquet

import (
	"context"
	"fmt"
	"io"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/protocol"
)

// DefaultRedisListName is the Redis list the redis listener pushes to when
// event_listeners.<name>.listname is not set.
const DefaultRedisListName = "cliquet.events"

func init() { RegisterListener("redis", newRedisListener) }

// newRedisListener is the built-in "redis" listener (Cliquet's cliquet.listeners.redis): it
// pushes the JSON payload of each event (Event.Payload, without the objects) to the head of
// a Redis list, LPUSH <listname> <payload>, for workers to consume. Settings under prefix:
// url (required, redis://host:port/db), pool_size (default 25), listname (default
// cliquet.events). As in Cliquet, a Redis failure is logged and does not fail the request.
func newRedisListener(ctx context.Context, app *App, prefix string) (Listener, io.Closer, error) {
	s := app.Settings
	url := s.String(prefix + "url")
	if url == "" {
		return nil, nil, fmt.Errorf("setting %q is not set", prefix+"url")
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("setting %q: %w", prefix+"url", err)
	}
	opts.PoolSize = 25
	if n, set, err := s.OptionalInt(prefix + "pool_size"); err != nil {
		return nil, nil, err
	} else if set && n > 0 {
		opts.PoolSize = n
	}
	listname := s.String(prefix + "listname")
	if listname == "" {
		listname = DefaultRedisListName
	}
	client := goredis.NewClient(opts)
	logger := app.Logger
	fn := func(ctx context.Context, e Event) error {
		payload, err := protocol.MarshalJSON(e.Payload())
		if err != nil {
			logger.ErrorContext(ctx, "redis listener: cannot encode the payload", "event", e.String(), "error", err.Error())
			return nil
		}
		// The push outlives a client that went away: the write is committed anyway.
		if err := client.LPush(context.WithoutCancel(ctx), listname, payload).Err(); err != nil {
			logger.ErrorContext(ctx, "redis listener: cannot push the payload", "list", listname, "event", e.String(), "error", err.Error())
		}
		return nil
	}
	return fn, client, nil
}
