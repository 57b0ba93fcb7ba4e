package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// historyServer starts the example with the history plugin on.
func historyServer(t *testing.T) client {
	t.Helper()
	h := newTestServer(t, map[string]string{"includes": "kinto.plugins.default_bucket " + historyPlugin})
	return client{t: t, h: h, user: "alice"}
}

// entries lists /buckets/{bid}/history with query, as c; newest first.
func (c client) entries(bid, query string) []map[string]any {
	c.t.Helper()
	out := c.must(http.StatusOK, "GET", "/buckets/"+bid+"/history"+query, nil)
	var list []map[string]any
	for _, e := range out["data"].([]any) {
		list = append(list, e.(map[string]any))
	}
	return list
}

// field returns the values of key in entries, in order.
func field(entries []map[string]any, key string) []any {
	out := make([]any, len(entries))
	for i, e := range entries {
		out[i] = e[key]
	}
	return out
}

func TestHistoryIsAPluginOfTheIncludesSetting(t *testing.T) {
	off := client{t: t, h: newTestServer(t, nil), user: "alice"}
	if _, ok := off.must(http.StatusOK, "GET", "/", nil)["capabilities"].(map[string]any)["history"]; ok {
		t.Fatal("history capability without the plugin in includes")
	}
	off.must(http.StatusCreated, "PUT", "/buckets/b", nil)
	off.must(http.StatusNotFound, "GET", "/buckets/b/history", nil)

	on := historyServer(t)
	capability, ok := on.must(http.StatusOK, "GET", "/", nil)["capabilities"].(map[string]any)["history"].(map[string]any)
	if !ok || capability["description"] != "Track changes on data." {
		t.Fatalf("history capability = %v", capability)
	}
}

