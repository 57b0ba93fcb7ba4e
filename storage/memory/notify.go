package memory

import (
	"context"

	"github.com/cliquet-go/cliquet/storage"
)

// announce sends a write to the listeners (see Listen). The writes call it while they still
// hold the collection's lock: the listeners then hear the writes of a collection in
// timestamp order, and a reader they wake up waits for the lock, so it sees the write.
func (b *Backend) announce(s storage.Scope, ts int64, action storage.Action) {
	if !b.changes.Active() {
		return
	}
	b.changes.Send(storage.Change{Scope: s, Timestamp: ts, Action: action})
}

// Listen implements [storage.Backend]: the writes made through this Backend value are
// announced in process, by the writing goroutine, in timestamp order within a collection.
// (Two Backend values share nothing, so they do not hear each other's writes.)
func (b *Backend) Listen(ctx context.Context, fn func(storage.Change)) (func(), error) {
	if err := b.check(ctx, "listen"); err != nil {
		return nil, err
	}
	return b.changes.Listen(ctx, fn)
}
