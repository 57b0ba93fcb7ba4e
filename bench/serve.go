package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	_ "github.com/cliquet-go/cliquet/storage/postgresql" // storage_backend = postgresql
)

// The app under test: one schemaless "bookmark" resource (kinto's default behaviour), Basic
// auth with a fixed secret, so that a user name is one collection.
const (
	secret       = "bench-secret"
	resourceName = "bookmark"
	pluralPath   = "/v1/bookmarks"
	readerUser   = "reader"
)

// Targets: the toolkit app, and the bare net/http handler doing the same storage operation.
const (
	targetToolkit = "toolkit"
	targetBare    = "bare"
)

// The apps a server can run (serverConfig.App): the flat private bookmarks of the standard
// scenarios, or the Kinto-shaped tree of shareable buckets, collections and records (tree.go).
const (
	appFlat = "flat"
	appTree = "tree"
)

// serverConfig says what a server process (or in-process server) runs.
type serverConfig struct {
	Target   string // targetToolkit or targetBare
	App      string // appFlat ("" too) or appTree (PostgreSQL only)
	Backend  string // "memory" or "postgresql"
	DSN      string // postgresql only
	PoolSize int    // storage_pool_size (and the bare pgxpool size)
	Seed     int    // records seeded in the reader collection (memory only: PostgreSQL is loaded with COPY)
	// WriteWorkers is the toolkit's storage_write_workers (0: the backend's default).
	WriteWorkers int
	// Settings are more settings of the toolkit app, "key=value" pairs separated by commas.
	Settings string
}

func (c serverConfig) args() []string {
	return []string{"serve", "-target", c.Target, "-app", c.App, "-backend", c.Backend, "-dsn", c.DSN,
		"-pool", strconv.Itoa(c.PoolSize), "-seed", strconv.Itoa(c.Seed), "-write-workers", strconv.Itoa(c.WriteWorkers),
		"-settings", c.Settings}
}

// extraSettings parses serverConfig.Settings.
func (c serverConfig) extraSettings() map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(c.Settings, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return m
}

// parentID is the collection (storage parent id) of a Basic-auth user with password
// "secret", as the toolkit computes it: the user id "basicauth:<hmac>".
func parentID(user string) string { return userID(user, "secret") }

func userID(user, password string) string {
	return "basicauth:" + authn.HMACUserID(secret, user+":"+password)
}

// seedID is the deterministic id of the i-th seeded record (a valid lowercase UUID).
func seedID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", i) }

// recordData is the data of the i-th seeded record: half of the records are unread, the
// scores are spread over 0..999.
func recordData(i int) []byte {
	return fmt.Appendf(nil, `{"title":"Bookmark %d","url":"https://example.com/%d","score":%d,"unread":%t,"tags":["go","bench"]}`,
		i, i, (i*7919)%1000, i%2 == 0)
}

// newHandler builds the server under test. The returned function releases its resources.
func newHandler(ctx context.Context, cfg serverConfig, logger *slog.Logger) (http.Handler, func(), error) {
	if cfg.App == appTree {
		if cfg.Target == targetBare {
			return newBareTree(ctx, cfg)
		}
		return newTreeApp(cfg, logger)
	}
	if cfg.Target == targetBare {
		return newBare(ctx, cfg)
	}
	app, err := initApp(cfg, logger, cfg.extraSettings())
	if err != nil {
		return nil, nil, err
	}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: resourceName}); err != nil {
		app.Close()
		return nil, nil, err
	}
	if cfg.Backend == "memory" {
		scope := storage.Scope{Resource: resourceName, Parent: parentID(readerUser)}
		for i := range cfg.Seed {
			if _, err := app.Storage.Create(ctx, scope, storage.Object{ID: seedID(i), Data: recordData(i)}); err != nil {
				app.Close()
				return nil, nil, err
			}
		}
	}
	return app.Handler(), func() { app.Close() }, nil
}

// initApp initializes the toolkit app of cfg (no resources yet): Basic auth with the fixed
// secret, memory cache and permission backends, cfg's storage backend; extra settings
// override these.
func initApp(cfg serverConfig, logger *slog.Logger, extra map[string]string) (*cliquet.App, error) {
	values := map[string]string{
		"project_name":       "bench",
		"userid_hmac_secret": secret,
		"storage_backend":    cfg.Backend,
		"cache_backend":      "memory",
		"permission_backend": "memory",
	}
	if cfg.Backend == "postgresql" {
		values["storage_url"] = cfg.DSN
		values["storage_pool_size"] = strconv.Itoa(cfg.PoolSize)
		values["storage_write_workers"] = strconv.Itoa(cfg.WriteWorkers)
	}
	for k, v := range extra {
		values[k] = v
	}
	settings, err := config.FromMap(values, config.Options{Env: []string{}})
	if err != nil {
		return nil, err
	}
	return cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: settings, ProjectVersion: "1.0.0", Logger: logger,
	})
}

// controlMux serves the server's runtime statistics and profiles on a separate listener, so
// that the app's routes are exactly what a user would mount.
func controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /memstats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("gc") != "" {
			runtime.GC()
		}
		if r.URL.Query().Get("free") != "" {
			debug.FreeOSMemory() // return freed memory to the system: RSS then counts live memory
		}
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(memStats{HeapAlloc: m.HeapAlloc, HeapInuse: m.HeapInuse, Sys: m.Sys, NumGC: m.NumGC,
			TotalAlloc: m.TotalAlloc, Goroutines: runtime.NumGoroutine()})
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	return mux
}

