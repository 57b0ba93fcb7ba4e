package monitoring_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/forwardtest"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/storage"
)

// statsdServer is a real UDP listener collecting StatsD lines.
type statsdServer struct {
	conn  net.PacketConn
	mu    sync.Mutex
	lines []string
}

func newStatsdServer(t *testing.T) *statsdServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &statsdServer{conn: conn}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			for _, l := range strings.Split(string(buf[:n]), "\n") {
				if l != "" {
					s.lines = append(s.lines, l)
				}
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *statsdServer) URL() string { return "udp://" + s.conn.LocalAddr().String() }

// wait returns the lines received once every want (a "name|type" pair, e.g.
// "p.code.200|c") was seen, failing the test after a timeout.
func (s *statsdServer) wait(t *testing.T, want ...string) []string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		s.mu.Lock()
		got := map[string]bool{}
		for _, l := range s.lines {
			got[nameType(l)] = true
		}
		lines := slices.Clone(s.lines)
		s.mu.Unlock()
		missing := []string{}
		for _, w := range want {
			if !got[w] {
				missing = append(missing, w)
			}
		}
		if len(missing) == 0 {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("missing metrics %v; received %v", missing, lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nameType turns "p.x:12|ms" into "p.x|ms".
func nameType(line string) string {
	name, rest, _ := strings.Cut(line, ":")
	_, typ, _ := strings.Cut(rest, "|")
	typ, _, _ = strings.Cut(typ, "|")
	return name + "|" + typ
}

func TestRequestMetricsSendsViewTimersCodesAuthnTypesAndUsers(t *testing.T) {
	sink := newStatsdServer(t)
	m, err := monitoring.NewStatsD(sink.URL(), "proj")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	r := chi.NewRouter()
	r.Use(monitoring.RequestMetrics(m, monitoring.RequestOptions{}))
	r.Route("/v1", func(r chi.Router) {
		r.Get("/buckets/{bid}", func(w http.ResponseWriter, r *http.Request) {
			monitoring.SetUser(r.Context(), "basicauth:abc", "basicauth")
			_, _ = io.WriteString(w, "{}")
		})
		r.Post("/buckets", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	})
	srv := httptest.NewServer(r)
	defer srv.Close()

	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/buckets/b1"}, {"GET", "/v1/buckets/b2"}, {"POST", "/v1/buckets"}, {"GET", "/nowhere"},
	} {
		rq, _ := http.NewRequest(req.method, srv.URL+req.path, nil)
		resp, err := http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	lines := sink.wait(t,
		"proj.view.v1-buckets-_bid_.GET|ms",
		"proj.view.v1-buckets.POST|ms",
		"proj.view.unmatched.GET|ms",
		"proj.code.200|c",
		"proj.code.201|c",
		"proj.code.404|c",
		"proj.authn_type.basicauth|c",
		"proj.users|s",
	)
	if !slices.Contains(lines, "proj.users:basicauth.abc|s") {
		t.Errorf("users set value not sent as basicauth.abc: %v", lines)
	}
	views := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "proj.view.v1-buckets-_bid_.GET:") {
			views++
		}
		if strings.HasPrefix(l, "proj.authn_type.") && !strings.HasPrefix(l, "proj.authn_type.basicauth:1|c") {
			t.Errorf("unexpected authn line %q", l)
		}
	}
	if views != 2 {
		t.Errorf("%d view timers for the two GETs on a bucket, want 2: %v", views, lines)
	}
}

func TestRequestMetricsRouteNameOption(t *testing.T) {
	sink := newStatsdServer(t)
	m, err := monitoring.NewStatsD(sink.URL(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := monitoring.RequestMetrics(m, monitoring.RequestOptions{
		RouteName: func(*http.Request) string { return "bucket-object" },
	})(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("DELETE", "/x", nil))
	// Without chi, the path names the view.
	monitoring.RequestMetrics(m, monitoring.RequestOptions{})(http.NotFoundHandler()).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/__heartbeat__", nil))
	sink.wait(t, "view.bucket-object.DELETE|ms", "view.__heartbeat__.GET|ms", "code.404|c")
}

func TestNilMetricsAreSafe(t *testing.T) {
	var m *monitoring.Metrics
	m.Timing("x", time.Second)
	m.Incr("x")
	m.Unique("x", "y")
	if err := m.Close(); err != nil {
		t.Error(err)
	}
	next := http.NotFoundHandler()
	h := monitoring.RequestMetrics(nil, monitoring.RequestOptions{})(next)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 || rec.Header().Get("X-Request-Id") != "" {
		t.Errorf("nil metrics middleware touched the request: %d %v", rec.Code, rec.Header())
	}
	b, _ := forwardtest.Storage()
	if monitoring.WatchStorage(b, nil, "x") != b {
		t.Error("WatchStorage with nil metrics wrapped the backend")
	}
}

func TestNewStatsDValidatesTheURL(t *testing.T) {
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"a udp URL is accepted", "udp://127.0.0.1:8125", true},
		{"a bare host:port is accepted", "127.0.0.1:8125", true},
		{"the port defaults to 8125", "udp://127.0.0.1", true},
		{"an empty URL is an error", "", false},
		{"a tcp URL is an error", "tcp://127.0.0.1:8125", false},
		{"a URL without host is an error", "udp://:8125", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := monitoring.NewStatsD(tt.url, "p")
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v", err)
			}
			m.Close()
		})
	}
}

