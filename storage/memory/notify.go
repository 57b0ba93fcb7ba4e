package memory

import (
	"context"

	"github.com/cliquet-go/cliquet/storage"
)

// change is what a write announces once it is visible; the zero value announces nothing.
type change struct {
	ts     int64
	action storage.Action
}

// announce sends the change *ch to the listeners (see Listen). The writes defer it before
// they take the collection lock, so that it runs after the unlock, once the write is
// visible to every reader.
func (b *Backend) announce(s storage.Scope, ch *change) {
	if ch.ts == 0 || !b.changes.Active() {
		return
	}
	b.changes.Send(storage.Change{Scope: s, Timestamp: ch.ts, Action: ch.action})
}

// Listen implements [storage.Notifier]: the writes made through this Backend value are
// announced in process, by the writing goroutine, once they are visible. (Two Backend values
// share nothing, so they do not hear each other's writes.)
func (b *Backend) Listen(ctx context.Context, fn func(storage.Change)) (func(), error) {
	if err := b.check(ctx, "listen"); err != nil {
		return nil, err
	}
	return b.changes.Listen(ctx, fn)
}
