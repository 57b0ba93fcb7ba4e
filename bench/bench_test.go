package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// TestMain drops the PostgreSQL databases the tests created (private to this test process:
// see testenv.PostgresDatabase).
func TestMain(m *testing.M) { testenv.Main(m) }

// smokeOptions runs every scenario briefly against in-process memory servers.
func smokeOptions() options {
	o := defaultOptions()
	o.backends = []string{"memory"}
	o.inProcess = true
	o.clients = 4
	o.duration = 200 * time.Millisecond
	o.warmup = 20 * time.Millisecond
	o.rounds = 1
	o.records = 200
	return o
}

// TestScenariosSucceed proves that the harness drives every scenario against both targets
// with no error responses. It does not look at speed.
func TestScenariosSucceed(t *testing.T) {
	o := smokeOptions()
	var log bytes.Buffer
	rep, err := run(context.Background(), o, &log)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if got, want := len(rep.Results), 2*len(scenarios); got != want {
		t.Fatalf("%d results, want %d (one per scenario and target)", got, want)
	}
	for _, r := range rep.Results {
		if r.NA {
			if r.Target == targetBare {
				t.Errorf("%s: the bare baseline must support every scenario", r.Scenario)
			}
			continue
		}
		if r.Requests == 0 || r.Errors != 0 {
			t.Errorf("%s on %s: %d requests, %d errors (%s)", r.Scenario, r.Target, r.Requests, r.Errors, r.FirstError)
		}
		if r.P50ms <= 0 || r.P99ms < r.P50ms {
			t.Errorf("%s on %s: p50 %v ms, p99 %v ms", r.Scenario, r.Target, r.P50ms, r.P99ms)
		}
	}
	var md bytes.Buffer
	writeMarkdown(&md, rep, o)
	for _, want := range []string{"#### memory", "| GET one record |", "GET one record, memory: toolkit ≥ 0.7× bare"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the markdown report lacks %q:\n%s", want, md.String())
		}
	}
}

