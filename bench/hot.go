package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// hotResult is one run of the hot-collection scenario.
type hotResult struct {
	Key         string  `json:"key"` // the run's name for -hot-runs
	Name        string  `json:"name"`
	Collections int     `json:"collections"`
	Writers     int     `json:"writers"`
	Writes      int64   `json:"writes"`
	Errors      int64   `json:"errors"`
	Seconds     float64 `json:"seconds"`
	WPS         float64 `json:"writes_per_s"`
	P50ms       float64 `json:"p50_ms"`
	P99ms       float64 `json:"p99_ms"`
	Collisions  int64   `json:"timestamp_collisions"`
	Missed      int64   `json:"missed_by_poller"` // -1: no poller
	Polls       int64   `json:"polls"`
	FirstError  string  `json:"first_error,omitempty"`
	// CPU per write, in microseconds, of the harness (the load generator or SQL loop), of the
	// server process (0 for the SQL loops) and of all PostgreSQL processes, over the measured
	// run; the three share the machine's cores.
	HarnessCPUus  float64 `json:"harness_cpu_us_per_write"`
	ServerCPUus   float64 `json:"server_cpu_us_per_write"`
	PostgresCPUus float64 `json:"postgres_cpu_us_per_write"`
}

// merge adds a second run of the same scenario: rates over the summed time, counts summed,
// the mean p50 and the worse p99.
func (r *hotResult) merge(o hotResult) {
	r.P50ms = (r.P50ms*r.Seconds + o.P50ms*o.Seconds) / (r.Seconds + o.Seconds)
	r.P99ms = max(r.P99ms, o.P99ms)
	r.Writes += o.Writes
	r.Errors += o.Errors
	r.Seconds += o.Seconds
	r.WPS = float64(r.Writes) / r.Seconds
	r.Collisions += o.Collisions
	if o.Missed > 0 {
		r.Missed = max(r.Missed, 0) + o.Missed
	}
	r.Polls += o.Polls
	r.HarnessCPUus = weighted(r.HarnessCPUus, r.Writes-o.Writes, o.HarnessCPUus, o.Writes)
	r.ServerCPUus = weighted(r.ServerCPUus, r.Writes-o.Writes, o.ServerCPUus, o.Writes)
	r.PostgresCPUus = weighted(r.PostgresCPUus, r.Writes-o.Writes, o.PostgresCPUus, o.Writes)
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
}

// weighted is the mean of two per-write figures weighted by their writes.
func weighted(a float64, na int64, b float64, nb int64) float64 {
	if na+nb == 0 {
		return 0
	}
	return (a*float64(na) + b*float64(nb)) / float64(na+nb)
}

// warmUp runs the writers, unmeasured, for a fifth of d (new collections get their clock
// rows, connections their prepared statements, the server its steady state), then forgets
// their acknowledgements.
func warmUp(ctx context.Context, srv *server, steps []step, resets []func(), d time.Duration) {
	runLoad(ctx, srv, steps, d/5, 1<<40)
	for _, r := range resets {
		r()
	}
}

type ack struct {
	coll int
	id   string
	lm   int64
}

// finishHot computes the rate, latencies and timestamp collisions (two acknowledged writes
// of one collection with the same last_modified).
func finishHot(r *hotResult, acks []ack, st runStats) {
	slices.Sort(st.samples)
	r.Writes, r.Errors, r.Seconds = st.requests-st.errors, st.errors, st.elapsed.Seconds()
	r.WPS = float64(r.Writes) / r.Seconds
	if r.Writes > 0 {
		r.HarnessCPUus = st.clientCPU * 1e6 / float64(r.Writes)
		r.ServerCPUus = st.serverCPU * 1e6 / float64(r.Writes)
		r.PostgresCPUus = st.postgresCPU * 1e6 / float64(r.Writes)
	}
	r.P50ms, r.P99ms = ms(percentile(st.samples, 0.5)), ms(percentile(st.samples, 0.99))
	r.FirstError = st.firstErr
	seen := make(map[[2]int64]bool, len(acks))
	for _, a := range acks {
		k := [2]int64{int64(a.coll), a.lm}
		if seen[k] {
			r.Collisions++
		}
		seen[k] = true
	}
}

