package resource

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOrderOf(t *testing.T) {
	o := orderOf([]byte(` {"z": 1, "a": {"y": [1, {"q": 1, "p": 2}], "x": "}"}, "k\u00e9": null, "z": {"b": 1, "a": 2}} `))
	if got := strings.Join(o.keys, ","); got != "a,ké,z" {
		t.Errorf("keys %s, want a,ké,z (a repeated key at its last place)", got)
	}
	if got := strings.Join(o.child("a").keys, ","); got != "y,x" {
		t.Errorf("a's keys %s", got)
	}
	if got := strings.Join(o.child("a").child("y").child("1").keys, ","); got != "q,p" {
		t.Errorf("a.y[1]'s keys %s", got)
	}
	if got := strings.Join(o.child("z").keys, ","); got != "b,a" {
		t.Errorf("z's keys %s (the last z)", got)
	}
	for _, raw := range []string{`[1, 2]`, `"s"`, `12`, ``, `{"a":`} {
		if o := orderOf([]byte(raw)); o != nil {
			t.Errorf("orderOf(%s) = %+v, want nil", raw, o)
		}
	}
	var m map[string]any
	if err := decodeJSON([]byte(`{"new": true, "a": {"x": "}", "y": [1, {"p": 2, "q": 1}]}, "id": "x", "z": 1}`), &m); err != nil {
		t.Fatal(err)
	}
	got, err := marshalData(m, orderOf([]byte(`{"z": 1, "id": "x", "a": {"y": [1, {"q": 1, "p": 2}], "x": "}"}}`)))
	if want := `{"z":1,"a":{"y":[1,{"q":1,"p":2}],"x":"}"},"new":true}`; err != nil || string(got) != want {
		t.Errorf("marshalData = %s, %v; want %s (unknown keys last)", got, err, want)
	}
	merged := mergeOrders(orderOf([]byte(`{"b": 1, "a": {"d": 1, "c": 2}}`)), orderOf([]byte(`{"z": 1, "a": {"e": 1, "c": 3}, "b": 2}`)))
	if got := strings.Join(merged.keys, ",") + ";" + strings.Join(merged.child("a").keys, ","); got != "b,a,z;d,c,e" {
		t.Errorf("merged orders %s, want b,a,z;d,c,e", got)
	}
}

// Many keys in one object cost linear time, repeated or not.
func TestOrderOfManyKeys(t *testing.T) {
	var sb strings.Builder
	sb.WriteString(`{`)
	const n = 200000
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString(`"k` + strconv.Itoa(i%(n/2)) + `":1`)
	}
	sb.WriteString(`}`)
	raw := []byte(sb.String())
	if !json.Valid(raw) {
		t.Fatal("invalid fixture")
	}
	start := time.Now()
	o := orderOf(raw)
	if len(o.keys) != n/2 || o.keys[0] != "k0" {
		t.Fatalf("%d keys, first %q", len(o.keys), o.keys[0])
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("orderOf of %d keys took %v", n, d)
	}
}
