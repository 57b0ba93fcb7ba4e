package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// write is one write as its author saw it, or as the poller saw it.
type write struct {
	id           string
	lastModified int64
	deleted      bool
}

// headClient sends requests as one Basic-auth user to the web heads, counting failures
// instead of failing the test (it is used from many goroutines).
type headClient struct {
	http   *http.Client
	user   string
	errors atomic.Int64
	mu     sync.Mutex
	first  []string // the first few failures, for the report
}

func (c *headClient) fail(format string, args ...any) {
	c.errors.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.first) < 5 {
		c.first = append(c.first, fmt.Sprintf(format, args...))
	}
}

// send makes one request and decodes the JSON answer into out; it returns the response
// headers, or nil after counting a failure (network error or a status other than want).
func (c *headClient) send(method, u, body string, want int, out any) http.Header {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		c.fail("%s %s: %v", method, u, err)
		return nil
	}
	req.SetBasicAuth(c.user, "password")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		c.fail("%s %s: %v", method, u, err)
		return nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		c.fail("%s %s: %d, want %d: %s", method, u, res.StatusCode, want, b)
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		c.fail("%s %s: %v: %s", method, u, err, b)
		return nil
	}
	return res.Header
}

type objectBody struct {
	Data struct {
		ID           string `json:"id"`
		LastModified int64  `json:"last_modified"`
		Deleted      bool   `json:"deleted"`
	} `json:"data"`
}

type listBody struct {
	Data []struct {
		ID           string `json:"id"`
		LastModified int64  `json:"last_modified"`
		Deleted      bool   `json:"deleted"`
	} `json:"data"`
}

