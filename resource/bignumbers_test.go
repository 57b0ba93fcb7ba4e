package resource_test

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/resource"
)

// TestNumbersBeyondFloat64 checks that filters and page tokens keep integers that float64
// cannot hold (above 2^53) exact, as kinto.core does: ?n=9007199254740993 does not find
// 9007199254740992, and pages sorted on such a field neither repeat nor skip a record where a
// page ends inside a run of equal values.
func TestNumbersBeyondFloat64(t *testing.T) {
	for _, backend := range storesUnderTest("resource_bignumbers_test") {
		t.Run(backend.name, func(t *testing.T) {
			app := newAppOn(t, backend.open(t), nil)
			if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom"}); err != nil {
				t.Fatal(err)
			}
			s := &server{t: t, app: app, h: app.Handler()}
			user := testenv.UniquePrefix(t, "u-") // a shared database keeps earlier runs' rows
			values := []string{
				"9007199254740992", "9007199254740993", "9007199254740993", "9007199254740993",
				"9007199254740994", "9007199254740992", "12345678901234567890", "12345678901234567891",
			}
			for i, v := range values {
				s.must(201, req{Method: "POST", Path: col, User: user,
					Body: `{"data": {"i": ` + strconv.Itoa(i) + `, "n": ` + v + `}}`})
			}
			count := func(query string) int {
				return len(exactList(t, s.must(200, req{Method: "GET", Path: col + "?" + query, User: user})))
			}
			for _, c := range []struct {
				query string
				want  int
			}{
				{"n=9007199254740993", 3},
				{"n=9007199254740992", 2},
				{"gt_n=9007199254740993", 3},
				{"lt_n=9007199254740993", 2},
				{"in_n=9007199254740994,12345678901234567891", 2},
				{"not_n=12345678901234567890", 7},
			} {
				if got := count(c.query); got != c.want {
					t.Errorf("?%s: %d objects, want %d", c.query, got, c.want)
				}
			}
			for _, sort := range []string{"n", "-n"} {
				seen := map[json.Number]bool{}
				var order []json.Number
				path := col + "?_limit=1&_sort=" + sort
				for path != "" {
					r := s.must(200, req{Method: "GET", Path: path, User: user})
					for _, o := range exactList(t, r) {
						i := o["i"].(json.Number)
						if seen[i] {
							t.Fatalf("_sort=%s: record %s on two pages (order so far %v)", sort, i, order)
						}
						seen[i] = true
						order = append(order, o["n"].(json.Number))
					}
					path = ""
					if next := r.Header.Get("Next-Page"); next != "" {
						path = pathOf(t, next)
					}
				}
				if len(seen) != len(values) {
					t.Fatalf("_sort=%s: %d records seen, want %d (order %v)", sort, len(seen), len(values), order)
				}
				want := []json.Number{"9007199254740992", "9007199254740992", "9007199254740993", "9007199254740993",
					"9007199254740993", "9007199254740994", "12345678901234567890", "12345678901234567891"}
				for k := range want {
					w := want[k]
					if sort == "-n" {
						w = want[len(want)-1-k]
					}
					if order[k] != w {
						t.Fatalf("_sort=%s: order %v, want %v", sort, order, want)
					}
				}
			}
		})
	}
}

// exactList decodes a list response keeping numbers as their literals.
func exactList(t *testing.T, r *response) []map[string]any {
	t.Helper()
	var body struct {
		Data []map[string]any `json:"data"`
	}
	d := json.NewDecoder(bytes.NewReader(r.Raw))
	d.UseNumber()
	if err := d.Decode(&body); err != nil {
		t.Fatalf("list body %s: %v", r.Raw, err)
	}
	return body.Data
}