// hotHTTP runs writers POSTing to the toolkit, spread round-robin over users (one user is
// one collection). With one user, a poller follows the collection with _since meanwhile and
// the result counts the acknowledged writes it never saw.
func hotHTTP(ctx context.Context, srv *server, name string, writers int, d time.Duration, users []string) hotResult {
	c := newClient(ctx, srv.base, clientTimeout)
	defer c.close()
	auth := make([]string, len(users))
	for i, u := range users {
		auth[i] = basicAuth(u)
	}
	var mu sync.Mutex
	var acks []ack
	steps := make([]step, writers)
	flushes := make([]func(), writers)
	resets := make([]func(), writers)
	for w := range writers {
		k := newCall(c, http.MethodPost, pluralPath, users[0], envelope(recordData(w)))
		n := w
		var mine []ack
		steps[w] = func(context.Context) error {
			coll := n % len(users)
			n += writers
			k.setAuth(auth[coll])
			_, b, err := k.do(http.StatusCreated, true)
			if err != nil {
				return err
			}
			var out struct {
				Data listed `json:"data"`
			}
			if err := json.Unmarshal(b, &out); err != nil {
				return err
			}
			mine = append(mine, ack{coll, out.Data.ID, out.Data.LastModified})
			return nil
		}
		flushes[w] = func() { mu.Lock(); acks = append(acks, mine...); mu.Unlock() }
		resets[w] = func() { mine = mine[:0] }
	}
	warmUp(ctx, srv, steps, resets, d)
	r := hotResult{Name: name, Collections: len(users), Writers: writers, Missed: -1}
	var done atomic.Bool
	var seen map[string]bool
	var pollErr error
	var pwg sync.WaitGroup
	if len(users) == 1 {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			seen, r.Polls, pollErr = poll(ctx, c, users[0], &done, d+2*time.Minute)
		}()
	}
	st := runLoad(ctx, srv, steps, d, 1<<40)
	done.Store(true)
	pwg.Wait()
	for _, f := range flushes {
		f()
	}
	finishHot(&r, acks, st)
	if seen != nil {
		r.Missed = 0
		for _, a := range acks {
			if !seen[a.id] {
				r.Missed++
			}
		}
	}
	if pollErr != nil {
		r.Errors++
		if r.FirstError == "" {
			r.FirstError = "poller: " + pollErr.Error()
		}
	}
	return r
}

