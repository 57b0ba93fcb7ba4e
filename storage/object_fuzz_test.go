package storage

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"testing"

	"github.com/cliquet-go/cliquet/internal/jsontest"
)

// FuzzObjectAppendJSON checks Object.AppendJSON against encoding/json: the id and
// last_modified are written byte for byte as json.Marshal writes them, and for data that is
// a JSON object without meta fields (what backends store) the result decodes to the data
// plus id and last_modified, while JSON data that is no object gives {"id", "last_modified"}
// alone. A tombstone is exactly {"id", "last_modified", "deleted": true}. Data that is not
// JSON must not make it panic. Without -fuzz it runs the seeds; scripts/test runs it for a
// few seconds.
func FuzzObjectAppendJSON(f *testing.F) {
	seeds := []struct {
		id   string
		lm   int64
		del  bool
		data string
	}{
		{"0123abcd-4567-89ef-a0b1-c2d3e4f56789", 1700000000123, false, `{"title":"a","n":1}`},
		{"a", 1, false, `{}`}, {"a", 1, false, " \n{ \t\r}"}, {"a", 1, false, "\t { \"x\":1}"}, {"a", 1, false, ``},
		{"a", 1, false, `[1]`}, {"a", 2, true, `{"x":1}`}, {"<a&b>\"\\\n\u2028\xff", -5, false, `{"x":"\u0000"}`},
		{"", 0, false, `{"v":1e400,"w":-0.0,"u":"\ud800"}`}, {"x", 9, false, `{"a":{"b":[null,true,"\u00e9"]}}`},
		{"x", 9, false, `{"a":1,"a":2}`}, {"x", 9, false, `{"id":"other"}`}, {"x", 9, false, `{`}, {"x", 9, false, `"s"`},
	}
	for _, s := range seeds {
		f.Add(s.id, s.lm, s.del, []byte(s.data))
	}
	f.Fuzz(func(t *testing.T, id string, lm int64, deleted bool, data []byte) {
		o := Object{ID: id, LastModified: lm, Deleted: deleted, Data: json.RawMessage(data)}
		got := o.AppendJSON([]byte("x"))[1:]
		idJSON, _ := json.Marshal(id)
		head := `{"id":` + string(idJSON) + `,"last_modified":` + strconv.FormatInt(lm, 10)
		if !bytes.HasPrefix(got, []byte(head)) {
			t.Fatalf("AppendJSON = %s, want it to start with %s", got, head)
		}
		if deleted {
			if want := head + `,"deleted":true}`; string(got) != want {
				t.Fatalf("tombstone AppendJSON = %s, want %s", got, want)
			}
			return
		}
		if !json.Valid(data) {
			return // not what a backend stores: only no panic is required
		}
		m, ok := jsontest.Decode(t, data).(map[string]any)
		if !ok {
			// JSON that is no object (an array, a string, null...) has no member to add.
			if string(got) != head+"}" {
				t.Fatalf("AppendJSON with data %s = %s, want %s}", data, got, head)
			}
			return
		}
		for _, k := range []string{"id", "last_modified", "deleted"} {
			if _, ok := m[k]; ok {
				return // backends drop meta fields from data
			}
		}
		if !json.Valid(got) {
			t.Fatalf("AppendJSON = %s: not JSON", got)
		}
		// Numbers are compared as written (json.Number), so that last_modified is exact.
		m["id"], m["last_modified"] = jsontest.Decode(t, idJSON), json.Number(strconv.FormatInt(lm, 10))
		if gotM := jsontest.Decode(t, got); !reflect.DeepEqual(gotM, any(m)) {
			t.Fatalf("AppendJSON = %s, decodes to %v, want %v", got, gotM, m)
		}
	})
}
