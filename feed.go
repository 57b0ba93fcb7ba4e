package cliquet

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/cliquet-go/cliquet/storage/feed"
)

// setupChangeFeed creates the app's change feed hub (storage/feed) when change_feed_enabled
// and storage_notify are true. The hub listens to the backend at the first stream only; a
// backend that cannot announce its writes (its Listen declines with storage.ErrNotSupported)
// then fails the stream as one configured not to (406).
func (a *App) setupChangeFeed() error {
	s := a.Settings
	enabled, err := s.Bool("change_feed_enabled")
	if err != nil {
		return err
	}
	notify, err := s.Bool("storage_notify")
	if err != nil {
		return err
	}
	if !enabled || !notify || a.Storage == nil {
		return nil
	}
	var opts feed.Options
	for key, dst := range map[string]*int{
		"change_feed_max_streams":          &opts.MaxStreams,
		"change_feed_max_streams_per_user": &opts.MaxStreamsPerUser,
		"change_feed_buffer_size":          &opts.Buffer,
		"storage_max_fetch_size":           &opts.PageSize,
	} {
		if *dst, err = s.Int(key); err != nil {
			return err
		}
		if *dst < 0 {
			return fmt.Errorf("cliquet: setting %q = %d: want 0 or more", key, *dst)
		}
	}
	opts.Logger = a.Logger
	if a.changes, err = feed.New(a.Storage, opts); err != nil {
		return fmt.Errorf("cliquet: change feed: %w", err)
	}
	return nil
}

// ChangeFeed returns the app's change feed hub, which the resources use to serve their
// change feeds (GET on a plural URL with Accept: text/event-stream); nil when the feeds are
// disabled (change_feed_enabled or storage_notify false) or when the storage backend does
// not announce its writes. [App.Close] closes it, which ends the open streams.
func (a *App) ChangeFeed() *feed.Hub { return a.changes }

// WantsEventStream reports whether a request asks for a Server-Sent Events stream: a GET
// whose Accept header names text/event-stream (with a non-zero quality), above any JSON
// type it also names. Such a request is not buffered by the toolkit's middleware.
func WantsEventStream(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return false
	}
	stream, json := -1.0, -1.0
	for _, h := range accept {
		for _, part := range strings.Split(h, ",") {
			typ, q := mediaRange(part)
			switch typ {
			case "text/event-stream":
				stream = max(stream, q)
			case "application/json", "application/*", "*/*":
				json = max(json, q)
			}
		}
	}
	return stream > 0 && stream >= json
}

// mediaRange returns the lower-cased type of one Accept element and its quality (1 when
// absent, 0 when unreadable).
func mediaRange(part string) (string, float64) {
	typ, params, _ := strings.Cut(part, ";")
	q := 1.0
	for _, p := range strings.Split(params, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%g", &q); err != nil {
				q = 0
			}
		}
	}
	return strings.ToLower(strings.TrimSpace(typ)), q
}
