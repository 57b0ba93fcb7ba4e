package feed_test

import (
	"context"
	"fmt"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/feed"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// Example follows one collection of a memory backend: the hub announces each committed
// write to the subscribers that may read it.
func Example() {
	ctx := context.Background()
	store := memory.New(nil)
	hub, err := feed.New(store, feed.Options{})
	if err != nil {
		panic(err)
	}
	defer hub.Close()
	notes := storage.Scope{Resource: "note", Parent: "alice"}
	stream, err := hub.Subscribe(ctx, feed.Subscriber{
		Scope:     notes,
		Authorize: func(context.Context) (feed.Access, error) { return feed.Access{All: true}, nil },
	})
	if err != nil {
		panic(err)
	}
	defer stream.Close()

	if _, err := store.Create(ctx, notes, storage.Object{ID: "n1", Data: []byte(`{"text": "hello"}`)}); err != nil {
		panic(err)
	}
	<-stream.Ready()
	events, _ := stream.Take()
	for _, e := range events {
		fmt.Printf("%s %s %s\n", e.Action, e.Object.ID, e.Object.Data)
	}
	// Output: create n1 {"text":"hello"}
}
