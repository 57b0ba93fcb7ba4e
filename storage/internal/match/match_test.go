package match

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/storage"
)

func doc(t *testing.T, id string, lm int64, data string) *Doc {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatal(err)
	}
	return &Doc{ID: id, LastModified: lm, Data: m}
}

func TestCompareFollowsJSONBOrder(t *testing.T) {
	ordered := []any{nil, "", "a", "b", -1.5, 0, int64(2), uint8(3), false, true,
		[]any{}, []any{2.0}, []any{1.0, 1.0}, map[string]any{}, map[string]any{"b": 1.0},
		map[string]any{"a": 1.0, "b": 1.0}, map[string]any{"aa": 0.0, "b": 0.0}}
	for i := range ordered {
		for j := range ordered {
			got := Compare(ordered[i], ordered[j])
			want := cmpInt(i, j)
			if got != want {
				t.Errorf("Compare(%#v, %#v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
}

func TestFilters(t *testing.T) {
	docs := []*Doc{
		doc(t, "a", 10, `{"n": 1, "s": "Foo_bar", "tags": ["x", "y"], "sub": {"k": 2}, "nul": null}`),
		doc(t, "b", 20, `{"n": 10, "s": "foobar", "tags": [1, 2], "sub": {"k": "2"}}`),
		doc(t, "c", 30, `{"s": 5, "tags": {"x": 1}}`),
		{ID: "d", LastModified: 40, Deleted: true},
		doc(t, "42", 50, `{}`),
	}
	tests := []struct {
		name   string
		filter storage.Filter
		want   string
	}{
		{"eq on a number matches any Go numeric type", storage.Filter{Field: "n", Op: storage.EQ, Value: int32(10)}, "b"},
		{"eq does not cast strings to numbers", storage.Filter{Field: "n", Op: storage.EQ, Value: "10"}, ""},
		{"lt skips absent fields", storage.Filter{Field: "n", Op: storage.LT, Value: 5}, "a"},
		{"gt keeps absent fields", storage.Filter{Field: "n", Op: storage.GT, Value: 5}, "b,c,d,42"},
		{"min keeps absent fields", storage.Filter{Field: "n", Op: storage.MIN, Value: 1}, "a,b,c,d,42"},
		{"max skips absent fields", storage.Filter{Field: "n", Op: storage.MAX, Value: 10}, "a,b"},
		{"not keeps absent fields", storage.Filter{Field: "n", Op: storage.NOT, Value: 1}, "b,c,d,42"},
		{"in on nested fields compares types", storage.Filter{Field: "sub.k", Op: storage.IN, Value: []any{2, "x"}}, "a"},
		{"exclude keeps absent fields", storage.Filter{Field: "sub.k", Op: storage.EXCLUDE, Value: []int{2}}, "b,c,d,42"},
		{"like is anchored and case-insensitive", storage.Filter{Field: "s", Op: storage.LIKE, Value: "FOO*"}, "a,b"},
		{"like treats underscore literally", storage.Filter{Field: "s", Op: storage.LIKE, Value: "*o_b*"}, "a"},
		{"like ignores non-strings", storage.Filter{Field: "s", Op: storage.LIKE, Value: "*"}, "a,b"},
		{"has true counts null as present", storage.Filter{Field: "nul", Op: storage.HAS, Value: true}, "a"},
		{"has false matches absent fields", storage.Filter{Field: "sub", Op: storage.HAS, Value: false}, "c,d,42"},
		{"contains needs every value in an array", storage.Filter{Field: "tags", Op: storage.CONTAINS, Value: []any{"y", "x"}}, "a"},
		{"contains any needs one value in an array", storage.Filter{Field: "tags", Op: storage.CONTAINS_ANY, Value: []any{2, "z"}}, "b"},
		{"contains ignores objects", storage.Filter{Field: "tags", Op: storage.CONTAINS, Value: []any{"x"}}, "a"},
		{"numeric id values compare as strings", storage.Filter{Field: "id", Op: storage.EQ, Value: 42}, "42"},
		{"deleted is true on tombstones", storage.Filter{Field: "deleted", Op: storage.EQ, Value: true}, "d"},
		{"last_modified compares as a number", storage.Filter{Field: "last_modified", Op: storage.MIN, Value: int64(30)}, "c,d,42"},
		{"missing with eq keeps absent fields", storage.Filter{Field: "n", Op: storage.EQ, Value: storage.Missing}, "c,d,42"},
		{"missing with lt keeps present fields", storage.Filter{Field: "n", Op: storage.LT, Value: storage.Missing}, "a,b"},
		{"missing with gt keeps nothing", storage.Filter{Field: "n", Op: storage.GT, Value: storage.Missing}, ""},
		{"missing with max keeps everything", storage.Filter{Field: "n", Op: storage.MAX, Value: storage.Missing}, "a,b,c,d,42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Apply(docs, storage.ListOptions{Filters: []storage.Filter{tt.filter}})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(out); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPaginationIsAnOrOfAnds(t *testing.T) {
	var docs []*Doc
	for i, data := range []string{`{"n": 1}`, `{"n": 2}`, `{"n": 2}`, `{"n": 3}`, `{}`} {
		docs = append(docs, doc(t, string(rune('a'+i)), int64(i+1), data))
	}
	out, err := Apply(docs, storage.ListOptions{
		Sort: []storage.Sort{{Field: "n"}, {Field: "last_modified", Desc: true}},
		Pagination: [][]storage.Filter{
			{{Field: "n", Op: storage.EQ, Value: 2}, {Field: "last_modified", Op: storage.LT, Value: 3}},
			{{Field: "n", Op: storage.GT, Value: 2}},
		},
		Limit: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(out); got != "b,d,e" {
		t.Errorf("got %q, want b,d,e", got)
	}
}

func TestSortPutsAbsentLastAscendingAndFirstDescending(t *testing.T) {
	docs := []*Doc{
		doc(t, "obj", 1, `{"v": {}}`), doc(t, "missing", 2, `{}`), doc(t, "num", 3, `{"v": 1}`),
		doc(t, "null", 4, `{"v": null}`), doc(t, "str", 5, `{"v": "z"}`), doc(t, "arr", 6, `{"v": []}`),
		doc(t, "true", 7, `{"v": true}`), doc(t, "false", 8, `{"v": false}`),
	}
	Sort(docs, []storage.Sort{{Field: "v"}})
	if got, want := ids(docs), "null,str,num,false,true,arr,obj,missing"; got != want {
		t.Errorf("ascending: got %s, want %s", got, want)
	}
	Sort(docs, []storage.Sort{{Field: "v", Desc: true}})
	if got, want := ids(docs), "missing,obj,arr,true,false,num,str,null"; got != want {
		t.Errorf("descending: got %s, want %s", got, want)
	}
}

func TestCompileRejectsMalformedFilters(t *testing.T) {
	tests := []struct {
		name   string
		filter storage.Filter
	}{
		{"like with a number", storage.Filter{Field: "a", Op: storage.LIKE, Value: 1}},
		{"has with a string", storage.Filter{Field: "a", Op: storage.HAS, Value: "yes"}},
		{"missing with in", storage.Filter{Field: "a", Op: storage.IN, Value: storage.Missing}},
		{"unknown operator", storage.Filter{Field: "a", Op: storage.Operator(99), Value: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Compile([]storage.Filter{tt.filter}, nil); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestCleanData(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"compacts an object", `{ "a" : [1, 2] , "b":"<x>" }`, `{"a":[1,2],"b":"<x>"}`, false},
		{"treats empty data as an empty object", ``, `{}`, false},
		{"strips protocol fields, keeping the order", `{"z":1,"id":"x","last_modified":3,"deleted":true,"a":"<&>"}`, `{"z":1,"a":"<&>"}`, false},
		{"rejects arrays", `[1]`, ``, true},
		{"rejects null", `null`, ``, true},
		{"rejects invalid JSON", `{"a":`, ``, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.in)
			got, m, err := CleanData(raw)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error, got %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			if _, ok := m["id"]; ok {
				t.Error("decoded map keeps id")
			}
			if len(raw) > 0 && len(got) > 0 && &raw[0] == &got[0] {
				t.Error("result aliases the input")
			}
		})
	}
}

func ids(docs []*Doc) string {
	s := make([]string, len(docs))
	for i, d := range docs {
		s[i] = d.ID
	}
	return strings.Join(s, ",")
}
