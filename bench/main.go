// Command bench is the load harness of cliquet-go: it starts an app built with the toolkit
// (cliquet.Initialize + resource.Register of a schemaless "bookmark" resource, Basic auth)
// and a bare net/http baseline doing the same storage operations, each in a child process
// on 127.0.0.1, and drives them alternately with the same concurrent keep-alive clients.
// It prints a markdown report (and optionally JSON).
//
// It is a module of its own (github.com/cliquet-go/cliquet/bench, using the library of the
// parent directory), so that it is no part of the library's package graph; run it from the
// repository's root with go -C bench (file paths given to its flags are then relative to
// bench/):
//
//	go -C bench run .                  # standard scenarios, memory and PostgreSQL (about 2 min)
//	go -C bench run . -all             # + 1k vs 1M scale, hot collection, tree, 60 s soak, idle RSS
//	go -C bench run . -tree -backends '' # the tree family alone (PostgreSQL)
//	go -C bench run . -feed -backends '' # the change feed scenario alone (PostgreSQL)
//	go -C bench run . -h               # every flag
//
// PostgreSQL comes from CLIQUET_BENCH_POSTGRES_DSN, or CLIQUET_TEST_POSTGRES_DSN with the
// database replaced by benchdb (eval "$(bash scripts/services.sh)" starts it). See
// docs/benchmarks.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// options are the harness flags.
type options struct {
	clients        int
	duration       time.Duration
	warmup         time.Duration
	rounds         int
	scenarios      []string
	backends       []string
	records        int
	dsn            string
	pool           int
	writeWorkers   int
	inProcess      bool
	scale          bool
	scaleRecords   int
	reload         bool
	hot            bool
	hotWriters     int
	hotDuration    time.Duration
	hotCollections int
	hotRuns        map[string]bool // the hot scenario's runs to make, by key
	tree           bool
	feed           bool
	feedStreams    int
	feedUsers      int
	feedRate       int
	feedDuration   time.Duration
	treeWriters    []int // writers of the tree family's create scenarios
	soak           time.Duration
	rss            bool
	example        string
	jsonPath       string
	profileDir     string
	harnessProfile string
}

func defaultOptions() options {
	return options{clients: 16, duration: 2 * time.Second, warmup: 300 * time.Millisecond, rounds: 2,
		scenarios: names(), backends: []string{"memory", "postgresql"}, records: 1000, pool: 25,
		scaleRecords: 1_000_000, hotWriters: 50, hotDuration: 10 * time.Second, hotCollections: 1000,
		treeWriters: []int{16, 50}, example: "./examples/bookmarks",
		feedStreams: 1000, feedUsers: 100, feedRate: 100, feedDuration: 20 * time.Second}
}

func names() []string {
	var out []string
	for _, s := range scenarios {
		out = append(out, s.name)
	}
	return out
}

