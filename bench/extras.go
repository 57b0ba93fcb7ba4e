package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func sizeLabel(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// runPostgresExtras runs the scale and hot-collection scenarios against the toolkit app.
func runPostgresExtras(ctx context.Context, o options, srv *server, pool *pgxpool.Pool, rep *report, log io.Writer) error {
	if o.scale {
		c := newClient(ctx, srv.base, clientTimeout)
		defer c.close()
		for _, n := range []int{1000, o.scaleRecords} {
			user := "scale" + strconv.Itoa(n)
			fmt.Fprintf(log, "scale: loading %d records (COPY) unless present\n", n)
			base, took, err := loadCollection(ctx, pool, parentID(user), n, o.reload)
			if err != nil {
				return err
			}
			rep.Loads = append(rep.Loads, loadReport{Records: n, Seconds: took.Seconds()})
			calls, err := scaleSteps(c, user, n, base)
			if err != nil {
				return fmt.Errorf("scale %d: %w", n, err)
			}
			for _, name := range scaleScenarios {
				proto := calls[name]
				steps := getSteps(c, o.clients, func(int) *call {
					return newCall(c, proto.method, proto.path, user, nil)
				}, http.StatusOK)
				runLoad(ctx, srv, steps, o.warmup, 1<<40)
				var acc runStats
				for range o.rounds {
					acc.add(runLoad(ctx, srv, steps, o.duration, 1<<40))
				}
				r := toResult("postgresql", name, sizeLabel(n), acc, o.inProcess)
				rep.Scale = append(rep.Scale, r)
				fmt.Fprintf(log, "scale %-4s %-30s %8.0f req/s p50 %7.2f ms p99 %7.2f ms errors %d %s\n",
					r.Target, name, r.RPS, r.P50ms, r.P99ms, r.Errors, r.FirstError)
			}
		}
	}
	if o.hot {
		if _, err := pool.Exec(ctx, rawTable); err != nil {
			return err
		}
		spreadUsers := make([]string, o.hotCollections)
		bareUsers := make([]string, o.hotCollections)
		sqlParents := make([]string, o.hotCollections)
		for i := range spreadUsers {
			spreadUsers[i] = "hot" + strconv.Itoa(i)
			bareUsers[i] = "hotbare" + strconv.Itoa(i)
			sqlParents[i] = "bench-sql-" + strconv.Itoa(i)
		}
		drop := []string{parentID("hot")}
		for i := range spreadUsers {
			drop = append(drop, parentID(spreadUsers[i]), parentID(bareUsers[i]))
		}
		drop = append(drop, sqlParents...)
		if err := dropCollections(ctx, pool, drop); err != nil {
			return err
		}
		// The collections exist, empty, as in a running service: their clock rows are there
		// before the runs (and the clock table's statistics count them, so that no prepared
		// plan is made for a nearly empty table that then fills up).
		if _, err := pool.Exec(ctx, `INSERT INTO timestamps (resource_name, parent_id, last_modified)
			SELECT $1, p, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint FROM unnest($2::text[]) AS p
			ON CONFLICT DO NOTHING`, resourceName, drop); err != nil {
			return err
		}
		if _, err := pool.Exec(ctx, `TRUNCATE bench_raw_objects`); err != nil {
			return err
		}
		w, d := o.hotWriters, o.hotDuration
		// profiled runs f while the server's CPU profile is taken into file (with -cpuprofile).
		profiled := func(file string, f func() hotResult) hotResult {
			if o.profileDir == "" || o.inProcess {
				return f()
			}
			prof := profile(ctx, srv, filepath.Join(o.profileDir, file), d)
			r := f()
			<-prof
			return r
		}
		spreadProfiled := false // the spread run's profile is taken on its first pass
		runs := []struct {
			key string
			run func() hotResult
		}{
			{"one", func() hotResult {
				return profiled("postgresql-hot.pprof", func() hotResult {
					return hotHTTP(ctx, srv, "toolkit POST, 1 collection (+ _since poller)", w, d, []string{"hot"})
				})
			}},
			{"one-sql", func() hotResult {
				return hotSQL(ctx, pool, "SQL loop: clock-and-insert statement, 1 collection", w, d, sqlParents[:1], true)
			}},
			{"one-raw", func() hotResult {
				return hotSQL(ctx, pool, "SQL loop: raw INSERT, 1 collection", w, d, []string{"bench-raw"}, false)
			}},
			{"spread", func() hotResult {
				run := func() hotResult {
					return hotHTTP(ctx, srv, fmt.Sprintf("toolkit POST, %d collections", o.hotCollections), w, d, spreadUsers)
				}
				if spreadProfiled {
					return run()
				}
				spreadProfiled = true
				return profiled("postgresql-hot-spread.pprof", run)
			}},
			{"spread-bare", func() hotResult {
				// The bare handler over HTTP on the same 1,000 collections: what any HTTP service
				// running the backend's statement reaches on this machine, for the reading of the
				// toolkit's figure against the SQL-level loops.
				cfg := srv.cfg
				cfg.Target = targetBare
				bare, err := startServer(ctx, cfg, o.inProcess)
				name := fmt.Sprintf("bare handler POST, %d collections", o.hotCollections)
				if err != nil {
					return hotResult{Name: name, Errors: 1, FirstError: err.Error()}
				}
				defer bare.stop()
				return hotHTTP(ctx, bare, name, w, d, bareUsers)
			}},
			{"spread-sql", func() hotResult {
				return hotSQL(ctx, pool, fmt.Sprintf("SQL loop: clock-and-insert statement, %d collections", o.hotCollections), w, d, sqlParents, true)
			}},
			{"spread-raw", func() hotResult {
				raw := make([]string, o.hotCollections)
				for i := range raw {
					raw[i] = "bench-raw-" + strconv.Itoa(i)
				}
				return hotSQL(ctx, pool, fmt.Sprintf("SQL loop: raw INSERT, %d collections", o.hotCollections), w, d, raw, false)
			}},
		}
		// The runs over 1,000 collections are compared with each other, and the database slows
		// down as the runs fill it: they run a second time in the opposite order, and each
		// result merges its two runs, so that no run is favoured by its place.
		order := []int{0, 1, 2, 3, 4, 5, 6, 6, 5, 4, 3}
		results := make([]*hotResult, len(runs))
		for _, i := range order {
			if !o.hotRuns[runs[i].key] {
				continue
			}
			// Every run starts from the same state: the dead rows of the previous runs vacuumed
			// and their WAL checkpointed, so that no run pays for its predecessor's cleanup.
			for _, q := range []string{`VACUUM ANALYZE objects`, `VACUUM ANALYZE timestamps`, `VACUUM ANALYZE bench_raw_objects`, `CHECKPOINT`} {
				if _, err := pool.Exec(ctx, q); err != nil {
					return fmt.Errorf("hot: %s: %w", q, err)
				}
			}
			r := runs[i].run()
			r.Key = runs[i].key
			fmt.Fprintf(log, "hot %-60s %7.0f writes/s errors %d collisions %d missed %d; CPU µs/write harness %.0f server %.0f PostgreSQL %.0f %s\n",
				r.Name, r.WPS, r.Errors, r.Collisions, r.Missed, r.HarnessCPUus, r.ServerCPUus, r.PostgresCPUus, r.FirstError)
			if results[i] == nil {
				results[i] = &r
			} else {
				results[i].merge(r)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
		for _, r := range results {
			if r != nil {
				rep.Hot = append(rep.Hot, *r)
			}
		}
	}
	return nil
}

// runSoak drives the memory app with a read/PATCH mix and samples its heap after a GC.
func runSoak(ctx context.Context, o options, rep *report, log io.Writer) error {
	srv, err := startServer(ctx, serverConfig{Target: targetToolkit, Backend: "memory", PoolSize: o.pool, Seed: o.records}, o.inProcess)
	if err != nil {
		return err
	}
	defer srv.stop()
	c := newClient(ctx, srv.base, clientTimeout)
	defer c.close()
	var parts [][]step
	for _, name := range []string{"get", "list", "patch"} {
		for _, sc := range scenarios {
			if sc.name == name {
				st, err := sc.setup(ctx, srv, c, o.clients, o.records)
				if err != nil {
					return err
				}
				parts = append(parts, st)
			}
		}
	}
	steps := make([]step, o.clients)
	for w := range steps {
		i := 0
		steps[w] = func(ctx context.Context) error {
			i++
			return parts[i%len(parts)][w](ctx)
		}
	}
	runLoad(ctx, srv, steps, time.Second, 1<<40)
	sr := &soakReport{}
	sample := func(sec int) error {
		m, err := srv.memstats(ctx, true)
		if err != nil {
			return err
		}
		s := soakSample{Second: sec, HeapMB: mb(int64(m.HeapInuse)), RSSMB: mb(srv.rssBytes()), Goroutine: m.Goroutines}
		sr.Samples = append(sr.Samples, s)
		fmt.Fprintf(log, "soak %3d s: heap in use after GC %.1f MB, RSS %.1f MB, %d goroutines\n", sec, s.HeapMB, s.RSSMB, s.Goroutine)
		return nil
	}
	if err := sample(0); err != nil {
		return err
	}
	chunk := 10 * time.Second
	for elapsed := time.Duration(0); elapsed < o.soak && ctx.Err() == nil; elapsed += chunk {
		st := runLoad(ctx, srv, steps, min(chunk, o.soak-elapsed), 1<<40)
		sr.Requests += st.requests
		sr.Errors += st.errors
		sr.Seconds += st.elapsed.Seconds()
		if err := sample(int(sr.Seconds + 0.5)); err != nil {
			return err
		}
	}
	rep.Soak = sr
	return nil
}

// runRSS measures the idle RSS of fresh app processes and of the example.
func runRSS(ctx context.Context, o options, rep *report, log io.Writer) error {
	if o.inProcess {
		rep.Notes = append(rep.Notes, "RSS not measured: -inprocess")
		return nil
	}
	type cand struct {
		what string
		cfg  serverConfig
	}
	cands := []cand{
		{"bench app, toolkit, memory backends, idle (after one hello)", serverConfig{Target: targetToolkit, Backend: "memory", PoolSize: o.pool}},
		{"bench app, bare handler, memory, idle", serverConfig{Target: targetBare, Backend: "memory", PoolSize: o.pool}},
	}
	if o.dsn != "" && contains(o.backends, "postgresql") {
		cands = append(cands, cand{"bench app, toolkit, PostgreSQL storage, idle (after one hello)", serverConfig{Target: targetToolkit, Backend: "postgresql", DSN: o.dsn, PoolSize: o.pool}})
	}
	for _, cd := range cands {
		srv, err := startServer(ctx, cd.cfg, false)
		if err != nil {
			return err
		}
		if resp, err := http.Get(srv.base + "/v1/"); err == nil {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // warm-up only
			resp.Body.Close()
		}
		time.Sleep(time.Second)
		l := rssLine{What: cd.what, RSSMB: mb(srv.rssBytes())}
		srv.stop()
		rep.RSS = append(rep.RSS, l)
		fmt.Fprintf(log, "rss: %s: %.1f MB\n", l.What, l.RSSMB)
	}
	l, err := exampleRSS(ctx, o.example)
	if err != nil {
		rep.Notes = append(rep.Notes, "example RSS not measured: "+err.Error())
		return nil
	}
	rep.RSS = append(rep.RSS, l)
	fmt.Fprintf(log, "rss: %s: %.1f MB\n", l.What, l.RSSMB)
	return nil
}

// machine describes where the numbers come from.
type machine struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	MemoryGB   string `json:"memory_gb"`
	Go         string `json:"go"`
	PostgreSQL string `json:"postgresql,omitempty"`
}

func describeMachine(ctx context.Context, dsn string) machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
				m.MemoryGB = strconv.FormatFloat(kb/(1<<20), 'f', 1, 64)
			}
		}
	}
	if dsn != "" {
		if pool, err := openPool(ctx, dsn, 1); err == nil {
			_ = pool.QueryRow(ctx, `SHOW server_version`).Scan(&m.PostgreSQL)
			pool.Close()
		}
	}
	return m
}