func TestNewMetricsFromSettings(t *testing.T) {
	sink := newStatsdServer(t)
	tests := []struct {
		name     string
		settings map[string]string
		prefix   string // "" means nil Metrics
	}{
		{"no statsd_url gives nil metrics", map[string]string{}, ""},
		{"the default prefix is cliquet", map[string]string{"statsd_url": sink.URL()}, "cliquet"},
		{"project_name replaces the default prefix", map[string]string{"statsd_url": sink.URL(), "project_name": "kinto"}, "kinto"},
		{"an explicit statsd_prefix wins", map[string]string{"statsd_url": sink.URL(), "project_name": "kinto", "statsd_prefix": "edge"}, "edge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := config.FromMap(tt.settings, config.Options{Env: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			m, err := monitoring.NewMetricsFromSettings(s)
			if err != nil {
				t.Fatal(err)
			}
			if tt.prefix == "" {
				if m != nil {
					t.Fatal("metrics without statsd_url")
				}
				return
			}
			m.Incr("probe." + strings.ReplaceAll(tt.name, " ", "_"))
			m.Close()
			sink.wait(t, tt.prefix+".probe."+strings.ReplaceAll(tt.name, " ", "_")+"|c")
		})
	}
}

func TestName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/v1/buckets/{bid}/collections/{cid}/records", "v1-buckets-_bid_-collections-_cid_-records"},
		{"/", "root"},
		{"", "root"},
		{"/v1/*", "v1-_"},
		{"basic auth:x|y", "basic_auth_x_y"},
	}
	for _, tt := range tests {
		if got := monitoring.Name(tt.in); got != tt.want {
			t.Errorf("Name(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// A watched storage backend times every call it forwards, and the commit and rollback of
// its units of work, but not the calls the backend declines (storage.ErrNotSupported).
func TestWatchStorageTimesCalls(t *testing.T) {
	tests := []struct {
		name     string
		declines bool
	}{
		{"a backend with every capability has every call timed", false},
		{"a backend declining its optional capabilities has those calls untimed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newStatsdServer(t)
			m, err := monitoring.NewStatsD(sink.URL(), "p")
			if err != nil {
				t.Fatal(err)
			}
			inner, state := forwardtest.Storage()
			state.Fail(false, tt.declines)
			b := monitoring.WatchStorage(inner, m, "fake")
			ctx := context.Background()
			s := storage.Scope{Resource: "r", Parent: "p"}
			_, _ = b.Create(ctx, s, storage.Object{ID: "1"})
			_, _ = b.Get(ctx, s, "1")
			_, _ = b.GetMany(ctx, []storage.Key{{Scope: s, ID: "1"}})
			_, _ = b.List(ctx, s, storage.ListOptions{})
			_, _, _ = b.ListWithTimestamp(ctx, s, storage.ListOptions{})
			_ = b.Ping(ctx, false)
			_ = b.Flush(ctx)
			want := []string{"p.storage.fake.create|ms", "p.storage.fake.get|ms", "p.storage.fake.get_many|ms",
				"p.storage.fake.list|ms", "p.storage.fake.list_with_timestamp|ms", "p.storage.fake.ping|ms", "p.storage.fake.flush|ms"}
			optional := []string{"p.storage.fake.initialize_schema|ms", "p.storage.fake.commit|ms", "p.storage.fake.rollback|ms"}
			err = b.InitializeSchema(ctx, true)
			if errors.Is(err, storage.ErrNotSupported) != tt.declines {
				t.Errorf("InitializeSchema = %v", err)
			}
			for _, end := range []func(storage.Tx, context.Context) error{storage.Tx.Commit, storage.Tx.Rollback} {
				uctx, tx, err := b.Begin(ctx)
				if errors.Is(err, storage.ErrNotSupported) != tt.declines || (err == nil) == (tx == nil) {
					t.Fatalf("Begin = %v, %v", tx, err)
				}
				if tx != nil {
					_ = end(tx, uctx)
				}
			}
			if !tt.declines {
				want = append(want, optional...)
			}
			m.Close()
			for _, l := range sink.wait(t, want...) {
				if tt.declines && slices.ContainsFunc(optional, func(o string) bool { return strings.HasPrefix(l, strings.TrimSuffix(o, "|ms")) }) {
					t.Errorf("a declined call was timed: %s", l)
				}
			}
		})
	}
}

// fakeCache is an in-test cache backend; schema says whether it has a schema step (it
// answers cache.ErrNotSupported otherwise).
type fakeCache struct {
	data   map[string][]byte
	schema bool
}

func (c *fakeCache) Get(_ context.Context, k string) ([]byte, error) {
	if v, ok := c.data[k]; ok {
		return v, nil
	}
	return nil, cache.ErrNotFound
}
func (c *fakeCache) Set(_ context.Context, k string, v []byte, _ time.Duration) error {
	c.data[k] = v
	return nil
}
func (c *fakeCache) Delete(context.Context, string) error                { return nil }
func (c *fakeCache) Expire(context.Context, string, time.Duration) error { return nil }
func (c *fakeCache) TTL(context.Context, string) (time.Duration, error)  { return 0, nil }
func (c *fakeCache) Flush(context.Context) error                         { return nil }
func (c *fakeCache) Ping(context.Context) error                          { return nil }
func (c *fakeCache) Close() error                                        { return nil }
func (c *fakeCache) InitializeSchema(context.Context, bool) error {
	if !c.schema {
		return cache.ErrNotSupported
	}
	return nil
}

// A watched cache times every call it forwards, and passes a declined schema step through
// untimed.
func TestWatchCache(t *testing.T) {
	sink := newStatsdServer(t)
	m, err := monitoring.NewStatsD(sink.URL(), "p")
	if err != nil {
		t.Fatal(err)
	}
	plain := monitoring.WatchCache(&fakeCache{data: map[string][]byte{}}, m, "plain")
	schema := monitoring.WatchCache(&fakeCache{data: map[string][]byte{}, schema: true}, m, "pg")
	ctx := context.Background()
	if err := plain.InitializeSchema(ctx, false); !errors.Is(err, cache.ErrNotSupported) {
		t.Errorf("InitializeSchema without a schema = %v, want cache.ErrNotSupported", err)
	}
	if err := schema.InitializeSchema(ctx, false); err != nil {
		t.Errorf("InitializeSchema = %v", err)
	}
	_ = schema.Ping(ctx)
	_ = schema.Set(ctx, "k", []byte("v"), time.Minute)
	if v, err := schema.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("Get = %q, %v", v, err)
	}
	if _, err := plain.Get(ctx, "absent"); err != cache.ErrNotFound {
		t.Errorf("Get absent error = %v", err)
	}
	_, _ = schema.TTL(ctx, "k")
	m.Close()
	for _, l := range sink.wait(t, "p.cache.pg.initialize_schema|ms", "p.cache.pg.ping|ms", "p.cache.pg.set|ms",
		"p.cache.pg.get|ms", "p.cache.pg.ttl|ms", "p.cache.plain.get|ms") {
		if strings.Contains(l, "plain.initialize_schema") {
			t.Errorf("a declined InitializeSchema was timed: %s", l)
		}
	}
}

func TestWatchPermissionWithTheMemoryBackend(t *testing.T) {
	sink := newStatsdServer(t)
	m, err := monitoring.NewStatsD(sink.URL(), "p")
	if err != nil {
		t.Fatal(err)
	}
	inner := memory.New()
	b := monitoring.WatchPermission(inner, m, "memory")
	ctx := context.Background()
	if err := b.InitializeSchema(ctx, true); !errors.Is(err, permission.ErrNotSupported) {
		t.Errorf("InitializeSchema = %v, want the memory backend's permission.ErrNotSupported", err)
	}
	if got, ok := permission.As[*memory.Backend](b); !ok || got != inner {
		t.Errorf("permission.As = %v, %v; want the memory backend", got, ok)
	}
	if err := b.AddPrincipalToACE(ctx, "/buckets/b", "read", "alice"); err != nil {
		t.Fatal(err)
	}
	set, err := b.ObjectPermissions(ctx, "/buckets/b")
	if err != nil || !slices.Equal(set["read"], []string{"alice"}) {
		t.Errorf("ObjectPermissions = %v, %v", set, err)
	}
	ok, err := b.CheckPermission(ctx, []string{"alice"}, []permission.Binding{{ObjectID: "/buckets/b", Permission: "read"}})
	if err != nil || !ok {
		t.Errorf("CheckPermission = %v, %v", ok, err)
	}
	a, err := b.Access(ctx, permission.AccessQuery{UserID: "alice", Principals: []string{"alice"}, Objects: []string{"/buckets/b"}, Full: "/buckets/b"})
	if err != nil || !slices.Equal(a.Held["/buckets/b"], []string{"read"}) || !slices.Equal(a.ACEs["read"], []string{"alice"}) {
		t.Errorf("Access = %+v, %v", a, err)
	}
	if objs, err := b.MatchingObjects(ctx, "/buckets/*"); err != nil || !slices.Equal(objs, []string{"/buckets/b"}) {
		t.Errorf("MatchingObjects = %v, %v", objs, err)
	}
	m.Close()
	for _, l := range sink.wait(t, "p.permission.memory.add_principal_to_ace|ms", "p.permission.memory.object_permissions|ms",
		"p.permission.memory.check_permission|ms", "p.permission.memory.access|ms", "p.permission.memory.matching_objects|ms") {
		if strings.Contains(l, "initialize_schema") {
			t.Errorf("a declined InitializeSchema was timed: %s", l)
		}
	}
}