func parseFlags(args []string) (options, error) {
	o := defaultOptions()
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.clients, "clients", o.clients, "concurrent keep-alive clients per run")
	fs.DurationVar(&o.duration, "duration", o.duration, "measured time per target, scenario and round")
	fs.DurationVar(&o.warmup, "warmup", o.warmup, "unmeasured warm-up before each measured run")
	fs.IntVar(&o.rounds, "rounds", o.rounds, "rounds; each round runs bare and toolkit once, alternating which goes first")
	sc := fs.String("scenarios", strings.Join(o.scenarios, ","), "scenarios: "+strings.Join(names(), ","))
	be := fs.String("backends", strings.Join(o.backends, ","), "storage backends: memory,postgresql")
	fs.IntVar(&o.records, "records", o.records, "records in the collection the read scenarios use")
	fs.StringVar(&o.dsn, "dsn", benchDSN(), "PostgreSQL DSN (default: CLIQUET_BENCH_POSTGRES_DSN, or CLIQUET_TEST_POSTGRES_DSN on database benchdb)")
	fs.IntVar(&o.pool, "pool", o.pool, "storage_pool_size of the toolkit and pool size of the bare handler")
	fs.IntVar(&o.writeWorkers, "write-workers", 0, "storage_write_workers of the toolkit (0: the backend's default; -1: no write pipeline)")
	fs.BoolVar(&o.inProcess, "inprocess", false, "serve in this process instead of child processes (no server CPU or RSS figures)")
	fs.BoolVar(&o.scale, "scale", false, "run the 1k vs large-collection scenarios on PostgreSQL")
	fs.IntVar(&o.scaleRecords, "scale-records", o.scaleRecords, "records of the large collection")
	fs.BoolVar(&o.reload, "reload", false, "reload the scale collections even when they are already in the database")
	fs.BoolVar(&o.hot, "hot", false, "run the hot-collection scenario on PostgreSQL")
	fs.IntVar(&o.hotWriters, "hot-writers", o.hotWriters, "concurrent writers of the hot-collection scenario")
	fs.DurationVar(&o.hotDuration, "hot-duration", o.hotDuration, "duration of each hot-collection run")
	fs.IntVar(&o.hotCollections, "hot-collections", o.hotCollections, "collections of the spread variant")
	hr := fs.String("hot-runs", strings.Join(hotRunKeys, ","), "runs of the hot-collection scenario: "+strings.Join(hotRunKeys, ","))
	fs.DurationVar(&o.soak, "soak", 0, "soak the memory app for this long, sampling its heap (0: no soak)")
	fs.BoolVar(&o.rss, "rss", false, "measure idle RSS of the apps and of the example")
	fs.StringVar(&o.example, "example", o.example, "package of the example app for the RSS measurement, relative to the cliquet module's directory")
	fs.BoolVar(&o.feed, "feed", false, "run the change feed scenario on PostgreSQL: two web heads, 1,000 streams, 100 writes/s (use -backends '' to run it alone)")
	fs.IntVar(&o.feedStreams, "feed-streams", o.feedStreams, "streams of the change feed scenario, spread over both heads and the users")
	fs.IntVar(&o.feedUsers, "feed-users", o.feedUsers, "users (collections) of the change feed scenario")
	fs.IntVar(&o.feedRate, "feed-rate", o.feedRate, "paced writes per second of the change feed scenario")
	fs.DurationVar(&o.feedDuration, "feed-duration", o.feedDuration, "duration of the paced writes of the change feed scenario")
	fs.BoolVar(&o.tree, "tree", false, "run the tree family on PostgreSQL (Kinto-shaped buckets, collections, records) beside the flat app and a bare tree handler; -scenarios selects get, list, create")
	tw := fs.String("tree-writers", "16,50", "writers of the tree family's create scenarios")
	fs.StringVar(&o.jsonPath, "json", "", "also write the results as JSON to this file")
	fs.StringVar(&o.profileDir, "cpuprofile", "", "write the server CPU profiles of the first round of every scenario (toolkit and bare) to this directory")
	fs.StringVar(&o.harnessProfile, "harnessprofile", "", "write the harness's own CPU profile (the load generator) to this file")
	all := fs.Bool("all", false, "everything: -scale -hot -rss -soak 60s, and -tree and -feed when the backends include postgresql")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.scenarios = split(*sc)
	o.backends = split(*be)
	if *all {
		o.scale, o.hot, o.rss = true, true, true
		o.tree = o.tree || contains(o.backends, "postgresql")
		o.feed = o.feed || contains(o.backends, "postgresql")
		if o.soak == 0 {
			o.soak = 60 * time.Second
		}
	}
	for _, s := range o.scenarios {
		if !contains(names(), s) {
			return o, fmt.Errorf("unknown scenario %q", s)
		}
	}
	o.hotRuns = map[string]bool{}
	for _, k := range split(*hr) {
		if !contains(hotRunKeys, k) {
			return o, fmt.Errorf("unknown hot-collection run %q", k)
		}
		o.hotRuns[k] = true
	}
	for _, b := range o.backends {
		if b != "memory" && b != "postgresql" {
			return o, fmt.Errorf("unknown backend %q", b)
		}
	}
	o.treeWriters = nil
	for _, v := range split(*tw) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return o, fmt.Errorf("bad -tree-writers value %q", v)
		}
		o.treeWriters = append(o.treeWriters, n)
	}
	if o.clients < 1 || o.rounds < 1 || o.duration <= 0 || o.records < 101 {
		return o, errors.New("clients and rounds must be positive, duration too, and records at least 101")
	}
	return o, nil
}