// memStats is what /memstats returns.
type memStats struct {
	HeapAlloc, HeapInuse, Sys uint64
	TotalAlloc                uint64 // bytes allocated since the start, freed or not
	NumGC                     uint32
	Goroutines                int
}

// serveMain is the child process: it serves the app on 127.0.0.1, prints "READY <app>
// <control>" and runs until its standard input is closed (the parent exited or stopped it).
func serveMain(args []string) error {
	fs := flag.NewFlagSet("bench serve", flag.ContinueOnError)
	var cfg serverConfig
	fs.StringVar(&cfg.Target, "target", targetToolkit, "toolkit or bare")
	fs.StringVar(&cfg.App, "app", appFlat, "flat (private bookmarks) or tree (Kinto-shaped buckets, collections and records; postgresql only)")
	fs.StringVar(&cfg.Backend, "backend", "memory", "memory or postgresql")
	fs.StringVar(&cfg.DSN, "dsn", "", "PostgreSQL DSN")
	fs.IntVar(&cfg.PoolSize, "pool", 25, "connection pool size")
	fs.IntVar(&cfg.Seed, "seed", 0, "records to seed in the reader collection (memory)")
	fs.IntVar(&cfg.WriteWorkers, "write-workers", 0, "storage_write_workers of the toolkit (0: default)")
	fs.StringVar(&cfg.Settings, "settings", "", "more settings of the toolkit app: key=value,key=value")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx := context.Background()
	h, closeFn, err := newHandler(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeFn()
	srv, addr, err := listen(h)
	if err != nil {
		return err
	}
	ctl, ctlAddr, err := listen(controlMux())
	if err != nil {
		return err
	}
	fmt.Printf("READY %s %s\n", addr, ctlAddr)
	_, _ = io.Copy(io.Discard, os.Stdin) // returns when the parent closes the pipe
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = ctl.Shutdown(sctx)
	return srv.Shutdown(sctx)
}

// listen serves h on an ephemeral loopback port.
func listen(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ErrServerClosed on Shutdown
	return srv, ln.Addr().String(), nil
}

// server is a running server under test, as the load generator sees it.
type server struct {
	cfg  serverConfig
	base string // http://127.0.0.1:port
	ctl  string // control listener base URL
	pid  int    // the child's pid; 0 when in-process (no separate CPU or RSS)
	stop func()
}

// startServer runs cfg in a child process (inProcess false) or in this process.
func startServer(ctx context.Context, cfg serverConfig, inProcess bool) (*server, error) {
	if inProcess {
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		h, closeFn, err := newHandler(ctx, cfg, logger)
		if err != nil {
			return nil, err
		}
		srv, addr, err := listen(h)
		if err != nil {
			closeFn()
			return nil, err
		}
		ctl, ctlAddr, err := listen(controlMux())
		if err != nil {
			srv.Close()
			closeFn()
			return nil, err
		}
		return &server{cfg: cfg, base: "http://" + addr, ctl: "http://" + ctlAddr, stop: func() {
			srv.Close()
			ctl.Close()
			closeFn()
		}}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, cfg.args()...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }() //nolint:errcheck // exit status is irrelevant
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY ") {
				line <- sc.Text()
				break
			}
		}
		io.Copy(io.Discard, stdout) //nolint:errcheck // drain
	}()
	select {
	case l := <-line:
		f := strings.Fields(l)
		return &server{cfg: cfg, base: "http://" + f[1], ctl: "http://" + f[2], pid: cmd.Process.Pid, stop: stop}, nil
	case <-time.After(60 * time.Second):
		stop()
		return nil, errors.New("bench: the server child did not start within 60 s")
	}
}

// cpuSeconds is the user+system CPU time of the child, 0 when in-process.
func (s *server) cpuSeconds() float64 {
	if s == nil || s.pid == 0 {
		return 0
	}
	_, cpu := procStat(fmt.Sprintf("/proc/%d/stat", s.pid))
	return cpu
}

// procStat reads a /proc/<pid>/stat file: the command name and the user+system CPU seconds
// ("", 0 when unreadable).
func procStat(path string) (string, float64) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0
	}
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open || closing+2 > len(b) {
		return "", 0
	}
	// Fields after the ")" that closes the command name: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[closing+2:]))
	if len(f) < 13 {
		return "", 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return string(b[open+1 : closing]), (ut + st) / 100 // USER_HZ is 100 on Linux
}

// postgresCPU is the CPU seconds used so far by the machine's running PostgreSQL processes
// (the postmaster, its backends and its background workers): a difference over a run is
// the database's share of the machine while its connections stay open.
func postgresCPU() float64 {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var sum float64
	for _, p := range stats {
		if name, cpu := procStat(p); name == "postgres" {
			sum += cpu
		}
	}
	return sum
}

// rssBytes is the child's resident set size, 0 when in-process.
func (s *server) rssBytes() int64 {
	if s.pid == 0 {
		return 0
	}
	return procRSS(s.pid)
}

func procRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// memstats asks the server for its heap statistics (after a GC when gc is true).
func (s *server) memstats(ctx context.Context, gc bool) (memStats, error) {
	return s.memstatsQuery(ctx, map[bool]string{true: "?gc=1"}[gc])
}

// memstatsQuery is memstats with the query of /memstats ("?gc=1&free=1").
func (s *server) memstatsQuery(ctx context.Context, query string) (memStats, error) {
	var m memStats
	if s == nil || s.ctl == "" {
		return m, errors.New("bench: no control listener")
	}
	u := s.ctl + "/memstats" + query
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	return m, json.NewDecoder(resp.Body).Decode(&m)
}
