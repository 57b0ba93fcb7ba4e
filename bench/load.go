package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxSamples bounds the latencies kept per worker and run (the count goes on).
const maxSamples = 1 << 17

// errNA marks a scenario the target does not support (the batch endpoint answers 404/405).
var errNA = errors.New("n/a")

// step is one measured operation of one worker (usually one request). Workers are not shared.
type step func(ctx context.Context) error

func basicAuth(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":secret"))
}

// clientTimeout bounds every request of the harness.
const clientTimeout = 60 * time.Second

// runStats is one measured run.
type runStats struct {
	requests, errors int64
	elapsed          time.Duration
	samples          []time.Duration
	serverCPU        float64 // seconds
	clientCPU        float64 // seconds
	postgresCPU      float64 // seconds, all PostgreSQL processes of the machine
	serverAlloc      uint64  // bytes the server allocated (0: not measured)
	serverGCs        uint32  // garbage collections the server ran
	firstErr         string
}

func (a *runStats) add(b runStats) {
	a.requests += b.requests
	a.errors += b.errors
	a.elapsed += b.elapsed
	a.samples = append(a.samples, b.samples...)
	a.serverCPU += b.serverCPU
	a.clientCPU += b.clientCPU
	a.postgresCPU += b.postgresCPU
	a.serverAlloc += b.serverAlloc
	a.serverGCs += b.serverGCs
	if a.firstErr == "" {
		a.firstErr = b.firstErr
	}
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// runLoad runs every worker's step in a loop for d (and at most maxOps operations per
// worker), recording latencies.
func runLoad(ctx context.Context, srv *server, steps []step, d time.Duration, maxOps int64) runStats {
	var st runStats
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr atomic.Value
	m0, memErr := srv.memstats(ctx, false)
	cpu0, self0, pg0 := srv.cpuSeconds(), selfCPU(), postgresCPU()
	start := time.Now()
	deadline := start.Add(d)
	for _, s := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			samples := make([]time.Duration, 0, 4096)
			var n, errs int64
			for n < maxOps && ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				err := s(ctx)
				lat := time.Since(t0)
				n++
				if err != nil {
					errs++
					firstErr.CompareAndSwap(nil, err.Error())
				}
				if len(samples) < maxSamples {
					samples = append(samples, lat)
				}
			}
			mu.Lock()
			st.requests += n
			st.errors += errs
			st.samples = append(st.samples, samples...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	st.elapsed = time.Since(start)
	st.serverCPU = srv.cpuSeconds() - cpu0
	st.clientCPU = selfCPU() - self0
	st.postgresCPU = postgresCPU() - pg0
	if m1, err := srv.memstats(ctx, false); memErr == nil && err == nil {
		st.serverAlloc, st.serverGCs = m1.TotalAlloc-m0.TotalAlloc, m1.NumGC-m0.NumGC
	}
	if e, ok := firstErr.Load().(string); ok {
		st.firstErr = e
	}
	return st
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// result is one line of the report.
type result struct {
	Backend  string  `json:"backend"`
	Scenario string  `json:"scenario"`
	Target   string  `json:"target"`
	NA       bool    `json:"na,omitempty"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	// ServerCPUus and ClientCPUus are CPU microseconds per operation of the server process
	// and of the harness (the load generator); 0 when not measurable (in-process server).
	ServerCPUus float64 `json:"server_cpu_us_per_op"`
	ClientCPUus float64 `json:"client_cpu_us_per_op"`
	// ServerBytes is what the server allocated per operation, ServerGCs the garbage
	// collections it ran per second (0 when not measured): with a small live heap, Go's GC
	// runs every few MB allocated, so bytes per request set the GC's share of the CPU.
	ServerBytes float64 `json:"server_bytes_per_op"`
	ServerGCs   float64 `json:"server_gcs_per_s"`
	// PostgresCPUus is the CPU microseconds per operation of all the machine's PostgreSQL
	// processes (PostgreSQL scenarios only; 0 otherwise).
	PostgresCPUus float64 `json:"postgres_cpu_us_per_op,omitempty"`
	FirstError    string  `json:"first_error,omitempty"`
}

func toResult(backend, scenario, target string, st runStats, inProcess bool) result {
	slices.Sort(st.samples)
	r := result{Backend: backend, Scenario: scenario, Target: target, Requests: st.requests, Errors: st.errors,
		Seconds: st.elapsed.Seconds(), FirstError: st.firstErr,
		P50ms: ms(percentile(st.samples, 0.50)), P99ms: ms(percentile(st.samples, 0.99))}
	if st.elapsed > 0 {
		r.RPS = float64(st.requests) / st.elapsed.Seconds()
	}
	if st.requests > 0 && !inProcess {
		r.ServerCPUus = st.serverCPU * 1e6 / float64(st.requests)
		r.ClientCPUus = st.clientCPU * 1e6 / float64(st.requests)
		r.ServerBytes = float64(st.serverAlloc) / float64(st.requests)
		r.ServerGCs = float64(st.serverGCs) / st.elapsed.Seconds()
		if backend == "postgresql" {
			r.PostgresCPUus = st.postgresCPU * 1e6 / float64(st.requests)
		}
	}
	return r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// --- the standard scenarios -----------------------------------------------------------------

// scenario builds one step per worker against a server. Setup requests are not measured.
type scenario struct {
	name  string
	title string
	setup func(ctx context.Context, srv *server, c *client, workers int, records int) ([]step, error)
}

func getSteps(c *client, workers int, build func(w int) *call, want int) []step {
	steps := make([]step, workers)
	for w := range workers {
		k := build(w)
		steps[w] = func(context.Context) error { _, _, err := k.do(want, false); return err }
	}
	return steps
}

var scenarios = []scenario{
	{"get", "GET one record", func(ctx context.Context, srv *server, c *client, workers, records int) ([]step, error) {
		steps := make([]step, workers)
		for w := range workers {
			calls := make([]*call, 8)
			for i := range calls {
				calls[i] = newCall(c, http.MethodGet, pluralPath+"/"+seedID((w*131+i*17)%records), readerUser, nil)
			}
			n := 0
			steps[w] = func(context.Context) error {
				n++
				_, _, err := calls[n%len(calls)].do(http.StatusOK, false)
				return err
			}
		}
		return steps, nil
	}},
	{"list", "list, first page of 20", func(ctx context.Context, srv *server, c *client, workers, records int) ([]step, error) {
		return getSteps(c, workers, func(int) *call {
			return newCall(c, http.MethodGet, pluralPath+"?_limit=20", readerUser, nil)
		}, http.StatusOK), nil
	}},
	{"filter", "list, filter + sort (unread=true&_sort=-score, 20)", func(ctx context.Context, srv *server, c *client, workers, records int) ([]step, error) {
		return getSteps(c, workers, func(int) *call {
			return newCall(c, http.MethodGet, pluralPath+"?unread=true&_sort=-score&_limit=20", readerUser, nil)
		}, http.StatusOK), nil
	}},
	{"since", "_since, delta of 100 changes", func(ctx context.Context, srv *server, c *client, workers, records int) ([]step, error) {
		since, err := sinceFor(c, readerUser, 100)
		if err != nil {
			return nil, err
		}
		return getSteps(c, workers, func(int) *call {
			return newCall(c, http.MethodGet, pluralPath+"?_since="+strconv.FormatInt(since, 10), readerUser, nil)
		}, http.StatusOK), nil
	}},
	{"create", "POST create", func(ctx context.Context, srv *server, c *client, workers, records int) ([]step, error) {
		return getSteps(c, workers, func(w int) *call {
			return newCall(c, http.MethodPost, pluralPath, "writer", envelope(recordData(w)))
		}, http.StatusCreated), nil
	}},
	{"patch", "PATCH with If-Match", func(ctx context.Context, srv *server, c *client, workers, records int) ([]step, error) {
		steps := make([]step, workers)
		for w := range workers {
			// Each worker patches its own record, so If-Match never fails.
			h, body, err := newCall(c, http.MethodPost, pluralPath, "patcher", envelope(recordData(w))).do(http.StatusCreated, true)
			if err != nil {
				return nil, err
			}
			var created struct {
				Data struct {
					ID string `json:"id"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &created); err != nil {
				return nil, err
			}
			etag := h.etag
			bodies := [][]byte{[]byte(`{"data":{"score":1,"unread":false}}`), []byte(`{"data":{"score":2,"unread":true}}`)}
			k := newCall(c, http.MethodPatch, pluralPath+"/"+created.Data.ID, "patcher", bodies[0])
			n := 0
			steps[w] = func(context.Context) error {
				n++
				k.body = bodies[n%2]
				k.setHeader("If-Match", etag)
				h, _, err := k.do(http.StatusOK, false)
				if err == nil {
					etag = h.etag
				}
				return err
			}
		}
		return steps, nil
	}},
	{"batch", "batch of 25 writes", func(ctx context.Context, srv *server, c *client, workers, records int) ([]step, error) {
		body := batchBody(25)
		probe := newCall(c, http.MethodPost, "/v1/batch", "batcher", body)
		if _, _, err := probe.do(http.StatusOK, false); err != nil {
			for _, code := range []string{"status 404", "status 405"} {
				if bytes.Contains([]byte(err.Error()), []byte(code)) {
					return nil, errNA
				}
			}
			return nil, err
		}
		steps := make([]step, workers)
		for w := range workers {
			k := newCall(c, http.MethodPost, "/v1/batch", "batcher", body)
			steps[w] = func(context.Context) error {
				_, b, err := k.do(http.StatusOK, true)
				if err != nil {
					return err
				}
				var out struct {
					Responses []struct {
						Status int `json:"status"`
					} `json:"responses"`
				}
				if err := json.Unmarshal(b, &out); err != nil {
					return err
				}
				if len(out.Responses) != 25 {
					return fmt.Errorf("batch: %d responses, want 25", len(out.Responses))
				}
				for _, r := range out.Responses {
					if r.Status != http.StatusCreated {
						return fmt.Errorf("batch: a sub-request answered %d", r.Status)
					}
				}
				return nil
			}
		}
		return steps, nil
	}},
}