func TestHistoryTracksEveryChange(t *testing.T) {
	c := historyServer(t)
	alice := c.userID()
	c.must(http.StatusCreated, "PUT", "/buckets/b", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/b/collections/c", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/b/groups/g", map[string]any{"data": map[string]any{"members": []string{"x"}}})
	c.must(http.StatusCreated, "PUT", "/buckets/b/collections/c/records/r", map[string]any{"data": map[string]any{"foo": 42}})
	c.must(http.StatusOK, "PATCH", "/buckets/b/collections/c/records/r", map[string]any{"data": map[string]any{"foo": "bar"}, "permissions": map[string]any{"read": []string{"admins"}}})
	c.must(http.StatusOK, "DELETE", "/buckets/b/collections/c/records/r", nil)
	c.must(http.StatusOK, "PATCH", "/buckets/b", map[string]any{"data": map[string]any{"title": "B"}})

	list := c.entries("b", "")
	if got, want := field(list, "action"), []any{"update", "delete", "update", "create", "create", "create", "create"}; !slices.Equal(got, want) {
		t.Fatalf("actions = %v, want %v", got, want)
	}
	if got, want := field(list, "uri"), []any{"/buckets/b", "/buckets/b/collections/c/records/r", "/buckets/b/collections/c/records/r",
		"/buckets/b/collections/c/records/r", "/buckets/b/groups/g", "/buckets/b/collections/c", "/buckets/b"}; !slices.Equal(got, want) {
		t.Fatalf("uris = %v, want %v", got, want)
	}
	date := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$`)
	for _, e := range list {
		if e["user_id"] != alice || !date.MatchString(e["date"].(string)) {
			t.Errorf("entry %v: user_id and date, want %s and an ISO date", e, alice)
		}
		if _, ok := e["timestamp"]; ok {
			t.Errorf("entry %v has the event's timestamp", e)
		}
	}
	// Only the bucket's entries carry bucket_id; the others their own ids.
	bucket, record, group := list[6], list[3], list[4]
	if bucket["resource_name"] != "bucket" || bucket["bucket_id"] != "b" {
		t.Errorf("bucket entry = %v", bucket)
	}
	if _, ok := record["bucket_id"]; ok || record["collection_id"] != "c" || record["record_id"] != "r" || record["resource_name"] != "record" {
		t.Errorf("record entry = %v", record)
	}
	if group["group_id"] != "g" || group["resource_name"] != "group" {
		t.Errorf("group entry = %v", group)
	}
	// The target is the object after the change, with its permissions.
	created := record["target"].(map[string]any)
	if created["data"].(map[string]any)["foo"] != float64(42) || created["data"].(map[string]any)["id"] != "r" {
		t.Errorf("record creation target = %v", created)
	}
	if w := created["permissions"].(map[string]any)["write"].([]any); len(w) != 1 || w[0] != alice {
		t.Errorf("record creation target permissions = %v", created["permissions"])
	}
	updated := list[2]["target"].(map[string]any)
	if updated["data"].(map[string]any)["foo"] != "bar" || !slices.Equal(updated["permissions"].(map[string]any)["read"].([]any), []any{"admins"}) {
		t.Errorf("record update target = %v", updated)
	}
	if deleted := list[1]["target"].(map[string]any)["data"].(map[string]any); deleted["deleted"] != true {
		t.Errorf("record deletion target = %v", deleted)
	}
}

// TestHistoryQueriesOfTheWebAdmin runs the filters kinto-admin sends for its History tabs.
func TestHistoryQueriesOfTheWebAdmin(t *testing.T) {
	checkHistoryQueries(t, historyServer(t), "b")
}

// checkHistoryQueries fills bucket bid as c (alice) and checks the history queries of the
// web admin on it: its filters (nested ones included), an unknown field, pages.
func checkHistoryQueries(t *testing.T, c client, bid string) {
	t.Helper()
	b := "/buckets/" + bid
	c.must(http.StatusCreated, "PUT", b, nil)
	c.must(http.StatusCreated, "PUT", b+"/collections/c", nil)
	c.must(http.StatusCreated, "PUT", b+"/collections/other", nil)
	c.must(http.StatusCreated, "PUT", b+"/groups/g", nil)
	rec := c.must(http.StatusCreated, "PUT", b+"/collections/c/records/r", map[string]any{"data": map[string]any{"n": 1}})["data"].(map[string]any)
	c.must(http.StatusOK, "PUT", b+"/collections/c/records/r", map[string]any{"data": map[string]any{"n": 2}})
	c.as("bob").must(http.StatusForbidden, "PUT", b+"/collections/c/records/x", nil)

	tests := []struct {
		query string
		uris  []string
	}{
		{"?exclude_resource_name=record", []string{b + "/groups/g", b + "/collections/other", b + "/collections/c", b}},
		{"?resource_name=group", []string{b + "/groups/g"}},
		{"?group_id=g", []string{b + "/groups/g"}},
		{"?collection_id=c", []string{b + "/collections/c/records/r", b + "/collections/c/records/r", b + "/collections/c"}},
		{"?resource_name=record&collection_id=c&gt_target.data.last_modified=" + jsonNumber(rec["last_modified"]), []string{b + "/collections/c/records/r"}},
		{"?record_id=r&_sort=last_modified", []string{b + "/collections/c/records/r", b + "/collections/c/records/r"}},
		{"?exclude_user_id=" + c.userID(), nil},
	}
	for _, tt := range tests {
		got := field(c.entries(bid, tt.query), "uri")
		want := make([]any, len(tt.uris))
		for i, u := range tt.uris {
			want[i] = u
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: uris = %v, want %v", tt.query, got, want)
		}
	}
	c.must(http.StatusBadRequest, "GET", b+"/history?movie=bourne", nil)

	// Ids that read as numbers are still ids: ?collection_id=2024 is the collection "2024".
	n := bid + "-n"
	c.must(http.StatusCreated, "PUT", "/buckets/"+n, nil)
	c.must(http.StatusCreated, "PUT", "/buckets/"+n+"/collections/2024", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/"+n+"/groups/42", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/"+n+"/collections/2024/records/7", nil)
	for query, want := range map[string]int{"?collection_id=2024": 2, "?record_id=7": 1, "?group_id=42": 1, "?in_collection_id=2024,1": 2} {
		if got := len(c.entries(n, query)); got != want {
			t.Errorf("%s: %d entries, want %d", query, got, want)
		}
	}

	// Pages, as the admin's "Load more" follows them.
	req := httptest.NewRequest("GET", "/v1"+b+"/history?_limit=2", nil)
	req.SetBasicAuth("alice", "pw")
	res := httptest.NewRecorder()
	c.h.ServeHTTP(res, req)
	if next := res.Header().Get("Next-Page"); !strings.Contains(next, "/v1"+b+"/history?") || !strings.Contains(next, "_token=") {
		t.Errorf("Next-Page = %q", next)
	}
}

func TestHistoryEndpointIsReadAndPurgeOnly(t *testing.T) {
	c := historyServer(t)
	c.must(http.StatusCreated, "PUT", "/buckets/b", nil)
	id := c.entries("b", "")[0]["id"].(string)
	for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
		if code, _ := c.do(m, "/buckets/b/history/"+id, nil); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Errorf("%s on an entry: status %d, want 404 or 405", m, code)
		}
	}
	for _, m := range []string{"POST", "PUT", "PATCH"} {
		c.must(http.StatusMethodNotAllowed, m, "/buckets/b/history", map[string]any{"data": map[string]any{}})
	}
	// A stranger may not purge; the bucket's writer may.
	c.as("bob").must(http.StatusForbidden, "DELETE", "/buckets/b/history", nil)
	c.must(http.StatusOK, "DELETE", "/buckets/b/history", nil)
	if list := c.entries("b", ""); len(list) != 0 {
		t.Fatalf("entries after the purge: %v", list)
	}
}

func TestHistoryGoesWithItsBucket(t *testing.T) {
	c := historyServer(t)
	c.must(http.StatusCreated, "PUT", "/buckets/b", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/b/collections/c", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/b/groups/g", nil)
	for i := 0; i < 3; i++ {
		c.must(http.StatusCreated, "POST", "/buckets/b/collections/c/records", nil)
	}
	// A collection's deletion is one entry, not one per record.
	c.must(http.StatusOK, "DELETE", "/buckets/b/collections/c", nil)
	if got := field(c.entries("b", "?action=delete"), "uri"); !slices.Equal(got, []any{"/buckets/b/collections/c"}) {
		t.Errorf("deletion entries = %v", got)
	}
	// The bucket's deletion deletes its history and leaves none behind.
	c.must(http.StatusOK, "DELETE", "/buckets/b", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/b", nil)
	if got := field(c.entries("b", ""), "action"); !slices.Equal(got, []any{"create"}) {
		t.Errorf("entries of the re-created bucket = %v, want its creation only", got)
	}
}

// TestHistoryEntriesFollowTheirObjectsReaders: a user who may read one collection reads the
// entries of that collection and its records, and no other.
func TestHistoryEntriesFollowTheirObjectsReaders(t *testing.T) {
	c := historyServer(t)
	bob := c.as("bob").userID()
	c.must(http.StatusCreated, "PUT", "/buckets/b", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/b/collections/shared", map[string]any{"permissions": map[string]any{"read": []string{bob}}})
	c.must(http.StatusCreated, "PUT", "/buckets/b/collections/private", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/b/collections/shared/records/r", nil)
	c.must(http.StatusCreated, "PUT", "/buckets/b/collections/private/records/r", nil)

	got := field(c.as("bob").entries("b", ""), "uri")
	want := []any{"/buckets/b/collections/shared/records/r", "/buckets/b/collections/shared"}
	if !slices.Equal(got, want) {
		t.Errorf("bob reads %v, want %v", got, want)
	}
	if all := c.entries("b", ""); len(all) != 5 {
		t.Errorf("alice reads %d entries, want 5", len(all))
	}
	if code, _ := c.as("carol").do("GET", "/buckets/b/history", nil); code != http.StatusForbidden {
		if list := c.as("carol").entries("b", ""); len(list) != 0 {
			t.Errorf("a stranger reads %v", field(list, "uri"))
		}
	}
}

// jsonNumber renders a decoded JSON integer as the querystring writes it.
func jsonNumber(v any) string { return strconv.FormatInt(int64(v.(float64)), 10) }

// TestHistoryOnPostgreSQL runs the admin's history queries on PostgreSQL storage and
// permissions (nested filters are SQL there), and checks that a rolled-back batch leaves no
// entry: the entries are written inside the request's unit of work.
func TestHistoryOnPostgreSQL(t *testing.T) {
	s := newRollbackServer(t, "postgresql", map[string]string{"includes": historyPlugin})
	bid := "h" + strings.ReplaceAll(uuid.NewString(), "-", "")
	checkHistoryQueries(t, s.client, bid)

	before := len(s.entries(bid, ""))
	// The "boom" listener of the rollback server fails the batch after "ok" was written.
	s.must(http.StatusInternalServerError, "POST", "/batch", map[string]any{"requests": []any{
		map[string]any{"method": "PUT", "path": "/buckets/" + bid + "/collections/c/records/ok"},
		map[string]any{"method": "PUT", "path": "/buckets/" + bid + "/collections/c/records/boom"},
	}})
	if after := s.entries(bid, ""); len(after) != before {
		t.Errorf("a rolled-back batch left %d history entries: %v", len(after)-before, field(after[:len(after)-before], "uri"))
	}
	s.must(http.StatusOK, "POST", "/batch", map[string]any{"requests": []any{
		map[string]any{"method": "PUT", "path": "/buckets/" + bid + "/collections/c/records/ok"},
	}})
	if after := s.entries(bid, ""); len(after) != before+1 || after[0]["uri"] != "/buckets/"+bid+"/collections/c/records/ok" {
		t.Errorf("the same write, committed: %d new entries, newest %v", len(after)-before, after[0]["uri"])
	}
}
