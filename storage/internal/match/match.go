// Package match evaluates storage filters, pagination rules and sorts in process, for the
// backends that cannot push them down to a server (memory, redis).
//
// It implements the value semantics of the storage package doc exactly, so that every
// in-process backend agrees with PostgreSQL's jsonb ordering:
// null < string < number < boolean < array < object < absent.
//
// # Use
//
// Keep, for every stored object, a [Doc]: the metadata plus Data decoded once (at write time)
// by [Decode] into a map[string]any. [CleanData] validates and normalises Data on the
// write path and returns both forms. On the read path compile the options once and apply
// them to the candidate documents:
//
//	docs := []*match.Doc{...}                // live objects, plus tombstones when opt.IncludeDeleted
//	out, err := match.Apply(docs, opt)        // filters, pagination, sort, limit
//
// or, piece by piece:
//
//	m, err := match.Compile(opt.Filters, opt.Pagination)
//	if m.Match(d) { ... }
//	match.Sort(selected, opt.Sort)
//
// Errors from [Compile] (and [Apply]) describe malformed filters (LIKE on a non-string
// pattern, HAS without a bool, an unknown operator, [storage.Missing] with an operator that
// cannot take it); backends return them as they are.
//
// # Semantics decided here
//
// An absent field sorts after every value, so it satisfies GT and MIN (and NOT, EXCLUDE), and
// never EQ, LT, MAX, IN, LIKE, CONTAINS or CONTAINS_ANY; HAS true fails on it and HAS false
// matches it. With [storage.Missing] as the value: EQ and MIN keep absent fields, LT keeps
// present ones, MAX keeps everything, GT keeps nothing, NOT keeps present ones. These are the
// rules of kinto.core (memory and PostgreSQL), and keyset pagination relies on them.
//
// Numbers compare by their exact decimal values, as in jsonb (see internal/jsonnum): a
// float64 stands for its shortest decimal form, a json.Number for its literal, an integer of
// any Go type for itself. Decoded data keeps float64 wherever it holds a number exactly.
// Strings compare byte-wise. Arrays compare by length, then element by element; objects by
// number of keys, then key by key in jsonb order (shorter keys first, then byte-wise), each key
// followed by its value. "id" compares as a string (numeric filter values on id are turned
// into their decimal string, as kinto does), "last_modified" as a number, and "deleted" is true
// on tombstones and absent elsewhere. Dotted fields walk nested objects ("a.b" is Data["a"]["b"]).
// LIKE patterns are anchored and case-insensitive; '*' is the only wildcard.
package match

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/cliquet-go/cliquet/internal/jsonnum"
	"github.com/cliquet-go/cliquet/internal/jsonobj"
	"github.com/cliquet-go/cliquet/storage"
)

// Doc is one stored object as the matcher sees it.
type Doc struct {
	ID           string
	LastModified int64
	Deleted      bool           // a tombstone: only "id", "last_modified" and "deleted" exist
	Data         map[string]any // Data as Decode decodes it; nil for tombstones
	// Raw is free for the backend (typically the stored Data bytes); the matcher ignores it.
	Raw json.RawMessage
}

// Lookup returns the value of field in d and whether the field is present. "id",
// "last_modified" and "deleted" address the metadata; other names are dotted paths into Data.
func (d *Doc) Lookup(field string) (any, bool) {
	switch field {
	case "id":
		return d.ID, true
	case "last_modified":
		return float64(d.LastModified), true
	case "deleted":
		if d.Deleted {
			return true, true
		}
		return nil, false
	}
	return lookupPath(d.Data, field)
}

func lookupPath(data map[string]any, field string) (any, bool) {
	if data == nil {
		return nil, false
	}
	cur := data
	for {
		key, rest, nested := strings.Cut(field, ".")
		v, ok := cur[key]
		if !ok {
			return nil, false
		}
		if !nested {
			return v, true
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false
		}
		cur, field = m, rest
	}
}

