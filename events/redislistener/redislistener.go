// Package redislistener is the "redis" event listener (Cliquet's cliquet.listeners.redis):
// it pushes the JSON payload of each event (events.Event.Payload, without the objects) to
// the head of a Redis list, LPUSH <listname> <payload>, for workers to consume.
//
// Importing the package registers the listener; a service that does not import it does not
// link the Redis client:
//
//	import _ "github.com/cliquet-go/cliquet/events/redislistener"
//
// and in the settings:
//
//	event_listeners = redis
//	event_listeners.redis.url = redis://localhost:6379/0
//
// Settings under event_listeners.<name>.: url (required, redis://host:port/db), pool_size
// (default 25), listname (default [DefaultListName]). As in Cliquet, a Redis failure is
// logged and does not fail the request.
package redislistener

import (
	"context"
	"fmt"
	"io"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/protocol"
)

// DefaultListName is the Redis list the listener pushes to when
// event_listeners.<name>.listname is not set.
const DefaultListName = "cliquet.events"

func init() { events.RegisterListener("redis", New) }

// New is the listener's [events.ListenerFactory], registered as "redis".
func New(ctx context.Context, cfg events.ListenerConfig) (events.Listener, io.Closer, error) {
	s, prefix := cfg.Settings, cfg.Prefix
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
		listname = DefaultListName
	}
	client := goredis.NewClient(opts)
	logger := cfg.Logger
	fn := func(ctx context.Context, e events.Event) error {
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
