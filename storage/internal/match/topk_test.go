package match

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cliquet-go/cliquet/storage"
)

// TestApplyWithLimitIsThePrefixOfTheFullSort checks the bounded-heap selection of Apply
// against the full stable sort cut at the limit, on documents with ties, absent fields and
// values of mixed types, for several sorts and limits.
func TestApplyWithLimitIsThePrefixOfTheFullSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	values := []any{nil, "a", "b", 1.0, 2.0, 2.0, true, false, []any{1.0}, map[string]any{"x": 1.0}}
	docs := make([]*Doc, 300)
	for i := range docs {
		data := map[string]any{}
		if rng.IntN(5) > 0 { // some absent
			data["v"] = values[rng.IntN(len(values))]
		}
		data["n"] = float64(rng.IntN(7)) // many ties
		docs[i] = &Doc{ID: fmt.Sprintf("id-%03d", rng.IntN(1000)), LastModified: int64(rng.IntN(50)), Data: data}
	}
	sorts := [][]storage.Sort{
		{{Field: "last_modified", Desc: true}},
		{{Field: "v"}},
		{{Field: "v", Desc: true}, {Field: "id"}},
		{{Field: "n"}, {Field: "last_modified", Desc: true}},
		{{Field: "id", Desc: true}},
	}
	for _, ss := range sorts {
		for _, limit := range []int{1, 2, 21, 299, 300, 301} {
			t.Run(fmt.Sprintf("sort %v limit %d", ss, limit), func(t *testing.T) {
				want := slices.Clone(docs)
				Sort(want, ss)
				if limit < len(want) {
					want = want[:limit]
				}
				got, err := Apply(docs, storage.ListOptions{Sort: ss, Limit: limit})
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("Apply with limit %d differs from the full sort's prefix", limit)
				}
			})
		}
	}
}

// TestSortOrdersMetadataLikeData checks that "last_modified" and "id", compared from the
// doc, order like the values Lookup returns for them.
func TestSortOrdersMetadataLikeData(t *testing.T) {
	docs := []*Doc{
		{ID: "b", LastModified: 20}, {ID: "a", LastModified: 300}, {ID: "c", LastModified: 1},
	}
	for _, field := range []string{"id", "last_modified"} {
		got := slices.Clone(docs)
		Sort(got, []storage.Sort{{Field: field}})
		for i := 1; i < len(got); i++ {
			a, _ := got[i-1].Lookup(field)
			b, _ := got[i].Lookup(field)
			if Compare(a, b) > 0 {
				t.Fatalf("sorted by %s: %v before %v", field, a, b)
			}
		}
	}
}