// lookupSplit is Lookup with a pre-split path for data fields.
func (d *Doc) lookupSplit(special int, path []string) (any, bool) {
	switch special {
	case fieldID:
		return d.ID, true
	case fieldLastModified:
		return float64(d.LastModified), true
	case fieldDeleted:
		if d.Deleted {
			return true, true
		}
		return nil, false
	}
	if d.Data == nil {
		return nil, false
	}
	cur := d.Data
	for i, key := range path {
		v, ok := cur[key]
		if !ok {
			return nil, false
		}
		if i == len(path)-1 {
			return v, true
		}
		m, isMap := v.(map[string]any)
		if !isMap {
			return nil, false
		}
		cur = m
	}
	return nil, false
}

const (
	fieldData = iota
	fieldID
	fieldLastModified
	fieldDeleted
)

func classify(field string) (int, []string) {
	switch field {
	case "id":
		return fieldID, nil
	case "last_modified":
		return fieldLastModified, nil
	case "deleted":
		return fieldDeleted, nil
	}
	return fieldData, strings.Split(field, ".")
}

// Type ranks of the jsonb ordering.
const (
	rankNull = iota
	rankString
	rankNumber
	rankBool
	rankArray
	rankObject
)

func rank(v any) int {
	switch v.(type) {
	case nil:
		return rankNull
	case string:
		return rankString
	case bool:
		return rankBool
	case []any:
		return rankArray
	case map[string]any:
		return rankObject
	}
	if jsonnum.IsNumber(v) {
		return rankNumber
	}
	// Anything else is normalised before it gets here; rank it as an object so the ordering
	// stays total.
	return rankObject
}

// Compare orders two present values (as decoded by encoding/json, numbers of any Go type
// allowed) in PostgreSQL jsonb order and returns -1, 0 or +1.
func Compare(a, b any) int {
	ra, rb := rank(a), rank(b)
	if ra != rb {
		if ra < rb {
			return -1
		}
		return 1
	}
	switch ra {
	case rankNull:
		return 0
	case rankString:
		return strings.Compare(a.(string), b.(string))
	case rankNumber:
		return jsonnum.Compare(a, b)
	case rankBool:
		x, y := a.(bool), b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case rankArray:
		x, y := a.([]any), b.([]any)
		if len(x) != len(y) {
			return cmpInt(len(x), len(y))
		}
		for i := range x {
			if c := Compare(x[i], y[i]); c != 0 {
				return c
			}
		}
		return 0
	}
	x, xok := a.(map[string]any)
	y, yok := b.(map[string]any)
	if !xok || !yok {
		return 0
	}
	if len(x) != len(y) {
		return cmpInt(len(x), len(y))
	}
	kx, ky := jsonbKeys(x), jsonbKeys(y)
	for i := range kx {
		if c := compareKeys(kx[i], ky[i]); c != 0 {
			return c
		}
		if c := Compare(x[kx[i]], y[ky[i]]); c != 0 {
			return c
		}
	}
	return 0
}

func cmpInt(a, b int) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// compareKeys is jsonb's storage order for object keys: shorter first, then byte-wise.
func compareKeys(a, b string) int {
	if len(a) != len(b) {
		return cmpInt(len(a), len(b))
	}
	return strings.Compare(a, b)
}

func jsonbKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, compareKeys)
	return keys
}

// compareField orders possibly absent values: absent sorts after every value.
func compareField(a any, aok bool, b any, bok bool) int {
	switch {
	case !aok && !bok:
		return 0
	case !aok:
		return 1
	case !bok:
		return -1
	}
	return Compare(a, b)
}

