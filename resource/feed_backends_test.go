package resource_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/internal/testenv"
	storageredis "github.com/cliquet-go/cliquet/storage/redis"
)

// The change feed across two web heads on PostgreSQL (LISTEN/NOTIFY) and Redis (pub/sub):
// each head has a storage backend of its own on one server, as two processes would.

func TestFeedAcrossTwoWebHeadsPostgreSQL(t *testing.T) {
	dsn := testenv.PostgresDatabase(t, "feed_test")
	a, b := twoHeads(t, func(t *testing.T) *cliquet.App { return newAppOn(t, pgStore(t, dsn, 5), nil) })
	checkTwoHeads(t, a, b)
}

func TestFeedAcrossTwoWebHeadsRedis(t *testing.T) {
	url, prefix := testenv.RedisURL(t, 5), testenv.UniquePrefix(t, "feed_test:")
	a, b := twoHeads(t, func(t *testing.T) *cliquet.App {
		store, err := storageredis.New(context.Background(), storageredis.Options{URL: url, Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Flush(context.Background()); store.Close() }) //nolint:errcheck
		return newAppOn(t, store, nil)
	})
	checkTwoHeads(t, a, b)
}

func TestFeedFollowsPermissionChangesPostgreSQL(t *testing.T) {
	runFeedPermissions(t, pgStore(t, testenv.PostgresDatabase(t, "feed_test"), 5))
}

// TestFeedReplayThenLiveUnderConcurrentWritesPostgreSQL writes through one head from many
// goroutines while streams of the other head join with a starting point: each stream must
// get every object's final version, no timestamp twice, in increasing order.
func TestFeedReplayThenLiveUnderConcurrentWritesPostgreSQL(t *testing.T) {
	dsn := testenv.PostgresDatabase(t, "feed_test")
	a, b := twoHeads(t, func(t *testing.T) *cliquet.App { return newAppOn(t, pgStore(t, dsn, 10), nil) })
	start := post(t, a, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"start": true}})
	since := fmt.Sprintf("%.0f", start["last_modified"])
	const writers, writes, streams = 6, 24, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				// Each id is created, replaced, deleted, created again...
				url := fmt.Sprintf("%s/v1/mushrooms/00000000-0000-4000-8000-%06d%06d", a, w, i%4)
				var err error
				switch i % 12 / 4 {
				case 0:
					_, err = sendJSON(http.MethodPut, url, "alice", map[string]any{"data": map[string]any{"i": i}}, 201)
				case 1:
					_, err = sendJSON(http.MethodPut, url, "alice", map[string]any{"data": map[string]any{"i": i}}, 200)
				default:
					_, err = sendJSON(http.MethodDelete, url, "alice", nil, 200)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	feeds := make([]*feedConn, streams)
	for n := range feeds {
		time.Sleep(20 * time.Millisecond) // join while the writers write
		feeds[n] = openFeed(t, b, "/v1/mushrooms?_since="+since, "alice", nil)
	}
	wg.Wait()
	final := map[string]float64{}
	var latest float64
	for _, o := range listSince(t, a, since) {
		final[o["id"].(string)] = o["last_modified"].(float64)
		latest = max(latest, o["last_modified"].(float64))
	}
	for n, f := range feeds {
		got := map[string]float64{}
		var last float64
		for last < latest {
			_, obj := f.next(3 * time.Second).change(t)
			ts := obj["last_modified"].(float64)
			if ts <= last {
				t.Fatalf("stream %d: timestamp %.0f after %.0f (duplicate or out of order)", n, ts, last)
			}
			last = ts
			got[obj["id"].(string)] = ts
		}
		for id, ts := range final {
			if got[id] != ts {
				t.Fatalf("stream %d: object %s last seen at %.0f, want %.0f", n, id, got[id], ts)
			}
		}
		f.none()
	}
}

// listSince lists alice's mushrooms changed after since, tombstones included.
func listSince(t *testing.T, base, since string) []map[string]any {
	t.Helper()
	r, _ := http.NewRequest(http.MethodGet, base+"/v1/mushrooms?_since="+since, nil)
	r.SetBasicAuth("alice", "secret")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data []map[string]any `json:"data"`
	}
	if err := jsonDecode(resp, &out); err != nil {
		t.Fatal(err)
	}
	return out.Data
}
