package jsonobj

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/cliquet-go/cliquet/internal/jsontest"
)

// FuzzWithout checks Without against encoding/json: for a JSON object it returns compact
// JSON text that decodes to the object less the named members, with the other members in
// their order; for any other input it fails (and never panics). Without -fuzz it runs the
// seeds; scripts/test runs it for a few seconds.
func FuzzWithout(f *testing.F) {
	for _, s := range []string{
		`{"z": 1, "id": "x", "a": {"y": [1, {"q": 2, "p": 3}], "b": null}, "last_modified": 3}`, `{"id": 1, "id": 2}`,
		`{}`, ` {"deleted": true, "k\u00e9": "<v>"} `, `{"n": 1e400}`, `{"a": 1, "a": 2, "b": 3}`, "{\"\xff\": \"\xfe\"}",
		`{"s": "\u0000\ud800\u2028", "t": "\"\\/"}`, "{\n\t\"a\" :\r\n[ 1 , 2 ]\n}", `[1]`, `{"a": }`, `{"a": 1} {}`,
		`null`, `"s"`, ``, `{"a": 1,}`, `{"a" 1}`, `{"a": 1`, `{1: 2}`, `{"a": 01}`, `{"a": [1,]}`,
	} {
		f.Add([]byte(s), "id")
	}
	f.Fuzz(func(t *testing.T, raw []byte, name string) {
		names := []string{name, "deleted"}
		got, err := Without(raw, names...)
		isObject := false
		if json.Valid(raw) {
			_, isObject = jsontest.Decode(t, raw).(map[string]any)
		}
		if !isObject {
			if err == nil {
				t.Fatalf("Without(%q) = %s, want an error: it is no JSON object", raw, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("Without(%s): %v", raw, err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, got); err != nil || !bytes.Equal(compact.Bytes(), got) {
			t.Fatalf("Without(%s) = %s: not compact JSON text (%v)", raw, got, err)
		}
		want := jsontest.Decode(t, raw).(map[string]any)
		for _, n := range names {
			delete(want, n)
		}
		if g := jsontest.Decode(t, got); !reflect.DeepEqual(g, any(want)) {
			t.Fatalf("Without(%s) = %s, which decodes to %v; want %v", raw, got, g, want)
		}
		wantKeys := slices.DeleteFunc(topKeys(t, raw), func(k string) bool { return slices.Contains(names, k) })
		if gotKeys := topKeys(t, got); !slices.Equal(gotKeys, wantKeys) {
			t.Fatalf("Without(%s) = %s: keys %q, want %q in this order", raw, got, gotKeys, wantKeys)
		}
	})
}

// topKeys lists the keys of the JSON object text b in their order, repeated ones included,
// as encoding/json decodes them.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	if _, err := d.Token(); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	var keys []string
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		keys = append(keys, k.(string))
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
	}
	return keys
}