func envelope(data []byte) []byte {
	return append(append([]byte(`{"data":`), data...), '}')
}

func batchBody(n int) []byte {
	b := []byte(`{"defaults":{"method":"POST","path":"/bookmarks"},"requests":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"body":`...)
		b = append(b, envelope(recordData(i))...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// sinceFor returns the _since value that selects exactly the n most recent changes of the
// user's collection, and checks that it does.
func sinceFor(c *client, user string, n int) (int64, error) {
	_, b, err := newCall(c, http.MethodGet, pluralPath+"?_limit="+strconv.Itoa(n+1), user, nil).do(http.StatusOK, true)
	if err != nil {
		return 0, err
	}
	page, err := decodeList(b)
	if err != nil {
		return 0, err
	}
	if len(page) != n+1 {
		return 0, fmt.Errorf("the collection has fewer than %d records", n+1)
	}
	since := page[n].LastModified
	_, b, err = newCall(c, http.MethodGet, pluralPath+"?_since="+strconv.FormatInt(since, 10), user, nil).do(http.StatusOK, true)
	if err != nil {
		return 0, err
	}
	if page, err = decodeList(b); err != nil || len(page) != n {
		return 0, fmt.Errorf("_since=%d returned %d records, want %d (%v)", since, len(page), n, err)
	}
	return since, nil
}

type listed struct {
	ID           string `json:"id"`
	LastModified int64  `json:"last_modified"`
}

func decodeList(b []byte) ([]listed, error) {
	var out struct {
		Data []listed `json:"data"`
	}
	err := json.Unmarshal(b, &out)
	return out.Data, err
}