// Normalize turns a filter value into what CleanData decodes: numbers of every Go type
// become float64 where float64 holds them exactly and a json.Number otherwise
// (jsonnum.Value), slices become []any and maps with string keys map[string]any
// (recursively). Other types go through a JSON round trip. [storage.Missing] is returned as is.
func Normalize(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, float64, storage.MissingValue:
		return v, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := Normalize(e)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			n, err := Normalize(e)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out, nil
	}
	if n, ok, err := jsonnum.Of(v); ok {
		if err != nil {
			return nil, fmt.Errorf("storage: filter value %v: %w", v, err)
		}
		return n, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
		out := make([]any, rv.Len())
		for i := range out {
			n, err := Normalize(rv.Index(i).Interface())
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("storage: filter value of type %T: %w", v, err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("storage: filter value of type %T: %w", v, err)
	}
	return out, nil
}

// cond is one compiled filter.
type cond struct {
	special int
	path    []string
	op      storage.Operator
	missing bool     // Value is storage.Missing
	value   any      // normalised scalar/array/object
	list    []any    // IN, EXCLUDE, CONTAINS, CONTAINS_ANY
	like    []string // LIKE pattern, lower-cased, split on '*'
	has     bool
}

func compileFilter(f storage.Filter) (cond, error) {
	c := cond{op: f.Op}
	c.special, c.path = classify(f.Field)
	bad := func(format string, args ...any) (cond, error) {
		return cond{}, fmt.Errorf("storage: invalid filter %s on %q: %s", f.Op, f.Field, fmt.Sprintf(format, args...))
	}
	if _, ok := f.Value.(storage.MissingValue); ok {
		switch f.Op {
		case storage.EQ, storage.NOT, storage.LT, storage.GT, storage.MIN, storage.MAX:
			c.missing = true
			return c, nil
		}
		return bad("storage.Missing is only valid with EQ, NOT, LT, GT, MIN and MAX")
	}
	v, err := Normalize(f.Value)
	if err != nil {
		return cond{}, err
	}
	if c.special == fieldID {
		v = idValue(v)
	}
	switch f.Op {
	case storage.EQ, storage.NOT, storage.LT, storage.GT, storage.MIN, storage.MAX:
		c.value = v
	case storage.IN, storage.EXCLUDE, storage.CONTAINS, storage.CONTAINS_ANY:
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		if c.special == fieldID {
			for i := range list {
				list[i] = idValue(list[i])
			}
		}
		c.list = list
	case storage.LIKE:
		s, ok := v.(string)
		if !ok {
			return bad("pattern %v is not a string", f.Value)
		}
		c.like = strings.Split(strings.ToLower(s), "*")
	case storage.HAS:
		b, ok := v.(bool)
		if !ok {
			return bad("value %v is not a bool", f.Value)
		}
		c.has = b
	default:
		return bad("unknown operator")
	}
	return c, nil
}

// idValue turns numbers into their decimal string: ids are strings, and kinto accepts ?id=42.
func idValue(v any) any {
	switch n := v.(type) {
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64)
	case json.Number:
		return string(n)
	}
	return v
}

func (c *cond) match(d *Doc) bool {
	v, ok := d.lookupSplit(c.special, c.path)
	if c.missing {
		switch c.op {
		case storage.EQ, storage.MIN:
			return !ok
		case storage.LT, storage.NOT:
			return ok
		case storage.MAX:
			return true
		}
		return false // GT: nothing sorts after an absent field
	}
	switch c.op {
	case storage.EQ:
		return ok && Compare(v, c.value) == 0
	case storage.NOT:
		return !ok || Compare(v, c.value) != 0
	case storage.LT:
		return ok && Compare(v, c.value) < 0
	case storage.MAX:
		return ok && Compare(v, c.value) <= 0
	case storage.GT:
		return !ok || Compare(v, c.value) > 0
	case storage.MIN:
		return !ok || Compare(v, c.value) >= 0
	case storage.IN:
		return ok && contains(c.list, v)
	case storage.EXCLUDE:
		return !ok || !contains(c.list, v)
	case storage.LIKE:
		s, isString := v.(string)
		return ok && isString && like(c.like, strings.ToLower(s))
	case storage.HAS:
		return ok == c.has
	case storage.CONTAINS:
		arr, isArray := v.([]any)
		if !ok || !isArray {
			return false
		}
		for _, want := range c.list {
			if !contains(arr, want) {
				return false
			}
		}
		return true
	case storage.CONTAINS_ANY:
		arr, isArray := v.([]any)
		if !ok || !isArray {
			return false
		}
		for _, want := range c.list {
			if contains(arr, want) {
				return true
			}
		}
	}
	return false
}

func contains(list []any, v any) bool {
	for _, e := range list {
		if Compare(e, v) == 0 {
			return true
		}
	}
	return false
}