// TestTwoWebHeadsShareOneDatabase runs two bookmarks servers, each in its own process, on
// one PostgreSQL database. 25 writers per head create bookmarks in the same user's
// collection for 3 seconds, while a poller reads the changes with _since through the first
// head, and deleters remove, through the second head, every other bookmark the poller has
// seen created. No request may fail, every write must get a timestamp of its own, and the
// poller must see every write exactly once: each creation as a live bookmark, each deletion
// as a tombstone, and nothing else.
func TestTwoWebHeadsShareOneDatabase(t *testing.T) {
	if testing.Short() && os.Getenv(testenv.CIVar) == "" {
		t.Skip("a 3-second load test (-short)")
	}
	dsn := testenv.PostgresDatabaseC(t, "twoheads_test")
	env := []string{"CLIQUET_STORAGE_URL=" + dsn, "CLIQUET_CACHE_URL=" + dsn, "CLIQUET_PERMISSION_URL=" + dsn}
	runCommand(t, env, "migrate", "--ini", "postgresql.ini")
	a := startHead(t, env, "--ini", "postgresql.ini")
	b := startHead(t, env, "--ini", "postgresql.ini")
	heads := []string{a.URL + "v1/bookmarks", b.URL + "v1/bookmarks"}

	const (
		writersPerHead  = 25
		deletersPerHead = 2
		duration        = 3 * time.Second
	)
	c := &headClient{
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
		user: testenv.UniquePrefix(t, "twoheads-"),
	}

	var (
		mu       sync.Mutex
		written  []write // as answered to the writers and the deleters
		seen     = map[write]int{}
		creates  int // seen by the poller
		deletes  int // seen by the poller
		toDelete = make(chan string, 1<<16)
	)
	var created, deleted int // answered to the writers, to the deleters
	record := func(w write) {
		mu.Lock()
		written = append(written, w)
		if w.deleted {
			deleted++
		} else {
			created++
		}
		mu.Unlock()
	}

	// The poller: _since the newest timestamp seen, oldest first, following Next-Page.
	since := int64(0)
	poll := func() {
		next := fmt.Sprintf("%s?_sort=last_modified&_limit=200&_since=%d", heads[0], since)
		for next != "" {
			var page listBody
			h := c.send("GET", next, "", http.StatusOK, &page)
			if h == nil {
				return
			}
			for _, o := range page.Data {
				w := write{o.ID, o.LastModified, o.Deleted}
				if !w.deleted && len(w.id) > 0 && w.id[len(w.id)-1]%2 == 0 {
					toDelete <- w.id // before counting it: see the end of the test
				}
				mu.Lock()
				seen[w]++
				if w.deleted {
					deletes++
				} else {
					creates++
				}
				mu.Unlock()
				since = max(since, w.lastModified)
			}
			next = h.Get("Next-Page")
		}
	}
	stopPolling := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stopPolling:
				return
			default:
			}
			poll()
			time.Sleep(20 * time.Millisecond)
		}
	}()

	var deleters sync.WaitGroup
	for i := range 2 * deletersPerHead {
		deleters.Go(func() {
			for id := range toDelete {
				var o objectBody
				if c.send("DELETE", heads[i%2]+"/"+id, "", http.StatusOK, &o) != nil {
					record(write{o.Data.ID, o.Data.LastModified, o.Data.Deleted})
				}
			}
		})
	}

	var writers sync.WaitGroup
	deadline := time.Now().Add(duration)
	for i := range 2 * writersPerHead {
		writers.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				var o objectBody
				body := fmt.Sprintf(`{"data": {"url": "https://example.com/%d/%d"}}`, i, n)
				if c.send("POST", heads[i%2], body, http.StatusCreated, &o) != nil {
					record(write{o.Data.ID, o.Data.LastModified, false})
				}
			}
		})
	}
	writers.Wait()

	// Once the poller has seen every creation, every deletion is queued: close the queue.
	// done is called with mu held.
	waitFor := func(what string, done func() bool) {
		t.Helper()
		for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			ok := done()
			mu.Unlock()
			if ok {
				return
			}
			if time.Now().After(end) || c.errors.Load() > 0 {
				close(stopPolling)
				<-polled
				mu.Lock()
				var missed []write
				for _, w := range written {
					if seen[w] != 1 {
						missed = append(missed, w)
					}
				}
				mu.Unlock()
				t.Logf("since %d; %d writes not seen once, e.g. %v", since, len(missed), missed[:min(len(missed), 5)])
				t.Fatalf("the poller did not see %s within 30s (errors: %d %v)", what, c.errors.Load(), c.first)
			}
		}
	}
	waitFor("every creation", func() bool { return creates >= created })
	close(toDelete)
	deleters.Wait()
	waitFor("every deletion", func() bool { return deletes >= deleted })
	close(stopPolling)
	<-polled
	poll() // one more pass: nothing new may show up

	t.Logf("%d creations and %d deletions through two heads in %s; the poller saw %d changes",
		created, deleted, duration, len(seen))
	if n := c.errors.Load(); n > 0 {
		t.Fatalf("%d failed requests, first ones: %v", n, c.first)
	}
	if created < 2*writersPerHead || deleted == 0 {
		t.Fatalf("too little load to test anything: %d creations, %d deletions", created, deleted)
	}
	stamps := map[int64]write{}
	for _, w := range written {
		if other, dup := stamps[w.lastModified]; dup {
			t.Errorf("two writes with last_modified %d: %+v and %+v", w.lastModified, other, w)
		}
		stamps[w.lastModified] = w
		if n := seen[w]; n != 1 {
			t.Errorf("the poller saw %+v %d times", w, n)
		}
	}
	if len(seen) != len(written) {
		for w := range seen {
			if _, ok := stamps[w.lastModified]; !ok {
				t.Errorf("the poller saw %+v, which nobody wrote", w)
			}
		}
	}

	// Both heads agree on what is left.
	for _, h := range []string{a.URL, b.URL} {
		var s Stats
		if c.send("GET", h+"v1/stats", "", http.StatusOK, &s) == nil {
			t.Errorf("GET %sv1/stats: %v", h, c.first)
		} else if s.Bookmarks != created-deleted {
			t.Errorf("%sv1/stats counts %d bookmarks, want %d", h, s.Bookmarks, created-deleted)
		}
	}
}
