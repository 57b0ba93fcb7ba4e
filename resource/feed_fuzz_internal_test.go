package resource

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/jsontest"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/feed"
)

// FuzzFeedEvents checks the hand-written Server-Sent Events encoder of change feeds against
// encoding/json: for any stored object (data a JSON object without meta fields, as backends
// keep it, possibly spread over several lines), action and _fields, each event is exactly
// "id: <last_modified>\ndata: <one line>\n\n", and the line decodes to what json.Marshal
// gives for {"action", "data"} with the object as the protocol shows it (projected on
// _fields, a tombstone as id, last_modified and deleted). Without -fuzz it runs the seeds;
// scripts/test runs it for a few seconds.
func FuzzFeedEvents(f *testing.F) {
	seeds := []struct {
		id     string
		lm     int64
		del    bool
		action uint8
		data   string
		fields string
	}{
		{"0123abcd-4567-89ef-a0b1-c2d3e4f56789", 1700000000123, false, 0, `{"title":"a","n":1}`, ""},
		{"a", 1, false, 1, "{\n  \"title\": \"two\\nlines\",\r\n  \"n\": [1,\n 2]\n}", ""},
		{"a", 1, false, 1, "{\n  \"title\": \"x\",\n  \"a\": {\"b\": 1, \"c\": 2}\n}", "title,a.b"},
		{"<a&b>\"\\\n\u2028\xff", -5, false, 2, `{"x":"\u0000","y":"\u2028"}`, "x, nope"},
		{"t", 9, true, 2, ``, ""},
		{"t", 9, true, 2, ``, "title"},
		{"x", 9, false, 0, `{}`, ""},
		{"x", 9, false, 0, `{"v":1e400,"w":-0.0,"big":123456789012345678901234567890}`, "v,big"},
	}
	for _, s := range seeds {
		f.Add(s.id, s.lm, s.del, s.action, []byte(s.data), s.fields)
	}
	actions := []storage.Action{storage.ActionCreate, storage.ActionUpdate, storage.ActionDelete}
	f.Fuzz(func(t *testing.T, id string, lm int64, deleted bool, action uint8, data []byte, fieldList string) {
		obj := storage.Object{ID: id, LastModified: lm, Deleted: deleted}
		if !deleted {
			d := json.NewDecoder(bytes.NewReader(data))
			d.UseNumber()
			var m map[string]any
			if d.Decode(&m) != nil || m == nil || d.More() || !json.Valid(data) {
				return // not what a backend stores
			}
			for _, k := range []string{"id", "last_modified", "deleted"} {
				if _, ok := m[k]; ok {
					return // backends drop the meta fields from data
				}
			}
			obj.Data = data
		}
		var fields []string
		for _, fl := range strings.Split(fieldList, ",") {
			if fl = strings.TrimSpace(fl); fl != "" {
				fields = append(fields, fl)
			}
		}
		if fields != nil {
			fields = append(fields, "id", "last_modified") // as parseFields gives them
		}
		ev := feed.Event{Action: actions[int(action)%len(actions)], Object: obj}
		next := feed.Event{Action: storage.ActionCreate, Object: storage.Object{ID: "next", LastModified: 1, Data: json.RawMessage(`{}`)}}

		var out []byte
		s := &sse{
			write:    func(b []byte) (int, error) { out = append(out, b...); return len(b), nil },
			deadline: func(time.Time) error { return nil },
			fields:   fields,
		}
		if err := s.events([]feed.Event{ev, next}); err != nil {
			t.Fatal(err)
		}

		head := "id: " + strconv.FormatInt(lm, 10) + "\ndata: "
		tail := "\n\nid: 1\ndata: "
		if !bytes.HasPrefix(out, []byte(head)) || !bytes.HasSuffix(out, []byte("\n\n")) {
			t.Fatalf("events = %q, want %q... ending with a blank line", out, head)
		}
		rest := out[len(head):]
		end := bytes.Index(rest, []byte(tail))
		if end < 0 {
			t.Fatalf("events = %q: the second event does not follow the first", out)
		}
		line := rest[:end]
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("the data of the event spans several lines: %q", line)
		}
		if second := rest[end+len(tail):]; string(second) != `{"action":"create","data":{"id":"next","last_modified":1}}`+"\n\n" {
			t.Fatalf("second event data = %q", second)
		}

		var view any
		switch {
		case deleted:
			view = map[string]any{"id": id, "last_modified": lm, "deleted": true}
		default:
			m := decodeData(obj)
			if fields != nil {
				m = project(m, fields)
			}
			view = m
		}
		want, err := json.Marshal(map[string]any{"action": ev.Action, "data": view})
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		if got, w := jsontest.Decode(t, line), jsontest.Decode(t, want); !reflect.DeepEqual(got, w) {
			t.Fatalf("event data %s decodes to %v; json.Marshal gives %s, which decodes to %v", line, got, want, w)
		}
	})
}