// poll follows the collection with _since (ascending, pages of 1000) until writers are done
// and a poll started after that returned a partial page.
func poll(ctx context.Context, c *client, user string, done *atomic.Bool, limit time.Duration) (map[string]bool, int64, error) {
	seen := map[string]bool{}
	var cursor int64
	var polls int64
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		finished := done.Load()
		k := newCall(c, http.MethodGet, pluralPath+"?_sort=last_modified&_limit=1000&_since="+strconv.FormatInt(cursor, 10), user, nil)
		_, b, err := k.do(http.StatusOK, true)
		polls++
		if err != nil {
			return seen, polls, err
		}
		page, err := decodeList(b)
		if err != nil {
			return seen, polls, err
		}
		for _, o := range page {
			seen[o.ID] = true
			cursor = max(cursor, o.LastModified)
		}
		if len(page) == 1000 {
			continue
		}
		if finished {
			return seen, polls, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return seen, polls, fmt.Errorf("poller did not finish within %s", limit)
}

// hotSQL runs writers executing stmt directly over pgxpool, spread round-robin over parents.
// With clock true the statement is the bare baseline's clock-and-insert (clockCreateSQL, the
// work of the backend's create) and timestamps are checked for collisions; otherwise it is
// the raw INSERT.
func hotSQL(ctx context.Context, pool *pgxpool.Pool, name string, writers int, d time.Duration, parents []string, clock bool) hotResult {
	var mu sync.Mutex
	var acks []ack
	steps := make([]step, writers)
	data := string(recordData(1))
	flushes := make([]func(), writers)
	resets := make([]func(), writers)
	for w := range writers {
		n := w
		var mine []ack
		steps[w] = func(ctx context.Context) error {
			coll := n % len(parents)
			n += writers
			id := uuid.NewString()
			if !clock {
				_, err := pool.Exec(ctx, rawInsertSQL, resourceName, parents[coll], id, data)
				return err
			}
			lm, _, err := clockCreate(ctx, pool, resourceName, parents[coll], id, data)
			if err != nil {
				return err
			}
			mine = append(mine, ack{coll, id, lm})
			return nil
		}
		flushes[w] = func() { mu.Lock(); acks = append(acks, mine...); mu.Unlock() }
		resets[w] = func() { mine = mine[:0] }
	}
	warmUp(ctx, nil, steps, resets, d)
	st := runLoad(ctx, nil, steps, d, 1<<40)
	for _, f := range flushes {
		f()
	}
	r := hotResult{Name: name, Collections: len(parents), Writers: writers, Missed: -1}
	finishHot(&r, acks, st)
	return r
}

// --- scale ----------------------------------------------------------------------------------

// scaleSteps builds the four scale scenarios on the user's collection of n records whose
// timestamps are base..base+n-1.
func scaleSteps(c *client, user string, n int, base int64) (map[string]*call, error) {
	calls := map[string]*call{}
	calls["first page of 20"] = newCall(c, http.MethodGet, pluralPath+"?_limit=20", user, nil)
	h, _, err := calls["first page of 20"].do(http.StatusOK, false)
	if err != nil {
		return nil, err
	}
	next := h.nextPage
	if next == "" {
		return nil, fmt.Errorf("no Next-Page on the first page of %d records", n)
	}
	deep, err := deepToken(next, base+int64(n/2), n/2)
	if err != nil {
		return nil, err
	}
	calls["page at depth n/2 (_token)"] = newCall(c, http.MethodGet, pluralPath+"?_limit=20&_token="+url.QueryEscape(deep), user, nil)
	_, b, err := calls["page at depth n/2 (_token)"].do(http.StatusOK, true)
	if err != nil {
		return nil, err
	}
	if page, err := decodeList(b); err != nil || len(page) != 20 || page[0].LastModified != base+int64(n/2)-1 {
		return nil, fmt.Errorf("deep page: %d records (%v), first %v, want 20 from %d", len(page), err, page, base+int64(n/2)-1)
	}
	calls["_since, 100 changes"] = newCall(c, http.MethodGet, pluralPath+"?_since="+strconv.FormatInt(base+int64(n)-101, 10), user, nil)
	if _, b, err = calls["_since, 100 changes"].do(http.StatusOK, true); err != nil {
		return nil, err
	}
	if page, err := decodeList(b); err != nil || len(page) != 100 {
		return nil, fmt.Errorf("_since: %d records (%v), want 100", len(page), err)
	}
	calls["HEAD count"] = newCall(c, http.MethodHead, pluralPath, user, nil)
	if h, _, err = calls["HEAD count"].do(http.StatusOK, false); err != nil {
		return nil, err
	}
	if got := h.totalObjects; got != strconv.Itoa(n) {
		return nil, fmt.Errorf("HEAD: Total-Objects %q, want %d", got, n)
	}
	return calls, nil
}

var scaleScenarios = []string{"first page of 20", "page at depth n/2 (_token)", "_since, 100 changes", "HEAD count"}

// deepToken takes the _token of a Next-Page URL (built by the resource package) and moves
// it to the given timestamp and offset: the token format is the resource package's own.
func deepToken(next string, lastModified int64, offset int) (string, error) {
	u, err := url.Parse(next)
	if err != nil {
		return "", err
	}
	raw, err := base64.URLEncoding.DecodeString(u.Query().Get("_token"))
	if err != nil {
		return "", fmt.Errorf("Next-Page token: %w", err)
	}
	var tok map[string]any
	if err := json.Unmarshal(raw, &tok); err != nil {
		return "", err
	}
	last, ok := tok["last_object"].(map[string]any)
	if !ok || last["last_modified"] == nil {
		return "", fmt.Errorf("Next-Page token %s has no last_object.last_modified", raw)
	}
	last["last_modified"] = lastModified
	tok["offset"] = offset
	b, _ := json.Marshal(tok)
	return base64.URLEncoding.EncodeToString(b), nil
}

// --- soak and RSS ---------------------------------------------------------------------------

type soakSample struct {
	Second    int     `json:"second"`
	HeapMB    float64 `json:"heap_inuse_mb_after_gc"`
	RSSMB     float64 `json:"rss_mb"`
	Goroutine int     `json:"goroutines"`
}

type soakReport struct {
	Seconds  float64      `json:"seconds"`
	Requests int64        `json:"requests"`
	Errors   int64        `json:"errors"`
	Samples  []soakSample `json:"samples"`
}

// rssLine is one idle-RSS measurement.
type rssLine struct {
	What  string  `json:"what"`
	RSSMB float64 `json:"rss_mb"`
	Note  string  `json:"note,omitempty"`
}

// exampleRSS builds and starts examples/bookmarks (memory backends) and measures its idle RSS.
// pkg is built in the directory of the cliquet module (bench's replacement of it), so that a
// path such as ./examples/bookmarks names the package there and the build uses that
// module's requirements, whatever bench's own go.mod lists.
func exampleRSS(ctx context.Context, pkg string) (rssLine, error) {
	root, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/cliquet-go/cliquet").Output()
	if err != nil {
		return rssLine{}, fmt.Errorf("locate the cliquet module: %v", err)
	}
	dir, err := os.MkdirTemp("", "bench-example")
	if err != nil {
		return rssLine{}, err
	}
	defer os.RemoveAll(dir)
	bin := dir + "/bookmarks"
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	build.Dir = strings.TrimSpace(string(root))
	if out, err := build.CombinedOutput(); err != nil {
		return rssLine{}, fmt.Errorf("go build %s: %v: %s", pkg, err, out)
	}
	cmd := exec.CommandContext(ctx, bin, "--listen", "127.0.0.1:0")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return rssLine{}, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }() //nolint:errcheck // stopping our child
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(stderr.String(), "listening") {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	return rssLine{What: "examples/bookmarks (memory backends), idle", RSSMB: mb(procRSS(cmd.Process.Pid))}, nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
