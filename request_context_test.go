package cliquet

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/protocol"
)

// A request's per-request context is the one the monitoring middleware made under its own
// state (one request copy for both): contextMiddleware claims it, the authentication
// records the identity in it, and it answers the App's ErrorWriter. Each batch sub-request,
// monitored on its own, gets a context of its own the same way.
func TestRequestContextIsSharedWithMonitoring(t *testing.T) {
	app := newApp(t, nil, Config{})
	type seen struct {
		rc       *requestContext
		top      context.Context
		user     string
		rid      string
		writerOK bool
	}
	var mu sync.Mutex
	var got []seen
	app.Router.Get("/probe", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		rc, _ := ctx.Value(requestContextKey).(*requestContext)
		s := seen{rc: rc, user: IdentityFrom(ctx).UserID, rid: monitoring.RequestID(ctx),
			writerOK: protocol.ErrorWriterFrom(ctx) == app.errors}
		if rc != nil {
			s.top = rc.top
		}
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	h := app.Handler()
	auth := "Basic " + "YWxpY2U6c2VjcmV0" // alice:secret

	if r := do(t, h, "GET", "/v1/probe", nil, "Authorization", auth); r.StatusCode != http.StatusNoContent {
		t.Fatalf("GET /v1/probe = %d %s", r.StatusCode, r.body)
	}
	top := got[0]
	if top.rc == nil || top.rc.top == nil {
		t.Fatalf("the handler sees no claimed request context: %+v", top)
	}
	if top.top == context.Context(top.rc) {
		t.Error("a top-level request got a request context of its own (a second request copy) instead of the monitoring middleware's")
	}
	if top.user == "" || !top.rc.hasID || top.rc.id.UserID != top.user {
		t.Errorf("identity %q not recorded in the request context (id %+v)", top.user, top.rc.id)
	}
	if top.rid == "" || !top.writerOK {
		t.Errorf("request id %q, App's ErrorWriter answered: %v", top.rid, top.writerOK)
	}

	got = nil
	body := `{"requests": [{"path": "/probe", "method": "GET"}, {"path": "/probe", "method": "GET"}]}`
	r := do(t, h, "POST", "/v1/batch", strings.NewReader(body), "Content-Type", "application/json", "Authorization", auth)
	if r.StatusCode != http.StatusOK || len(got) != 2 {
		t.Fatalf("POST /v1/batch = %d %s; %d sub-requests seen", r.StatusCode, r.body, len(got))
	}
	for i, s := range got {
		if s.rc == nil || s.rc.top == nil || s.top == context.Context(s.rc) {
			t.Errorf("sub-request %d: request context %p (top %p), want one made by the monitoring middleware, claimed", i, s.rc, s.top)
		}
		if s.user != top.user || !s.writerOK || s.rid != got[0].rid {
			t.Errorf("sub-request %d: user %q (want %q), writer ok %v, request id %q (want the batch's %q)", i, s.user, top.user, s.writerOK, s.rid, got[0].rid)
		}
	}
	if got[0].rc == got[1].rc {
		t.Error("two sub-requests share one request context")
	}

	// Served under another monitoring middleware, which started the request's monitoring
	// without the App's hook: contextMiddleware makes the context itself.
	got = nil
	outer := monitoring.RequestLogger(slog.New(slog.DiscardHandler), monitoring.RequestOptions{})(h)
	if r := do(t, outer, "GET", "/v1/probe", nil, "Authorization", auth); r.StatusCode != http.StatusNoContent {
		t.Fatalf("GET /v1/probe under an outer monitoring middleware = %d %s", r.StatusCode, r.body)
	}
	if s := got[0]; s.rc == nil || s.top != context.Context(s.rc) || s.user != top.user || !s.writerOK {
		t.Errorf("under an outer monitoring middleware: request context %p (top %p), user %q, writer ok %v; want its own", s.rc, s.top, s.user, s.writerOK)
	}
}

// The principals of a request live in its requestContext's array. A view that appends to
// them gets a copy: what the identity holds, for every later reader, does not change.
func TestIdentityPrincipalsAreNotWrittenByAppends(t *testing.T) {
	app := newApp(t, nil, Config{})
	var before, after []string
	app.Router.Get("/probe", func(w http.ResponseWriter, r *http.Request) {
		id := IdentityFrom(r.Context())
		before = slices.Clone(id.Principals)
		extended := append(id.Principals, "role:admin")
		extended[0] = "tampered"
		after = IdentityFrom(r.Context()).Principals
	})
	for _, user := range []string{"alice", ""} {
		r := httptest.NewRequest(http.MethodGet, "/v1/probe", nil)
		if user != "" {
			r.SetBasicAuth(user, "secret")
		}
		app.Handler().ServeHTTP(httptest.NewRecorder(), r)
		want := 1
		if user != "" {
			want = 3
		}
		if len(before) != want || !slices.Equal(before, after) || slices.Contains(after, "tampered") {
			t.Errorf("user %q: principals %q, then %q after an append (want %d unchanged)", user, before, after, want)
		}
	}
}