// like matches s against pattern parts (the pattern split on '*'), anchored at both ends.
func like(parts []string, s string) bool {
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if !strings.HasPrefix(s, first) {
		return false
	}
	s = s[len(first):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return strings.HasSuffix(s, last)
}

// Matcher is a compiled list of AND-ed filters and pagination rules (an OR of AND-ed groups).
// It is immutable and safe for concurrent use.
type Matcher struct {
	filters []cond
	rules   [][]cond
}

// Compile prepares filters (AND-ed) and pagination rules (OR of AND-ed groups; empty means no
// restriction) for [Matcher.Match].
func Compile(filters []storage.Filter, pagination [][]storage.Filter) (*Matcher, error) {
	m := &Matcher{filters: make([]cond, 0, len(filters))}
	for _, f := range filters {
		c, err := compileFilter(f)
		if err != nil {
			return nil, err
		}
		m.filters = append(m.filters, c)
	}
	for _, group := range pagination {
		rule := make([]cond, 0, len(group))
		for _, f := range group {
			c, err := compileFilter(f)
			if err != nil {
				return nil, err
			}
			rule = append(rule, c)
		}
		m.rules = append(m.rules, rule)
	}
	return m, nil
}

// Match reports whether d satisfies every filter and, when there are pagination rules, every
// filter of at least one rule.
func (m *Matcher) Match(d *Doc) bool {
	for i := range m.filters {
		if !m.filters[i].match(d) {
			return false
		}
	}
	if len(m.rules) == 0 {
		return true
	}
	for _, rule := range m.rules {
		ok := true
		for i := range rule {
			if !rule[i].match(d) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// absent marks a missing field among precomputed sort keys.
type absent struct{}

// Sort orders docs in place by sorts (the first is the primary key), stably, in jsonb order
// with absent fields last in ascending order and first in descending order.
func Sort(docs []*Doc, sorts []storage.Sort) {
	if len(sorts) == 0 || len(docs) < 2 {
		return
	}
	so := newSorter(sorts)
	items := so.decorate(docs)
	slices.SortFunc(items, so.cmp)
	for i := range items {
		docs[i] = items[i].doc
	}
}

// sortKey is one storage.Sort, classified once.
type sortKey struct {
	special int
	path    []string
	desc    bool
}

// sortItem is a doc decorated with its sort values (looked up once) and its input position,
// the tie-breaker that makes the order total and the sort stable.
type sortItem struct {
	doc  *Doc
	vals []any // per key; unused for "id" and "last_modified", compared from doc
	idx  int
}

type sorter struct{ keys []sortKey }

func newSorter(sorts []storage.Sort) sorter {
	keys := make([]sortKey, len(sorts))
	for i, s := range sorts {
		keys[i].special, keys[i].path = classify(s.Field)
		keys[i].desc = s.Desc
	}
	return sorter{keys}
}

// decorate looks every sort value of docs up once, in one allocation. "id" and
// "last_modified" are read from the doc when comparing (boxing them would allocate per doc).
func (so sorter) decorate(docs []*Doc) []sortItem {
	n := len(so.keys)
	vals := make([]any, len(docs)*n)
	items := make([]sortItem, len(docs))
	for i, d := range docs {
		row := vals[i*n : (i+1)*n : (i+1)*n]
		for j, k := range so.keys {
			if k.special == fieldID || k.special == fieldLastModified {
				continue
			}
			v, ok := d.lookupSplit(k.special, k.path)
			if !ok {
				v = absent{}
			}
			row[j] = v
		}
		items[i] = sortItem{doc: d, vals: row, idx: i}
	}
	return items
}

// cmp is the total order of decorated items: the sort keys, then the input position.
func (so sorter) cmp(a, b sortItem) int {
	for j, k := range so.keys {
		var c int
		switch k.special {
		case fieldID:
			c = strings.Compare(a.doc.ID, b.doc.ID)
		case fieldLastModified:
			c = cmp.Compare(a.doc.LastModified, b.doc.LastModified)
		default:
			va, vb := a.vals[j], b.vals[j]
			_, aMissing := va.(absent)
			_, bMissing := vb.(absent)
			c = compareField(va, !aMissing, vb, !bMissing)
		}
		if c != 0 {
			if k.desc {
				return -c
			}
			return c
		}
	}
	return cmpInt(a.idx, b.idx)
}

// top returns the k first items in cmp order, sorted, reordering items: a bounded max-heap
// of the k best seen so far (O(n log k) instead of sorting all n). The order is total, so the
// result is the prefix of the full stable sort.
func (so sorter) top(items []sortItem, k int) []sortItem {
	h := items[:k]
	for i := k/2 - 1; i >= 0; i-- {
		so.siftDown(h, i)
	}
	for _, it := range items[k:] {
		if so.cmp(it, h[0]) < 0 {
			h[0] = it
			so.siftDown(h, 0)
		}
	}
	slices.SortFunc(h, so.cmp)
	return h
}

// siftDown restores the max-heap property of h (the worst item at the root) below i.
func (so sorter) siftDown(h []sortItem, i int) {
	for {
		worst, l, r := i, 2*i+1, 2*i+2
		if l < len(h) && so.cmp(h[l], h[worst]) > 0 {
			worst = l
		}
		if r < len(h) && so.cmp(h[r], h[worst]) > 0 {
			worst = r
		}
		if worst == i {
			return
		}
		h[i], h[worst] = h[worst], h[i]
		i = worst
	}
}

// Apply returns the docs that satisfy opt.Filters and opt.Pagination, sorted by opt.Sort and cut
// at opt.Limit (0: no limit). It ignores opt.IncludeDeleted: pass tombstones only when they are
// wanted. The input slice is not modified. With a limit smaller than the matching docs, only
// the first opt.Limit are selected and sorted (a bounded heap), not all of them.
func Apply(docs []*Doc, opt storage.ListOptions) ([]*Doc, error) {
	m, err := Compile(opt.Filters, opt.Pagination)
	if err != nil {
		return nil, err
	}
	out := make([]*Doc, 0, len(docs))
	for _, d := range docs {
		if m.Match(d) {
			out = append(out, d)
		}
	}
	if opt.Limit > 0 && len(out) > opt.Limit {
		if len(opt.Sort) > 0 {
			so := newSorter(opt.Sort)
			best := so.top(so.decorate(out), opt.Limit)
			for i := range best {
				out[i] = best[i].doc
			}
		}
		return out[:opt.Limit:opt.Limit], nil
	}
	Sort(out, opt.Sort)
	return out, nil
}

// Decode decodes stored data (a JSON object) into the form Doc.Data holds: what
// encoding/json decodes, except the numbers float64 cannot hold exactly, which stay
// json.Number (see internal/jsonnum), so that they compare as PostgreSQL compares them.
func Decode(raw []byte) (map[string]any, error) {
	v, err := jsonnum.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("storage: data is not a JSON object: %w", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("storage: data is not a JSON object: %.20s", raw)
	}
	return m, nil
}

// CleanData validates raw as a JSON object and returns it compacted in a new buffer (never
// aliasing raw), without the top-level "id", "last_modified" and "deleted" keys, together with
// its decoded form. Empty raw stands for {}. The keys keep their order.
func CleanData(raw json.RawMessage) (json.RawMessage, map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage("{}"), map[string]any{}, nil
	}
	m, err := Decode(raw)
	if err != nil {
		return nil, nil, err
	}
	_, hasID := m["id"]
	_, hasLM := m["last_modified"]
	_, hasDel := m["deleted"]
	if !hasID && !hasLM && !hasDel {
		var buf bytes.Buffer
		buf.Grow(len(raw))
		if err := json.Compact(&buf, raw); err != nil {
			return nil, nil, fmt.Errorf("storage: data is not a JSON object: %w", err)
		}
		return json.RawMessage(buf.Bytes()), m, nil
	}
	delete(m, "id")
	delete(m, "last_modified")
	delete(m, "deleted")
	clean, err := jsonobj.Without(raw, "id", "last_modified", "deleted")
	if err != nil {
		return nil, nil, fmt.Errorf("storage: data is not a JSON object: %w", err)
	}
	return json.RawMessage(clean), m, nil
}
