package redis

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/internal/fanout"
)

// listenPing is how long the subscription may stay silent before it is checked with a
// PING: a connection lost without a word (a network cut) is noticed within twice that.
const listenPing = 30 * time.Second

// channel is where the write scripts publish: "<prefix>changes" (see announce in
// scripts.go). Backends on one server share it when they share the prefix, that is when
// they share the data.
func (b *Backend) channel() string { return b.prefix + "changes" }

// Listen implements storage.Backend: one pub/sub connection per Backend (not taken from the
// pool), subscribed to the channel the write scripts publish on, opened at the first Listen
// and closed after the last stop. When it breaks it is opened again, and the listeners then
// get a storage.Change whose Lost is true.
func (b *Backend) Listen(ctx context.Context, fn func(storage.Change)) (func(), error) {
	return b.changes.Listen(ctx, fn)
}

// listenSource is the fanout.Source of Listen.
func (b *Backend) listenSource(ctx context.Context, send func(storage.Change)) (func(), error) {
	ps, err := b.subscribe(ctx)
	if err != nil {
		return nil, fail("listen", err)
	}
	l := &subscription{ps: ps}
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.receive(lctx, l, send)
	}()
	return func() {
		cancel()
		l.close() // a pending receive returns at once
		<-done
	}, nil
}

// subscription is the current pub/sub connection of a listening Backend: the receiving
// goroutine replaces it when it breaks, and the stop function closes it.
type subscription struct {
	mu     sync.Mutex
	ps     *goredis.PubSub
	closed bool
}

func (l *subscription) get() *goredis.PubSub {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ps
}

// replace makes ps the current connection; false (and ps closed) after close.
func (l *subscription) replace(ps *goredis.PubSub) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		ps.Close()
		return false
	}
	l.ps = ps
	return true
}

func (l *subscription) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.ps.Close()
}

// subscribe subscribes to the channel and waits for the server's confirmation.
func (b *Backend) subscribe(ctx context.Context) (*goredis.PubSub, error) {
	ps := b.client.Subscribe(ctx)
	if err := ps.Subscribe(ctx, b.channel()); err != nil {
		ps.Close()
		return nil, err
	}
	msg, err := ps.ReceiveTimeout(ctx, b.client.Options().PoolTimeout)
	if err == nil {
		if _, ok := msg.(*goredis.Subscription); !ok {
			err = errors.New("unexpected first pub/sub message")
		}
	}
	if err != nil {
		ps.Close()
		return nil, err
	}
	return ps, nil
}

// receive hands the messages of l's connection to send until ctx ends, subscribing again
// when the connection breaks or stops answering.
func (b *Backend) receive(ctx context.Context, l *subscription, send func(storage.Change)) {
	pinged := false
	for {
		ps := l.get()
		msg, err := ps.ReceiveTimeout(ctx, listenPing)
		if ctx.Err() != nil {
			return
		}
		var ne net.Error
		switch {
		case err == nil:
			pinged = false
			switch m := msg.(type) {
			case *goredis.Message:
				if c, ok := b.parseChange(m.Payload); ok {
					send(c)
				}
			case *goredis.Subscription:
				// go-redis subscribed again on a new connection after an error: changes may
				// have been missed meanwhile.
				send(storage.Change{Lost: true})
			}
			continue
		case errors.As(err, &ne) && ne.Timeout() && !pinged:
			if ps.Ping(ctx) == nil {
				pinged = true
				continue
			}
		}
		ps.Close()
		var ok bool
		if ps, ok = fanout.Reopen(ctx, b.subscribe); !ok || !l.replace(ps) {
			return // stopped
		}
		pinged = false
		send(storage.Change{Lost: true})
	}
}

// parseChange decodes a message of the channel: "<clock> <action> <clock key>".
func (b *Backend) parseChange(payload string) (storage.Change, bool) {
	ts, rest, ok := strings.Cut(payload, " ")
	if !ok {
		return storage.Change{}, false
	}
	action, key, ok := strings.Cut(rest, " ")
	if !ok {
		return storage.Change{}, false
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return storage.Change{}, false
	}
	s, ok := b.scopeOf(key)
	if !ok {
		return storage.Change{}, false
	}
	return storage.Change{Scope: s, Timestamp: n, Action: storage.Action(action)}, true
}

// scopeOf is the inverse of keys(s).clock.
func (b *Backend) scopeOf(key string) (storage.Scope, bool) {
	inner, ok := strings.CutPrefix(key, b.prefix+"{")
	if !ok {
		return storage.Scope{}, false
	}
	if inner, ok = strings.CutSuffix(inner, "}:ts"); !ok {
		return storage.Scope{}, false
	}
	res, par, ok := strings.Cut(inner, ":")
	if !ok {
		return storage.Scope{}, false
	}
	r, ok1 := unescapeComponent(res)
	p, ok2 := unescapeComponent(par)
	return storage.Scope{Resource: r, Parent: p}, ok1 && ok2
}

// unescapeComponent is the inverse of escapeComponent.
func unescapeComponent(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			sb.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		sb.WriteByte(byte(v))
		i += 2
	}
	return sb.String(), true
}
