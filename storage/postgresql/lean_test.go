package postgresql

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/storage"
)

func TestEchoable(t *testing.T) {
	tests := []struct {
		name string
		text string
		want bool
	}{
		{"plain data is stored as sent", `{"title":"a","n":1}`, true},
		{"a nested id key is still refused, to stay simple", `{"meta":{"id":1}}`, false},
		{"a top-level id is removed by storage", `{"id":"x","title":"a"}`, false},
		{"a top-level last_modified is removed by storage", `{"last_modified":1}`, false},
		{"a top-level deleted is removed by storage", `{"deleted":true}`, false},
		{"a \\u escape could spell a protocol key", `{"\u0069d":"x"}`, false},
		{"an id in a value is refused too", `{"note":"id"}`, false},
		{"other escapes are fine", `{"title":"a\"b\n"}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := echoable(tc.text); got != tc.want {
				t.Errorf("echoable(%s) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}

func TestLeanStatementsReturnTheTimestampOnly(t *testing.T) {
	for name, st := range map[string]writeSQL{"createFast": createFast, "createNow": createNow,
		"create auto": createForms.auto, "create locked": createForms.locked, "update auto": updateForms.auto,
		"update locked": updateForms.locked, "updateIf auto": updateIfForms.auto, "updateIf locked": updateIfForms.locked} {
		if !strings.HasSuffix(st.lean, "\nSELECT last_modified FROM w") || strings.Contains(st.lean, "o.raw") {
			t.Errorf("%s lean statement returns the data: %s", name, st.lean)
		}
		if !strings.HasSuffix(st.full, "\nSELECT last_modified, raw FROM w") {
			t.Errorf("%s full statement does not return the data: %s", name, st.full)
		}
	}
}

// Both paths (the lean statement echoing the data sent, and the full one returning what was
// stored) give the data a later Get reads, protocol keys removed.
func TestWriteResultsMatchWhatIsStored(t *testing.T) {
	be := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_lean")})
	ctx := context.Background()
	s := storage.Scope{Resource: "lean", Parent: "p"}
	for _, data := range []string{`{"title":"plain"}`, `{"id":"ignored","title":"with keys","deleted":false}`, ``} {
		created, err := be.Create(ctx, s, storage.Object{Data: json.RawMessage(data)})
		if err != nil {
			t.Fatalf("Create(%s): %v", data, err)
		}
		got, err := be.Get(ctx, s, created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(t, created.Data, got.Data) {
			t.Errorf("Create(%s) returned %s, Get reads %s", data, created.Data, got.Data)
		}
		updated, err := be.Update(ctx, s, storage.Object{ID: created.ID, Data: json.RawMessage(data)}, storage.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := be.Get(ctx, s, created.ID); !sameJSON(t, updated.Data, got.Data) {
			t.Errorf("Update(%s) returned %s, Get reads %s", data, updated.Data, got.Data)
		}
	}
}

func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xs, _ := json.Marshal(x)
	ys, _ := json.Marshal(y)
	return string(xs) == string(ys)
}