// hotRunKeys name the runs of the hot-collection scenario, in the order they run: the toolkit
// on one collection with its poller, the clock-and-insert and raw INSERT loops on one
// collection, then over the spread collections the toolkit, the bare handler and the two
// loops.
var hotRunKeys = []string{"one", "one-sql", "one-raw", "spread", "spread-bare", "spread-sql", "spread-raw"}

func split(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serveMain(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench serve:", err)
			os.Exit(1)
		}
		return
	}
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.harnessProfile != "" {
		f, err := os.Create(o.harnessProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	rep, err := run(ctx, o, os.Stderr)
	if rep != nil {
		writeMarkdown(os.Stdout, rep, o)
		if o.jsonPath != "" {
			b, _ := json.MarshalIndent(rep, "", "  ")
			if werr := os.WriteFile(o.jsonPath, b, 0o644); werr != nil {
				fmt.Fprintln(os.Stderr, "bench:", werr)
			}
		}
	}
	if err != nil {
		pprof.StopCPUProfile() // os.Exit skips the deferred stop
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// report is everything one run measured.
type report struct {
	Date    string       `json:"date"`
	Machine machine      `json:"machine"`
	Results []result     `json:"results"`
	Scale   []result     `json:"scale,omitempty"`
	Hot     []hotResult  `json:"hot,omitempty"`
	Tree    []treeLine   `json:"tree,omitempty"`
	Feed    *feedResult  `json:"feed,omitempty"`
	Soak    *soakReport  `json:"soak,omitempty"`
	RSS     []rssLine    `json:"rss,omitempty"`
	Loads   []loadReport `json:"loads,omitempty"`
	Notes   []string     `json:"notes,omitempty"`
}

type loadReport struct {
	Records int     `json:"records"`
	Seconds float64 `json:"seconds"` // 0: reused from a previous run
}

// run executes the configured scenarios; progress goes to log.
func run(ctx context.Context, o options, log io.Writer) (*report, error) {
	rep := &report{Date: time.Now().UTC().Format("2006-01-02 15:04 UTC"), Machine: describeMachine(ctx, o.dsn)}
	for _, backend := range o.backends {
		if err := runBackend(ctx, o, backend, rep, log); err != nil {
			return rep, fmt.Errorf("%s: %w", backend, err)
		}
	}
	if o.tree {
		if err := runTree(ctx, o, rep, log); err != nil {
			return rep, fmt.Errorf("tree: %w", err)
		}
	}
	if o.feed {
		if err := runFeed(ctx, o, rep, log); err != nil {
			return rep, fmt.Errorf("feed: %w", err)
		}
	}
	if o.soak > 0 {
		if err := runSoak(ctx, o, rep, log); err != nil {
			return rep, fmt.Errorf("soak: %w", err)
		}
	}
	if o.rss {
		if err := runRSS(ctx, o, rep, log); err != nil {
			return rep, fmt.Errorf("rss: %w", err)
		}
	}
	return rep, nil
}

func runBackend(ctx context.Context, o options, backend string, rep *report, log io.Writer) error {
	cfg := serverConfig{Backend: backend, PoolSize: o.pool, Seed: o.records, WriteWorkers: o.writeWorkers}
	var pool *pgxpool.Pool
	if backend == "postgresql" {
		if o.dsn == "" {
			return errors.New(`no PostgreSQL DSN: run eval "$(bash scripts/services.sh)" or pass -dsn`)
		}
		cfg.DSN, cfg.Seed = o.dsn, 0
		if err := migrate(ctx, o.dsn); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var err error
		if pool, err = openPool(ctx, o.dsn, max(o.hotWriters, 4)); err != nil {
			return err
		}
		defer pool.Close()
		if _, _, err := loadCollection(ctx, pool, parentID(readerUser), o.records, false); err != nil {
			return err
		}
		if err := dropCollections(ctx, pool, []string{parentID("writer"), parentID("patcher"), parentID("batcher")}); err != nil {
			return err
		}
	}
	servers := map[string]*server{}
	for _, t := range []string{targetBare, targetToolkit} {
		c := cfg
		c.Target = t
		s, err := startServer(ctx, c, o.inProcess)
		if err != nil {
			return fmt.Errorf("start %s: %w", t, err)
		}
		defer s.stop()
		servers[t] = s
	}
	clients := map[string]*client{}
	for t, s := range servers {
		clients[t] = newClient(ctx, s.base, clientTimeout)
		defer clients[t].close()
	}
	for _, sc := range scenarios {
		if !contains(o.scenarios, sc.name) {
			continue
		}
		steps := map[string][]step{}
		na := map[string]bool{}
		for t, s := range servers {
			st, err := sc.setup(ctx, s, clients[t], o.clients, o.records)
			if errors.Is(err, errNA) {
				na[t] = true
				continue
			}
			if err != nil {
				return fmt.Errorf("%s setup on %s: %w", sc.name, t, err)
			}
			steps[t] = st
		}
		acc := map[string]*runStats{targetBare: {}, targetToolkit: {}}
		for round := range o.rounds {
			order := []string{targetBare, targetToolkit}
			if round%2 == 1 {
				order = []string{targetToolkit, targetBare}
			}
			for _, t := range order {
				if na[t] {
					continue
				}
				runLoad(ctx, servers[t], steps[t], o.warmup, 1<<40)
				var prof chan error
				if o.profileDir != "" && round == 0 && !o.inProcess {
					name := backend + "-" + sc.name
					if t == targetBare {
						name += "-bare"
					}
					prof = profile(ctx, servers[t], filepath.Join(o.profileDir, name+".pprof"), o.duration)
				}
				st := runLoad(ctx, servers[t], steps[t], o.duration, 1<<40)
				if prof != nil {
					if err := <-prof; err != nil {
						fmt.Fprintln(log, "profile:", err)
					}
				}
				acc[t].add(st)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		for _, t := range []string{targetBare, targetToolkit} {
			if na[t] {
				rep.Results = append(rep.Results, result{Backend: backend, Scenario: sc.title, Target: t, NA: true})
				continue
			}
			r := toResult(backend, sc.title, t, *acc[t], o.inProcess)
			rep.Results = append(rep.Results, r)
			pg := ""
			if r.PostgresCPUus > 0 {
				pg = fmt.Sprintf(", PostgreSQL %.0f µs CPU per op", r.PostgresCPUus)
			}
			fmt.Fprintf(log, "%-10s %-52s %-7s %8.0f req/s p50 %6.2f ms p99 %6.2f ms errors %d; server %.0f µs CPU, %.0f B allocated per op, %.0f GCs/s%s %s\n",
				backend, sc.title, t, r.RPS, r.P50ms, r.P99ms, r.Errors, r.ServerCPUus, r.ServerBytes, r.ServerGCs, pg, r.FirstError)
		}
	}
	if backend != "postgresql" {
		return nil
	}
	return runPostgresExtras(ctx, o, servers[targetToolkit], pool, rep, log)
}

// profile fetches a CPU profile of the server covering the next d.
func profile(ctx context.Context, s *server, path string, d time.Duration) chan error {
	ch := make(chan error, 1)
	secs := max(int(d.Seconds()), 1)
	go func() {
		ch <- func() error {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.ctl, secs), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(f, resp.Body)
			return err
		}()
	}()
	return ch
}
