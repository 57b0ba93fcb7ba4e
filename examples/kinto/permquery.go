package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cliquet-go/cliquet/internal/glob"
	"github.com/cliquet-go/cliquet/protocol"
)

// The querystring of GET /permissions, as Kinto reads it for its permissions "resource":
// filters on the entries' fields (eq, not, lt, gt, min, max, in, exclude, like, has,
// contains, contains_any), _sort (default and tie-break: -uri, as Kinto appends it),
// _limit (capped by paginate_by) with Next-Page, and _fields. The entries have no
// timestamps: filters and sorts on last_modified, and _since/_before, are ignored, as
// Kinto drops them. Unlike the resources' keyset tokens, the _token of this computed list
// is an offset into it.

// permEntryFields are the fields an entry may have: filters and _sort may name only them.
var permEntryFields = []string{"id", "uri", "resource_name", "permissions", "bucket_id", "collection_id", "group_id", "record_id"}

var permFilterPattern = regexp.MustCompile(`^(eq|not|lt|gt|min|max|in|exclude|like|has|contains_any|contains)_(.+)$`)

type permFilter struct {
	op, field string
	value     string   // eq, not, lt, gt, min, max, like
	list      []string // in, exclude, contains, contains_any
	has       bool
}

type permSort struct {
	field string
	desc  bool
}

type permQuery struct {
	filters []permFilter
	sorts   []permSort
	limit   int // 0: no limit
	offset  int
	fields  []string
}

func invalidQuery(name, desc string) error {
	return protocol.InvalidParam("querystring", name, desc)
}

func knownPermField(f string) bool { return slices.Contains(permEntryFields, f) }

// parsePermQuery reads q; paginateBy caps _limit (0: no cap).
func parsePermQuery(q url.Values, paginateBy int) (*permQuery, error) {
	pq := &permQuery{limit: paginateBy}
	for name, values := range q {
		if strings.HasPrefix(name, "_") {
			continue
		}
		for _, raw := range values {
			f := permFilter{op: "eq", field: name}
			if m := permFilterPattern.FindStringSubmatch(name); m != nil {
				f.op, f.field = m[1], m[2]
			}
			if f.field == "last_modified" {
				continue // the entries have no timestamp (Kinto drops these filters)
			}
			if !knownPermField(f.field) {
				return nil, invalidQuery(name, fmt.Sprintf("Unknown filter field '%s'", name))
			}
			switch f.op {
			case "in", "exclude":
				for _, it := range strings.Split(raw, ",") {
					if it = strings.TrimSpace(it); it != "" {
						f.list = append(f.list, it)
					}
				}
			case "contains", "contains_any":
				var l []string
				if json.Unmarshal([]byte(raw), &l) != nil {
					l = []string{raw}
				}
				f.list = l
			case "has":
				b, err := strconv.ParseBool(raw)
				if err != nil || (raw != "true" && raw != "false") {
					return nil, invalidQuery(name, name+" should be true or false")
				}
				f.has = b
			case "like":
				f.value = raw
				if !strings.Contains(raw, "*") {
					f.value = "*" + raw + "*"
				}
			default:
				f.value = raw
			}
			pq.filters = append(pq.filters, f)
		}
	}
	for _, raw := range q["_sort"] {
		for _, item := range strings.Split(raw, ",") {
			item = strings.TrimSpace(item)
			desc := strings.HasPrefix(item, "-")
			field := strings.TrimLeft(item, "+-")
			if field == "" || field == "last_modified" {
				continue
			}
			if !knownPermField(field) {
				return nil, invalidQuery("_sort", fmt.Sprintf("Unknown sort field '%s'", field))
			}
			pq.sorts = append(pq.sorts, permSort{field, desc})
		}
	}
	if !slices.ContainsFunc(pq.sorts, func(s permSort) bool { return s.field == "uri" }) {
		pq.sorts = append(pq.sorts, permSort{"uri", true}) // unique: a total order for pages
	}
	if v := q["_limit"]; len(v) > 0 {
		n, err := strconv.Atoi(strings.TrimPrefix(v[len(v)-1], "+"))
		if err != nil || n < 0 {
			return nil, invalidQuery("_limit", "_limit should be an integer between 0 and 2^63")
		}
		if n > 0 && (paginateBy == 0 || n < paginateBy) {
			pq.limit = n
		}
	}
	if v := q.Get("_token"); v != "" {
		var tok struct {
			Offset int `json:"offset"`
		}
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || json.Unmarshal(b, &tok) != nil || tok.Offset < 0 {
			return nil, invalidQuery("_token", "_token has invalid content")
		}
		pq.offset = tok.Offset
	}
	if v := q["_fields"]; len(v) > 0 {
		for _, raw := range v {
			for _, f := range strings.Split(raw, ",") {
				if f = strings.TrimSpace(f); f != "" {
					pq.fields = append(pq.fields, f)
				}
			}
		}
	}
	return pq, nil
}

// match reports whether the entry e satisfies every filter.
func (pq *permQuery) match(e map[string]any) bool {
	for _, f := range pq.filters {
		if !f.match(e) {
			return false
		}
	}
	return true
}

func (f permFilter) match(e map[string]any) bool {
	v, present := e[f.field]
	if f.op == "has" {
		return present == f.has
	}
	if !present {
		return f.op == "not" || f.op == "exclude"
	}
	if list, ok := v.([]string); ok { // permissions
		switch f.op {
		case "contains":
			for _, want := range f.list {
				if !slices.Contains(list, want) {
					return false
				}
			}
			return true
		case "contains_any":
			return slices.ContainsFunc(f.list, func(s string) bool { return slices.Contains(list, s) })
		}
		return false
	}
	s, _ := v.(string)
	switch f.op {
	case "eq":
		return s == f.value
	case "not":
		return s != f.value
	case "lt":
		return s < f.value
	case "gt":
		return s > f.value
	case "min":
		return s >= f.value
	case "max":
		return s <= f.value
	case "in":
		return slices.Contains(f.list, s)
	case "exclude":
		return !slices.Contains(f.list, s)
	case "like":
		return glob.Match(strings.ToLower(f.value), strings.ToLower(s))
	}
	return false // contains on a string field
}

// compare orders two entries by the sorts; a missing field sorts first.
func (pq *permQuery) compare(a, b map[string]any) int {
	for _, so := range pq.sorts {
		av, aok := a[so.field]
		bv, bok := b[so.field]
		c := 0
		switch {
		case !aok && !bok:
		case !aok:
			c = -1
		case !bok:
			c = 1
		default:
			c = strings.Compare(fmt.Sprint(av), fmt.Sprint(bv))
		}
		if so.desc {
			c = -c
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// project keeps the fields asked by _fields (and id, which Kinto always keeps).
func (pq *permQuery) project(e map[string]any) map[string]any {
	if pq.fields == nil {
		return e
	}
	out := map[string]any{}
	for k, v := range e {
		if k == "id" || slices.Contains(pq.fields, k) {
			out[k] = v
		}
	}
	return out
}

// nextToken is the _token of the page after the one ending at offset end.
func nextToken(end int) string {
	return base64.RawURLEncoding.EncodeToString([]byte(`{"offset":` + strconv.Itoa(end) + `}`))
}
