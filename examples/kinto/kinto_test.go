package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/config"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// client drives one test server as a given user.
type client struct {
	t    *testing.T
	h    http.Handler
	user string // "" for anonymous
}

// newServer starts the example on memory backends with extra settings.
func newTestServer(t *testing.T, extra map[string]string) http.Handler {
	t.Helper()
	defaults := defaultSettings()
	for k, v := range extra {
		defaults[k] = v
	}
	s, err := config.FromMap(nil, config.Options{ProjectName: projectName, Env: []string{}, Defaults: defaults})
	if err != nil {
		t.Fatal(err)
	}
	h, app, err := newServer(s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return h
}

func (c client) as(user string) client { c.user = user; return c }

// do sends a request and returns the status and the decoded JSON body.
func (c client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req := httptest.NewRequest(method, "/v1"+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, "pw")
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// must sends a request and fails the test unless the status is want.
func (c client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	code, out := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s as %q: status %d, want %d: %v", method, path, c.user, code, want, out)
	}
	return out
}

// userID returns the user id of the current user, from the hello view.
func (c client) userID() string {
	c.t.Helper()
	out := c.must(200, "GET", "/", nil)
	return out["user"].(map[string]any)["id"].(string)
}

func ids(out map[string]any) []string {
	var ids []string
	for _, o := range out["data"].([]any) {
		ids = append(ids, o.(map[string]any)["id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// fixture creates, as alice, bucket b with collection c (records r1 and r2) and group g.
func fixture(t *testing.T) (alice, bob client, bobID string) {
	alice = client{t: t, h: newTestServer(t, nil), user: "alice"}
	bob = alice.as("bob")
	alice.must(201, "PUT", "/buckets/b", nil)
	alice.must(201, "PUT", "/buckets/b/collections/c", nil)
	alice.must(201, "PUT", "/buckets/b/collections/c/records/r1", map[string]any{"data": map[string]any{"n": 1}})
	alice.must(201, "PUT", "/buckets/b/collections/c/records/r2", map[string]any{"data": map[string]any{"n": 2}})
	alice.must(201, "PUT", "/buckets/b/groups/g", map[string]any{"data": map[string]any{"members": []string{}}})
	return alice, bob, bob.userID()
}

func TestPermissionInheritance(t *testing.T) {
	type check struct {
		method, path string
		body         any
		want         int
	}
	rec := map[string]any{"data": map[string]any{"n": 3}}
	getBucket := check{"GET", "/buckets/b", nil, 200}
	getColl := check{"GET", "/buckets/b/collections/c", nil, 200}
	getRecord := check{"GET", "/buckets/b/collections/c/records/r1", nil, 200}
	getRecord2 := check{"GET", "/buckets/b/collections/c/records/r2", nil, 200}
	putRecord := check{"PUT", "/buckets/b/collections/c/records/r1", rec, 200}
	createRecord := check{"POST", "/buckets/b/collections/c/records", rec, 201}
	createColl := check{"POST", "/buckets/b/collections", map[string]any{}, 201}
	createGroup := check{"POST", "/buckets/b/groups", map[string]any{}, 201}
	getGroup := check{"GET", "/buckets/b/groups/g", nil, 200}
	denied := func(c check) check { c.want = 403; return c }

	tests := []struct {
		name   string
		grant  string // object URI whose ACL gets the grant
		perm   string
		checks []check
	}{
		{"a user without permissions is refused everything", "", "", []check{
			denied(getBucket), denied(getColl), denied(getRecord), denied(putRecord),
			denied(createRecord), denied(createColl), denied(createGroup), denied(getGroup)}},
		{"read on the bucket gives read on everything below it", "/buckets/b", "read", []check{
			getBucket, getColl, getRecord, getRecord2, getGroup,
			denied(putRecord), denied(createRecord), denied(createColl), denied(createGroup)}},
		{"write on the bucket gives every permission below it", "/buckets/b", "write", []check{
			getBucket, getColl, getRecord, putRecord, createRecord, createColl, createGroup, getGroup}},
		{"collection:create on the bucket only allows creating collections", "/buckets/b", "collection:create", []check{
			createColl, denied(getBucket), denied(getColl), denied(createGroup), denied(createRecord)}},
		{"group:create on the bucket only allows creating groups", "/buckets/b", "group:create", []check{
			createGroup, denied(getBucket), denied(createColl), denied(getGroup)}},
		{"read on a collection gives read on its records, not on the bucket", "/buckets/b/collections/c", "read", []check{
			getColl, getRecord, getRecord2, denied(getBucket), denied(putRecord), denied(createRecord)}},
		{"write on a collection gives write on its records", "/buckets/b/collections/c", "write", []check{
			getColl, getRecord, putRecord, createRecord, denied(getBucket), denied(createColl)}},
		{"record:create on a collection only allows creating records", "/buckets/b/collections/c", "record:create", []check{
			createRecord, denied(getColl), denied(getRecord), denied(putRecord)}},
		{"read on a record gives read on that record only", "/buckets/b/collections/c/records/r1", "read", []check{
			getRecord, denied(getRecord2), denied(getColl), denied(putRecord)}},
		{"write on a record gives read and write on it", "/buckets/b/collections/c/records/r1", "write", []check{
			getRecord, putRecord, denied(getRecord2), denied(createRecord)}},
		{"read on a group does not reach collections", "/buckets/b/groups/g", "read", []check{
			getGroup, denied(getColl), denied(getBucket)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alice, bob, bobID := fixture(t)
			if tt.grant != "" {
				alice.must(200, "PATCH", tt.grant, map[string]any{"permissions": map[string]any{tt.perm: []string{bobID}}})
			}
			for _, c := range tt.checks {
				if code, out := bob.do(c.method, c.path, c.body); code != c.want {
					t.Errorf("%s %s: status %d, want %d: %v", c.method, c.path, code, c.want, out)
				}
			}
		})
	}
}

func TestRestrictedLists(t *testing.T) {
	alice, bob, bobID := fixture(t)
	alice.must(200, "PATCH", "/buckets/b/collections/c/records/r2", map[string]any{"permissions": map[string]any{"read": []string{bobID}}})
	if got := ids(bob.must(200, "GET", "/buckets/b/collections/c/records", nil)); !slices.Equal(got, []string{"r2"}) {
		t.Errorf("bob lists %v, want only the shared record r2", got)
	}
	if got := ids(alice.must(200, "GET", "/buckets/b/collections/c/records", nil)); !slices.Equal(got, []string{"r1", "r2"}) {
		t.Errorf("alice lists %v", got)
	}
	alice.must(201, "PUT", "/buckets/other", nil)
	if got := ids(bob.must(200, "GET", "/buckets", nil)); len(got) != 0 {
		t.Errorf("bob lists buckets %v, want none", got)
	}
	if got := ids(alice.must(200, "GET", "/buckets", nil)); !slices.Equal(got, []string{"b", "other"}) {
		t.Errorf("alice lists buckets %v", got)
	}
}

func TestGroupsArePrincipals(t *testing.T) {
	alice, bob, bobID := fixture(t)
	alice.must(200, "PATCH", "/buckets/b/collections/c", map[string]any{"permissions": map[string]any{"read": []string{"/buckets/b/groups/g"}}})
	bob.must(403, "GET", "/buckets/b/collections/c/records/r1", nil)

	alice.must(200, "PUT", "/buckets/b/groups/g", map[string]any{"data": map[string]any{"members": []string{bobID}}})
	bob.must(200, "GET", "/buckets/b/collections/c/records/r1", nil)
	if p := bob.must(200, "GET", "/", nil)["user"].(map[string]any)["principals"].([]any); !slices.Contains(p, any("/buckets/b/groups/g")) {
		t.Errorf("bob's principals %v lack the group", p)
	}

	alice.must(200, "PATCH", "/buckets/b/groups/g", map[string]any{"data": map[string]any{"members": []string{"carol"}}})
	bob.must(403, "GET", "/buckets/b/collections/c/records/r1", nil)

	alice.must(200, "PATCH", "/buckets/b/groups/g", map[string]any{"data": map[string]any{"members": []string{bobID}}})
	bob.must(200, "GET", "/buckets/b/collections/c/records/r1", nil)
	alice.must(200, "DELETE", "/buckets/b/groups/g", nil)
	bob.must(403, "GET", "/buckets/b/collections/c/records/r1", nil)

	// A group created in a batch with its member takes effect for the next request.
	alice.must(200, "POST", "/batch", map[string]any{"requests": []any{
		map[string]any{"method": "PUT", "path": "/buckets/b/groups/readers", "body": map[string]any{"data": map[string]any{"members": []string{bobID}}}},
		map[string]any{"method": "PATCH", "path": "/buckets/b", "body": map[string]any{"permissions": map[string]any{"read": []string{"/buckets/b/groups/readers"}}}},
	}})
	bob.must(200, "GET", "/buckets/b/collections/c/records/r2", nil)
}

func TestCascadingDeletes(t *testing.T) {
	alice, bob, bobID := fixture(t)
	alice.must(200, "PATCH", "/buckets/b/collections/c/records/r1", map[string]any{"permissions": map[string]any{"read": []string{bobID}}})
	alice.must(200, "PUT", "/buckets/b/groups/g", map[string]any{"data": map[string]any{"members": []string{bobID}}})

	t.Run("deleting a collection deletes its records and their ACLs", func(t *testing.T) {
		alice.must(200, "DELETE", "/buckets/b/collections/c", nil)
		alice.must(404, "GET", "/buckets/b/collections/c/records", nil)
		alice.must(201, "PUT", "/buckets/b/collections/c", nil)
		if got := ids(alice.must(200, "GET", "/buckets/b/collections/c/records?_since=0", nil)); len(got) != 0 {
			t.Errorf("the recreated collection holds %v", got)
		}
		alice.must(201, "PUT", "/buckets/b/collections/c/records/r1", map[string]any{"data": map[string]any{}})
		bob.must(403, "GET", "/buckets/b/collections/c/records/r1", nil)
	})
	t.Run("deleting a bucket deletes its collections, groups, records and memberships", func(t *testing.T) {
		alice.must(200, "DELETE", "/buckets/b", nil)
		bob.must(403, "GET", "/buckets/b/collections/c", nil)
		if p := bob.must(200, "GET", "/", nil)["user"].(map[string]any)["principals"].([]any); slices.Contains(p, any("/buckets/b/groups/g")) {
			t.Errorf("bob's principals %v still hold the deleted group", p)
		}
		alice.must(201, "PUT", "/buckets/b", nil)
		for _, path := range []string{"/buckets/b/collections", "/buckets/b/groups"} {
			if got := ids(alice.must(200, "GET", path+"?_since=0", nil)); len(got) != 0 {
				t.Errorf("%s of the recreated bucket: %v", path, got)
			}
		}
		alice.must(404, "GET", "/buckets/b/collections/c/records", nil)
	})
	t.Run("deleting every bucket cascades too", func(t *testing.T) {
		alice.must(201, "PUT", "/buckets/b/collections/c", nil)
		alice.must(200, "DELETE", "/buckets", nil)
		alice.must(201, "PUT", "/buckets/b", nil)
		alice.must(404, "GET", "/buckets/b/collections/c", nil)
	})
}

func TestCollectionSchema(t *testing.T) {
	alice, _, _ := fixture(t)
	schema := map[string]any{"type": "object", "properties": map[string]any{"title": map[string]any{"type": "string"}}, "required": []string{"title"}}
	coll := alice.must(200, "PUT", "/buckets/b/collections/c", map[string]any{"data": map[string]any{"schema": schema}})
	ts := coll["data"].(map[string]any)["last_modified"].(float64)

	out := alice.must(400, "POST", "/buckets/b/collections/c/records", map[string]any{"data": map[string]any{"title": 12}})
	if d := out["details"].([]any)[0].(map[string]any); d["name"] != "data.title" || d["location"] != "body" || out["errno"].(float64) != 107 {
		t.Errorf("error = %v", out)
	}
	alice.must(400, "POST", "/buckets/b/collections/c/records", map[string]any{"data": map[string]any{"other": 1}})
	rec := alice.must(201, "POST", "/buckets/b/collections/c/records", map[string]any{"data": map[string]any{"title": "ok"}})
	if got := rec["data"].(map[string]any)["schema"]; got != ts {
		t.Errorf("record schema field = %v, want the collection timestamp %v", got, ts)
	}
	alice.must(400, "PUT", "/buckets/b/collections/bad", map[string]any{"data": map[string]any{"schema": map[string]any{"type": 42}}})
	alice.must(400, "PUT", "/buckets/b/collections/bad", map[string]any{"data": map[string]any{"schema": "nope"}})

	got := alice.must(200, "GET", fmt.Sprintf("/buckets/b/collections/c?_expected=%d", int64(ts)), nil)
	if got["data"].(map[string]any)["last_modified"] != ts {
		t.Errorf("collection = %v", got)
	}
}

func TestDefaultBucket(t *testing.T) {
	alice := client{t: t, h: newTestServer(t, nil), user: "alice"}
	bob := alice.as("bob")
	alice.must(201, "POST", "/buckets/default/collections/tasks/records", map[string]any{"data": map[string]any{"title": "a"}})
	b := alice.must(200, "GET", "/buckets/default", nil)
	bid := b["data"].(map[string]any)["id"].(string)
	if want := defaultBucketID(devSecret, alice.userID()); bid != want {
		t.Errorf("default bucket id = %s, want %s", bid, want)
	}
	if got := ids(alice.must(200, "GET", "/buckets/"+bid+"/collections", nil)); !slices.Equal(got, []string{"tasks"}) {
		t.Errorf("collections = %v", got)
	}
	if n := len(alice.must(200, "GET", "/buckets/default/collections/tasks/records", nil)["data"].([]any)); n != 1 {
		t.Errorf("alice has %d records", n)
	}
	if n := len(bob.must(200, "GET", "/buckets/default/collections/tasks/records", nil)["data"].([]any)); n != 0 {
		t.Errorf("bob sees %d records in his own default bucket", n)
	}
	bob.must(403, "GET", "/buckets/"+bid, nil)
	alice.as("").must(401, "GET", "/buckets/default", nil)

	// hello tells the user the id of the personal bucket, as Kinto's plugin does.
	if user, _ := alice.must(200, "GET", "/", nil)["user"].(map[string]any); user["bucket"] != bid || user["id"] != alice.userID() {
		t.Errorf("hello user = %v, want id %s and bucket %s", user, alice.userID(), bid)
	}

	// A batch addressing the default bucket goes through the same alias.
	out := alice.must(200, "POST", "/batch", map[string]any{"requests": []any{
		map[string]any{"method": "PUT", "path": "/buckets/default/collections/notes"},
		map[string]any{"method": "POST", "path": "/buckets/default/collections/notes/records", "body": map[string]any{"data": map[string]any{"x": 1}}},
	}})
	for _, r := range out["responses"].([]any) {
		if st := r.(map[string]any)["status"].(float64); st != 201 {
			t.Errorf("batch response %v", r)
		}
	}
}

func TestPermissionsEndpoint(t *testing.T) {
	alice, bob, bobID := fixture(t)
	alice.must(200, "PATCH", "/buckets/b/collections/c", map[string]any{"permissions": map[string]any{"read": []string{bobID}}})
	alice.must(200, "PATCH", "/buckets/b/collections/c/records/r1", map[string]any{"permissions": map[string]any{"write": []string{bobID}}})
	data := bob.must(200, "GET", "/permissions", nil)["data"].([]any)
	got := map[string]string{}
	for _, e := range data {
		m := e.(map[string]any)
		var perms []string
		for _, p := range m["permissions"].([]any) {
			perms = append(perms, p.(string))
		}
		got[m["uri"].(string)] = m["resource_name"].(string) + " " + strings.Join(perms, ",")
	}
	want := map[string]string{
		"/":                                   "root bucket:create",
		"/buckets/b/collections/c":            "collection read",
		"/buckets/b/collections/c/records/r1": "record read,write",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("bob's permissions = %v, want %v", got, want)
	}
	if n := len(bob.must(200, "GET", "/permissions?resource_name=record", nil)["data"].([]any)); n != 1 {
		t.Errorf("filtered on records: %d entries", n)
	}
	a := alice.must(200, "GET", "/permissions?resource_name=bucket", nil)["data"].([]any)
	if len(a) != 1 || fmt.Sprint(a[0].(map[string]any)["permissions"]) != "[collection:create group:create read write]" {
		t.Errorf("alice's buckets = %v", a)
	}
}

func TestFlushAndHello(t *testing.T) {
	t.Run("the flush endpoint is off by default", func(t *testing.T) {
		c := client{t: t, h: newTestServer(t, nil), user: "alice"}
		if code, _ := c.do("POST", "/__flush__", nil); code != 404 && code != 405 {
			t.Errorf("status %d", code)
		}
		caps := c.must(200, "GET", "/", nil)["capabilities"].(map[string]any)
		for _, name := range []string{"default_bucket", "permissions_endpoint", "schema"} {
			if _, ok := caps[name]; !ok {
				t.Errorf("capability %s missing from %v", name, caps)
			}
		}
		if _, ok := caps["flush_endpoint"]; ok {
			t.Error("flush_endpoint announced while disabled")
		}
	})
	t.Run("flush_endpoint_enabled empties every backend", func(t *testing.T) {
		c := client{t: t, h: newTestServer(t, map[string]string{"flush_endpoint_enabled": "true"}), user: "alice"}
		c.must(201, "PUT", "/buckets/b", nil)
		if _, ok := c.must(200, "GET", "/", nil)["capabilities"].(map[string]any)["flush_endpoint"]; !ok {
			t.Error("flush_endpoint not announced")
		}
		c.as("").must(202, "POST", "/__flush__", nil)
		c.must(403, "GET", "/buckets/b", nil)
		if n := len(c.must(200, "GET", "/buckets", nil)["data"].([]any)); n != 0 {
			t.Errorf("%d buckets after flush", n)
		}
	})
	t.Run("bucket_create_principals restricts bucket creation", func(t *testing.T) {
		c := client{t: t, h: newTestServer(t, map[string]string{"bucket_create_principals": "nobody"}), user: "alice"}
		c.must(403, "PUT", "/buckets/b", nil)
		c.must(403, "POST", "/buckets", map[string]any{"data": map[string]any{"id": "b"}})
	})
}

func TestMigrateDryRunOnMemory(t *testing.T) {
	if err := run(t.Context(), []string{"migrate", "--dry-run"}, io.Discard, quiet()); err != nil {
		t.Fatal(err)
	}
}

// TestPermissionsQuerystring checks that GET /permissions reads the querystring as a
// plural endpoint does (filters, _sort, _limit and Next-Page, _fields), lists the root
// entry and sends and exposes the plural headers.
func TestPermissionsQuerystring(t *testing.T) {
	h := newTestServer(t, nil)
	alice := client{t: t, h: h, user: "alice"}
	for _, b := range []string{"b1", "b2", "b3"} {
		alice.must(201, "PUT", "/buckets/"+b, nil)
	}
	alice.must(201, "PUT", "/buckets/b1/collections/c1", nil)
	alice.must(201, "PUT", "/buckets/b1/groups/g1", map[string]any{"data": map[string]any{"members": []string{}}})

	get := func(query string, header ...string) (*httptest.ResponseRecorder, []string) {
		t.Helper()
		req := httptest.NewRequest("GET", "/v1/permissions"+query, nil)
		req.SetBasicAuth("alice", "pw")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out struct {
			Data []map[string]any `json:"data"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil && req.Method != "HEAD" {
			t.Fatalf("%s: %s", query, rec.Body.Bytes())
		}
		var uris []string
		for _, e := range out.Data {
			uris = append(uris, fmt.Sprint(e["uri"]))
		}
		return rec, uris
	}
	expect := func(query string, want ...string) {
		t.Helper()
		rec, got := get(query)
		if rec.Code != 200 || !slices.Equal(got, want) {
			t.Errorf("%s: %d %v, want %v", query, rec.Code, got, want)
		}
	}
	// Kinto's default order is -uri.
	expect("", "/buckets/b3", "/buckets/b2", "/buckets/b1/groups/g1", "/buckets/b1/collections/c1", "/buckets/b1", "/")
	expect("?_sort=uri", "/", "/buckets/b1", "/buckets/b1/collections/c1", "/buckets/b1/groups/g1", "/buckets/b2", "/buckets/b3")
	expect("?_sort=resource_name,-id&exclude_resource_name=root", "/buckets/b3", "/buckets/b2", "/buckets/b1", "/buckets/b1/collections/c1", "/buckets/b1/groups/g1")
	expect("?resource_name=root", "/")
	expect("?not_resource_name=bucket&_sort=uri", "/", "/buckets/b1/collections/c1", "/buckets/b1/groups/g1")
	expect("?in_id=b2,c1&_sort=uri", "/buckets/b1/collections/c1", "/buckets/b2")
	expect("?like_uri=groups", "/buckets/b1/groups/g1")
	expect("?has_collection_id=true", "/buckets/b1/collections/c1")
	expect("?has_bucket_id=false", "/")
	expect("?min_bucket_id=b2&max_id=b2", "/buckets/b2")
	expect("?gt_id=b2&lt_id=c9&_sort=uri", "/buckets/b1/collections/c1", "/buckets/b3")
	expect("?contains_permissions=record:create", "/buckets/b1/collections/c1")
	expect("?group_id=g1", "/buckets/b1/groups/g1")
	expect("?_sort=last_modified&_since=123&resource_name=collection", "/buckets/b1/collections/c1")
	if rec, _ := get("?unknown=1"); rec.Code != 400 {
		t.Errorf("unknown filter field: %d", rec.Code)
	}

	// Pagination: _limit and Next-Page, followed to the end.
	var all []string
	next := "?_sort=uri&_limit=4"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("too many pages")
		}
		rec, uris := get(next)
		all = append(all, uris...)
		if rec.Header().Get("Total-Objects") != "6" || rec.Header().Get("Total-Records") != "6" {
			t.Errorf("totals %q %q", rec.Header().Get("Total-Objects"), rec.Header().Get("Total-Records"))
		}
		next = ""
		if np := rec.Header().Get("Next-Page"); np != "" {
			next = np[strings.Index(np, "?"):]
		}
	}
	if !slices.Equal(all, []string{"/", "/buckets/b1", "/buckets/b1/collections/c1", "/buckets/b1/groups/g1", "/buckets/b2", "/buckets/b3"}) {
		t.Errorf("pages = %v", all)
	}

	// _fields keeps the fields asked (and id).
	if rec, _ := get("?_fields=resource_name&uri=/buckets/b2"); !strings.Contains(rec.Body.String(), `[{"id":"b2","resource_name":"bucket"}]`) {
		t.Errorf("_fields: %s", rec.Body.String())
	}

	// The CORS response exposes the plural headers.
	rec, _ := get("", "Origin", "https://admin.example.com")
	exposed := rec.Header().Get("Access-Control-Expose-Headers")
	for _, hd := range []string{"ETag", "Next-Page", "Total-Objects", "Total-Records"} {
		if !strings.Contains(exposed, hd) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", exposed, hd)
		}
	}
	if rec.Header().Get("ETag") != `"0"` {
		t.Errorf("ETag = %q", rec.Header().Get("ETag"))
	}

	// bucket_create_principals decides the root entry.
	other := client{t: t, h: newTestServer(t, map[string]string{"bucket_create_principals": "nobody"}), user: "alice"}
	if n := len(other.must(200, "GET", "/permissions?resource_name=root", nil)["data"].([]any)); n != 0 {
		t.Errorf("root entry listed without bucket:create: %d", n)
	}
}
