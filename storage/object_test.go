package storage

import (
	"encoding/json"
	"strconv"
	"testing"
)

// AppendJSON renders an object as the protocol shows it; the id is encoded exactly as
// json.Marshal encodes it (HTML characters escaped, invalid UTF-8 replaced).
func TestObjectAppendJSON(t *testing.T) {
	reference := func(o Object) string { // the straightforward rendering, through json.Marshal
		id, _ := json.Marshal(o.ID)
		head := `{"id":` + string(id) + `,"last_modified":` + strconv.FormatInt(o.LastModified, 10)
		if o.Deleted {
			return head + `,"deleted":true}`
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(o.Data, &m) != nil || len(m) == 0 {
			return head + "}"
		}
		return ""
	}
	objects := []struct {
		name string
		obj  Object
		want string
	}{
		{"an object with data", Object{ID: "0123abcd-4567-89ef-a0b1-c2d3e4f56789", LastModified: 1700000000123, Data: json.RawMessage(`{"title":"a","n":1}`)},
			`{"id":"0123abcd-4567-89ef-a0b1-c2d3e4f56789","last_modified":1700000000123,"title":"a","n":1}`},
		{"empty data", Object{ID: "a", LastModified: 1, Data: json.RawMessage(`{}`)}, ""},
		{"empty data with white space", Object{ID: "a", LastModified: 1, Data: json.RawMessage(" \n{ \t\r}")}, ""},
		{"data with leading white space", Object{ID: "a", LastModified: 1, Data: json.RawMessage("\t { \"x\":1}")},
			`{"id":"a","last_modified":1, "x":1}`},
		{"nil data", Object{ID: "a", LastModified: 1}, ""},
		{"data that is not an object", Object{ID: "a", LastModified: 1, Data: json.RawMessage(`[1]`)}, ""},
		{"a tombstone", Object{ID: "a", LastModified: 2, Deleted: true, Data: json.RawMessage(`{"x":1}`)}, ""},
		{"an id needing escapes", Object{ID: "<a&b>\"\\\n\u2028\xff", LastModified: -5, Deleted: true}, ""},
		{"an empty id", Object{Deleted: true}, ""},
	}
	for _, o := range objects {
		t.Run(o.name, func(t *testing.T) {
			want := o.want
			if want == "" {
				want = reference(o.obj)
			}
			if got := string(o.obj.AppendJSON([]byte("prefix:"))); got != "prefix:"+want {
				t.Errorf("got\n%s\nwant\nprefix:%s", got, want)
			}
		})
	}
}
