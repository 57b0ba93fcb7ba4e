package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The change feed scenario (-feed, PostgreSQL): two web heads (child processes on one
// database, as two servers behind a load balancer would be), 1,000 change feeds open on
// them, and writes paced at 100 per second made through both. It measures the delivery
// latency from commit to event, the memory an idle stream costs a head, and what the feeds
// cost the write path (the most writes per second the heads take, without and with them).

// feedResult is what the change feed scenario measured.
type feedResult struct {
	Heads   int `json:"heads"`
	Streams int `json:"streams"`
	Users   int `json:"users"` // one collection each; the streams are spread evenly
	// Paced writes and their delivery.
	Rate        float64 `json:"writes_per_s"`
	Seconds     float64 `json:"seconds"`
	Writes      int64   `json:"writes"`
	WriteErrors int64   `json:"write_errors"`
	Expected    int64   `json:"events_expected"` // writes × streams of the written collection
	Delivered   int64   `json:"events_delivered"`
	Duplicates  int64   `json:"events_duplicated"`
	// Delivery latency, from the write's timestamp (its last_modified, taken by PostgreSQL in
	// the writing statement, a millisecond clock) to the event read by the harness.
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	WriteP50ms float64 `json:"write_p50_ms"`
	WriteP99ms float64 `json:"write_p99_ms"`
	// Memory of an idle stream, per head: the growth of the heads' RSS, Go heap and
	// goroutines from before the streams were opened to after, divided by the streams.
	RSSPerStreamKB      float64 `json:"rss_per_stream_kb"`
	HeapPerStreamKB     float64 `json:"heap_per_stream_kb"`
	GoroutinesPerStream float64 `json:"goroutines_per_stream"`
	// CPU per paced write of the two heads (the write and its deliveries), and of all the
	// machine's PostgreSQL processes (not in the markdown: on a shared machine it counts
	// others' work too).
	HeadsCPUusPerWrite    float64 `json:"heads_cpu_us_per_write"`
	PostgresCPUusPerWrite float64 `json:"postgres_cpu_us_per_write"`
	// Throughput of unpaced creations through both heads.
	Throughput []feedThroughput `json:"throughput"`
	FirstError string           `json:"first_error,omitempty"`
}

// feedThroughput is one unpaced write run.
type feedThroughput struct {
	What  string  `json:"what"`
	WPS   float64 `json:"writes_per_s"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

// The unpaced throughput runs of the scenario.
const (
	feedWriters = 16
	feedTPTime  = 5 * time.Second
)

// feedUser is the i-th user of the scenario (one collection).
func feedUser(i int) string { return fmt.Sprintf("feeder%03d", i) }

// runFeed runs the change feed scenario.
func runFeed(ctx context.Context, o options, rep *report, log io.Writer) error {
	if o.inProcess {
		rep.Notes = append(rep.Notes, "change feed scenario not run: -inprocess (it needs two server processes)")
		return nil
	}
	if o.dsn == "" {
		return errors.New(`no PostgreSQL DSN: run eval "$(bash scripts/services.sh)" or pass -dsn`)
	}
	if err := migrate(ctx, o.dsn); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	pool, err := openPool(ctx, o.dsn, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	feedStreams, feedUsers, feedRate, feedDuration := o.feedStreams, o.feedUsers, o.feedRate, o.feedDuration
	if feedStreams%feedUsers != 0 || feedStreams%2 != 0 {
		return fmt.Errorf("-feed-streams %d must be even and a multiple of -feed-users %d", feedStreams, feedUsers)
	}
	users := make([]string, feedUsers)
	parents := make([]string, feedUsers)
	for i := range users {
		users[i] = feedUser(i)
		parents[i] = parentID(users[i])
	}
	if err := dropCollections(ctx, pool, parents); err != nil {
		return err
	}
	r := feedResult{Heads: 2, Streams: feedStreams, Users: feedUsers, Rate: float64(feedRate)}
	cfg := serverConfig{Target: targetToolkit, Backend: "postgresql", DSN: o.dsn, PoolSize: o.pool, WriteWorkers: o.writeWorkers}

	// The write path without announcements (storage_notify = false), then with them.
	quiet := cfg
	quiet.Settings = "storage_notify=false"
	heads, err := startHeads(ctx, quiet)
	if err != nil {
		return err
	}
	r.Throughput = append(r.Throughput, feedWriteThroughput(ctx, heads, users, "storage_notify = false (no NOTIFY), no stream", log))
	stopHeads(heads)
	heads, err = startHeads(ctx, cfg)
	if err != nil {
		return err
	}
	defer stopHeads(heads)

	// Idle memory of the streams, measured on fresh heads, so that memory freed by a load is
	// not what the streams reuse. The heads' fixed costs come first: the listening
	// connection (a first stream, kept open) and a full connection pool (concurrent lists),
	// then the growth per stream is measured.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rec := &feedRecorder{seen: map[string]map[int64]int{}, perWrite: feedStreams / feedUsers}
	var wg sync.WaitGroup
	ready := make(chan error, feedStreams)
	opening := make(chan struct{}, 50) // clients connect over time, not all at once
	for n := range 2 {
		wg.Add(1)
		opening <- struct{}{}
		go func() {
			defer wg.Done()
			rec.follow(fctx, heads[n].base, "warmup", -1-n, ready, opening)
		}()
	}
	for range 2 {
		if err := <-ready; err != nil {
			return fmt.Errorf("warm-up stream: %w", err)
		}
	}
	warm := [2]*client{newClient(ctx, heads[0].base, clientTimeout), newClient(ctx, heads[1].base, clientTimeout)}
	var lists sync.WaitGroup
	for w := range 2 * o.pool {
		lists.Add(1)
		go func() {
			defer lists.Done()
			k := newCall(warm[w%2], http.MethodGet, pluralPath+"?_limit=10", users[w%feedUsers], nil)
			for range 20 {
				k.do(http.StatusOK, false) //nolint:errcheck // warm-up only
			}
		}()
	}
	lists.Wait()
	warm[0].close()
	warm[1].close()
	before := headMemory(ctx, heads)
	for n := range feedStreams {
		wg.Add(1)
		opening <- struct{}{}
		go func() {
			defer wg.Done()
			rec.follow(fctx, heads[n%2].base, users[(n/2)%feedUsers], n, ready, opening)
		}()
	}
	for range feedStreams {
		if err := <-ready; err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("opening the streams: %w", err)
		}
	}
	time.Sleep(2 * time.Second)
	after := headMemory(ctx, heads)
	r.RSSPerStreamKB = float64(after.rss-before.rss) / 1024 / float64(feedStreams)
	r.HeapPerStreamKB = float64(after.heap-before.heap) / 1024 / float64(feedStreams)
	r.GoroutinesPerStream = float64(after.goroutines-before.goroutines) / float64(feedStreams)
	fmt.Fprintf(log, "feed: %d streams open: RSS %+.1f KB, heap %+.1f KB, %+.2f goroutines per stream\n",
		feedStreams, r.RSSPerStreamKB, r.HeapPerStreamKB, r.GoroutinesPerStream)

	// Paced writes.
	rec.reset()
	rec.recording.Store(true)
	c := [2]*client{newClient(ctx, heads[0].base, clientTimeout), newClient(ctx, heads[1].base, clientTimeout)}
	defer c[0].close()
	defer c[1].close()
	cpu0, pg0 := heads[0].cpuSeconds()+heads[1].cpuSeconds(), postgresCPU()
	var (
		mu       sync.Mutex
		acks     []ack
		writeLat []time.Duration
		errs     atomic.Int64
		firstErr atomic.Value
		pending  sync.WaitGroup
	)
	tick := time.NewTicker(time.Second / time.Duration(feedRate))
	start := time.Now()
	for n := 0; time.Since(start) < feedDuration && ctx.Err() == nil; n++ {
		<-tick.C
		pending.Add(1)
		go func() {
			defer pending.Done()
			u := n % feedUsers
			t0 := time.Now()
			_, b, err := newCall(c[n%2], http.MethodPost, pluralPath, users[u], envelope(recordData(n))).do(http.StatusCreated, true)
			lat := time.Since(t0)
			var out struct {
				Data listed `json:"data"`
			}
			if err == nil {
				err = json.Unmarshal(b, &out)
			}
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			mu.Lock()
			acks = append(acks, ack{u, out.Data.ID, out.Data.LastModified})
			writeLat = append(writeLat, lat)
			mu.Unlock()
		}()
	}
	tick.Stop()
	pending.Wait()
	r.Seconds = time.Since(start).Seconds()
	time.Sleep(2 * time.Second) // the last events
	cpu1, pg1 := heads[0].cpuSeconds()+heads[1].cpuSeconds(), postgresCPU()
	r.Writes, r.WriteErrors = int64(len(acks)), errs.Load()
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	perUser := int64(feedStreams / feedUsers)
	r.Expected = r.Writes * perUser
	lat := rec.latencies(acks)
	r.Delivered, r.Duplicates = rec.counts(acks)
	slices.Sort(lat)
	slices.Sort(writeLat)
	r.P50ms, r.P99ms = ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99))
	if len(lat) > 0 {
		r.MaxMs = ms(lat[len(lat)-1])
	}
	r.WriteP50ms, r.WriteP99ms = ms(percentile(writeLat, 0.5)), ms(percentile(writeLat, 0.99))
	if r.Writes > 0 {
		r.HeadsCPUusPerWrite = (cpu1 - cpu0) * 1e6 / float64(r.Writes)
		r.PostgresCPUusPerWrite = (pg1 - pg0) * 1e6 / float64(r.Writes)
	}
	fmt.Fprintf(log, "feed: %d writes in %.1f s (%d errors), %d/%d events (%d duplicated), commit→event p50 %.1f ms p99 %.1f ms max %.1f ms; write p50 %.1f ms p99 %.1f ms\n",
		r.Writes, r.Seconds, r.WriteErrors, r.Delivered, r.Expected, r.Duplicates, r.P50ms, r.P99ms, r.MaxMs, r.WriteP50ms, r.WriteP99ms)

	// Unpaced writes with the streams open (and receiving every event, which the harness
	// reads without decoding), then without them.
	rec.recording.Store(false)
	r.Throughput = append(r.Throughput, feedWriteThroughput(ctx, heads, users, fmt.Sprintf("NOTIFY on every write, %d streams open", feedStreams), log))
	cancel()
	wg.Wait()
	time.Sleep(time.Second) // the heads notice the closed streams at their next writes (the warm-up's)
	r.Throughput = append(r.Throughput, feedWriteThroughput(ctx, heads, users, "NOTIFY on every write, no stream", log))
	rep.Feed = &r
	return nil
}

// startHeads starts the two web heads of cfg.
func startHeads(ctx context.Context, cfg serverConfig) ([]*server, error) {
	var heads []*server
	for range 2 {
		s, err := startServer(ctx, cfg, false)
		if err != nil {
			stopHeads(heads)
			return nil, err
		}
		heads = append(heads, s)
	}
	return heads, nil
}

func stopHeads(heads []*server) {
	for _, h := range heads {
		h.stop()
	}
}

// feedWriteThroughput runs unpaced creations through both heads, spread over users.
func feedWriteThroughput(ctx context.Context, heads []*server, users []string, what string, log io.Writer) feedThroughput {
	c := [2]*client{newClient(ctx, heads[0].base, clientTimeout), newClient(ctx, heads[1].base, clientTimeout)}
	defer c[0].close()
	defer c[1].close()
	var (
		mu   sync.Mutex
		lats []time.Duration
		n    atomic.Int64
		wg   sync.WaitGroup
	)
	run := func(d time.Duration, keep bool) {
		deadline := time.Now().Add(d)
		for w := range feedWriters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := newCall(c[w%2], http.MethodPost, pluralPath, users[0], envelope(recordData(w)))
				var mine []time.Duration
				for i := w; time.Now().Before(deadline) && ctx.Err() == nil; i += feedWriters {
					k.setAuth(basicAuth(users[i%len(users)]))
					t0 := time.Now()
					if _, _, err := k.do(http.StatusCreated, false); err != nil {
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				if keep {
					mu.Lock()
					lats = append(lats, mine...)
					mu.Unlock()
					n.Add(int64(len(mine)))
				}
			}()
		}
		wg.Wait()
	}
	run(2*feedTPTime/5, false) // warm-up
	start := time.Now()
	run(feedTPTime, true)
	secs := time.Since(start).Seconds()
	slices.Sort(lats)
	t := feedThroughput{What: what, WPS: float64(n.Load()) / secs, P50ms: ms(percentile(lats, 0.5)), P99ms: ms(percentile(lats, 0.99))}
	fmt.Fprintf(log, "feed: throughput, %s: %.0f writes/s, p50 %.2f ms, p99 %.2f ms\n", what, t.WPS, t.P50ms, t.P99ms)
	return t
}

// memory is the sum of the heads' memory figures.
type memory struct {
	rss, heap  int64
	goroutines int
}

// headMemory collects the heads' garbage, returns their free memory to the system, and
// reads their RSS, live heap and goroutines.
func headMemory(ctx context.Context, heads []*server) memory {
	var m memory
	for _, h := range heads {
		st, err := h.memstatsQuery(ctx, "?gc=1&free=1")
		if err != nil {
			continue
		}
		m.heap += int64(st.HeapAlloc)
		m.goroutines += st.Goroutines
	}
	time.Sleep(500 * time.Millisecond)
	for _, h := range heads {
		m.rss += h.rssBytes()
	}
	return m
}

// feedRecorder records the events the streams receive: for each object id, the
// timestamps received and how many times, and the receipt times.
type feedRecorder struct {
	perWrite int // streams per collection: events expected per write
	// recording: events are decoded and recorded; otherwise the streams only read them
	// (the unpaced runs, where the harness shares the machine with the heads).
	recording atomic.Bool
	mu        sync.Mutex
	seen      map[string]map[int64]int // id → last_modified → streams that received it
	samples   []time.Duration
	counted   []int64 // for each sample, its last_modified (to keep only acknowledged writes)
	ids       []string
}

func (f *feedRecorder) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = map[string]map[int64]int{}
	f.samples, f.counted, f.ids = nil, nil, nil
}

// follow opens a change feed on base as user and records its events until ctx ends; ready
// receives nil once the stream answered 200, or the error.
func (f *feedRecorder) follow(ctx context.Context, base, user string, n int, ready chan<- error, opening chan struct{}) {
	held := true // the opening slot the caller took for this stream
	release := func() {
		if held {
			held = false
			<-opening
		}
	}
	defer release()
	d := net.Dialer{Timeout: 10 * time.Second}
	u := strings.TrimPrefix(base, "http://")
	conn, err := d.DialContext(ctx, "tcp", u)
	if err != nil {
		ready <- err
		return
	}
	defer conn.Close()
	context.AfterFunc(ctx, func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nAccept: text/event-stream\r\n\r\n", pluralPath, u, basicAuth(user))
	br := bufio.NewReaderSize(conn, 16<<10)
	status, err := br.ReadString('\n')
	release()
	if err != nil || !strings.Contains(status, " 200 ") {
		ready <- fmt.Errorf("stream %d: %q %v", n, status, err)
		return
	}
	ready <- nil
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || !f.recording.Load() {
			continue
		}
		now := time.Now()
		var ev struct {
			Data listed `json:"data"`
		}
		if json.Unmarshal([]byte(data), &ev) != nil {
			continue
		}
		lat := now.Sub(time.UnixMilli(ev.Data.LastModified))
		f.mu.Lock()
		m := f.seen[ev.Data.ID]
		if m == nil {
			m = map[int64]int{}
			f.seen[ev.Data.ID] = m
		}
		m[ev.Data.LastModified]++
		f.samples = append(f.samples, lat)
		f.counted = append(f.counted, ev.Data.LastModified)
		f.ids = append(f.ids, ev.Data.ID)
		f.mu.Unlock()
	}
}

// latencies returns the delivery latencies of the events of acknowledged writes.
func (f *feedRecorder) latencies(acks []ack) []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	mine := make(map[string]bool, len(acks))
	for _, a := range acks {
		mine[a.id] = true
	}
	var out []time.Duration
	for i, d := range f.samples {
		if mine[f.ids[i]] {
			out = append(out, d)
		}
	}
	return out
}

// counts returns the events received for the acknowledged writes (each write is expected
// once on each stream of its collection) and the duplicates among them.
func (f *feedRecorder) counts(acks []ack) (delivered, duplicates int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	per := f.perWrite
	for _, a := range acks {
		n := f.seen[a.id][a.lm]
		delivered += int64(min(n, per))
		duplicates += int64(max(n-per, 0))
	}
	return delivered, duplicates
}