// TestTreeScenarios drives the tree family briefly against in-process servers on a
// PostgreSQL database of its own (CLIQUET_TEST_POSTGRES_DSN; skipped without it, failed when
// CI is set). Each scenario's setup checks the answers (a GET returns the seeded record, a
// list the newest 20 in order, a create 201 with the author's write and a record invalid
// against the collection's schema 400); then every target must have served its scenario
// without error, and every record the creates stored must have its author's ACE.
func TestTreeScenarios(t *testing.T) {
	dsn := testenv.PostgresDatabase(t, "bench_tree")
	o := smokeOptions()
	o.backends = nil
	o.tree = true
	o.dsn = dsn
	o.pool = 8
	o.treeWriters = []int{4, 8}
	ctx := context.Background()
	var log bytes.Buffer
	rep, err := run(ctx, o, &log)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, log.String())
	}
	if got := len(rep.Tree); got != 4 {
		t.Fatalf("%d tree lines, want 4 (GET, list, create at 4 and 8 writers)\n%s", got, log.String())
	}
	for _, l := range rep.Tree {
		for _, r := range []result{l.Tree, l.Flat, l.BareTree} {
			if r.Requests == 0 || r.Errors != 0 {
				t.Errorf("%s on %s: %d requests, %d errors (%s)", l.Scenario, r.Target, r.Requests, r.Errors, r.FirstError)
			}
		}
		if l.TreeOverFlat <= 0 || l.TreeOverBare <= 0 {
			t.Errorf("%s: ratios %v (flat) and %v (bare tree)", l.Scenario, l.TreeOverFlat, l.TreeOverBare)
		}
	}
	pool, err := openPool(ctx, dsn, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var records, withoutACE int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
		SELECT 1 FROM access_control_entries a WHERE a.object_id = $1 || '/records/' || o.id AND a.permission = 'write'))
		FROM objects o WHERE resource_name = 'record' AND parent_id = $1 AND NOT deleted`, treeCollURI).Scan(&records, &withoutACE); err != nil {
		t.Fatal(err)
	}
	if records <= o.records || withoutACE != 0 {
		t.Errorf("collection c1 holds %d records (%d seeded), %d without their author's ACE", records, o.records, withoutACE)
	}
	var md bytes.Buffer
	writeMarkdown(&md, rep, o)
	for _, want := range []string{"#### Tree", "| POST create, 8 writers |", "tree, GET one record: tree app ≥ 0.7× flat app"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("the markdown report lacks %q:\n%s", want, md.String())
		}
	}
}

// TestHotCollectionOnMemory runs the hot-collection writers and the _since poller against
// the memory app: every acknowledged write must be seen by the poller, with unique timestamps.
func TestHotCollectionOnMemory(t *testing.T) {
	ctx := context.Background()
	srv, err := startServer(ctx, serverConfig{Target: targetToolkit, Backend: "memory"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	for _, users := range [][]string{{"hot"}, {"a", "b", "c"}} {
		r := hotHTTP(ctx, srv, "smoke", 8, 200*time.Millisecond, users)
		if r.Writes == 0 || r.Errors != 0 || r.Collisions != 0 {
			t.Errorf("%d collections: %d writes, %d errors (%s), %d collisions", len(users), r.Writes, r.Errors, r.FirstError, r.Collisions)
		}
		if len(users) == 1 && (r.Missed != 0 || r.Polls == 0) {
			t.Errorf("the poller missed %d writes in %d polls", r.Missed, r.Polls)
		}
		if len(users) > 1 && r.Missed != -1 {
			t.Errorf("no poller runs on a spread collection set, got missed = %d", r.Missed)
		}
	}
}

// The targets are read from the hot-collection runs by their keys, so a partial selection
// still reports the targets whose runs were made, and only those.
func TestHotTargetsFromPartialRuns(t *testing.T) {
	rep := &report{Hot: []hotResult{
		{Key: "spread", Collections: 1000, WPS: 600},
		{Key: "spread-raw", Collections: 1000, WPS: 1000},
	}}
	var out strings.Builder
	writeTargets(&out, rep, options{})
	got := out.String()
	if !strings.Contains(got, "1000 collections: ≥ 0.5× the raw INSERT rate | 0.60× (600 vs 1000 writes/s), 0 errors | met") {
		t.Errorf("spread target missing or wrong:\n%s", got)
	}
	if strings.Contains(got, "hot collection:") || strings.Contains(got, "bare handler") {
		t.Errorf("targets of runs that were not made are reported:\n%s", got)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"accepts the defaults", nil, true},
		{"turns on every extra with -all", []string{"-all"}, true},
		{"selects the tree family's writers", []string{"-tree", "-tree-writers", "16,50"}, true},
		{"rejects a bad writer count", []string{"-tree-writers", "16,x"}, false},
		{"rejects an unknown scenario", []string{"-scenarios", "get,nope"}, false},
		{"rejects an unknown backend", []string{"-backends", "redis"}, false},
		{"rejects a collection too small for the _since scenario", []string{"-records", "50"}, false},
		{"selects hot-collection runs", []string{"-hot-runs", "spread,spread-raw"}, true},
		{"rejects an unknown hot-collection run", []string{"-hot-runs", "spread,nope"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args)
			if (err == nil) != tt.ok {
				t.Fatalf("parseFlags(%q) error %v, want ok=%v", tt.args, err, tt.ok)
			}
			if tt.ok && slices.Contains(tt.args, "-all") && (!o.scale || !o.hot || !o.rss || !o.tree || o.soak != 60*time.Second) {
				t.Errorf("-all did not enable scale, hot, tree, rss and a 60 s soak: %+v", o)
			}
			if tt.ok && slices.Contains(tt.args, "-tree") && (!o.tree || !slices.Equal(o.treeWriters, []int{16, 50})) {
				t.Errorf("-tree -tree-writers 16,50: tree %v, writers %v", o.tree, o.treeWriters)
			}
			if tt.ok && slices.Contains(tt.args, "-hot-runs") && (len(o.hotRuns) != 2 || !o.hotRuns["spread"] || !o.hotRuns["spread-raw"]) {
				t.Errorf("-hot-runs spread,spread-raw selected %v", o.hotRuns)
			}
			if tt.ok && len(tt.args) == 0 && len(o.hotRuns) != len(hotRunKeys) {
				t.Errorf("by default %d hot-collection runs are selected, want all %d", len(o.hotRuns), len(hotRunKeys))
			}
		})
	}
}
