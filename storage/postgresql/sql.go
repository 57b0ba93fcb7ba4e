package postgresql

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/cliquet-go/cliquet/internal/jsonnum"
	"github.com/cliquet-go/cliquet/storage"
)

// query accumulates SQL text and its positional parameters. Client input (field names and
// values) only ever reaches PostgreSQL as parameters.
type query struct {
	sb   strings.Builder
	args []any
}

// arg adds a parameter and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// limit appends " LIMIT n" when n > 0. The limit is a literal, not a parameter: with LIMIT
// $n, PostgreSQL prices a prepared statement's generic plan without the limit, finds it
// dearer than the plans made for each execution's values, and so plans the statement again
// on every execution (which costs about as much as running it). With the literal, the generic plan
// is the same as the custom one and is kept after five executions. One cached statement per
// distinct limit, which clients take from a few values.
func (q *query) limit(n int) {
	if n > 0 {
		q.w(" LIMIT ", strconv.Itoa(n))
	}
}

func (q *query) w(parts ...string) {
	for _, p := range parts {
		q.sb.WriteString(p)
	}
}

// fieldExpr returns a jsonb expression for field, SQL NULL when the field is absent.
func (q *query) fieldExpr(field string) string {
	switch field {
	case "id":
		return "to_jsonb(id)"
	case "last_modified":
		return "to_jsonb(last_modified)"
	case "deleted":
		return "(CASE WHEN deleted THEN 'true'::jsonb END)"
	}
	if strings.IndexByte(field, 0) >= 0 {
		return "NULL::jsonb" // jsonb keys cannot contain NUL: always absent
	}
	segs := strings.Split(field, ".")
	expr := "(data #> " + q.arg(segs) + "::text[])"
	// #> indexes arrays with numeric segments (which it parses as strtol does: leading
	// white space and a sign are accepted); dotted names address object keys only, so a
	// numeric segment must follow an object.
	var guards []string
	for i := 1; i < len(segs); i++ {
		if _, err := strconv.Atoi(strings.TrimLeft(segs[i], " \t\n\r\v\f")); err == nil {
			guards = append(guards, "jsonb_typeof(data #> "+q.arg(segs[:i])+"::text[]) = 'object'")
		}
	}
	if len(guards) > 0 {
		expr = "(CASE WHEN " + strings.Join(guards, " AND ") + " THEN " + expr + " END)"
	}
	return expr
}

// sortExpr returns the ORDER BY expression of field.
func (q *query) sortExpr(field string) string {
	switch field {
	case "id", "last_modified":
		return field
	}
	return ordered(q.fieldExpr(field))
}

// ordered wraps the jsonb expression x (SQL NULL when absent) so that it orders as the
// protocol does. jsonb's own order puts an empty top-level array before null (a historical
// exception in PostgreSQL's manual), where the protocol and the other backends order it
// with the arrays, after every scalar; inside a one-element array the exception does not
// apply, and the order of every other value is unchanged. jsonb_insert is strict, so an
// absent field stays SQL NULL, and x is extracted once per row, where a CASE testing x for
// NULL before wrapping it extracts it twice (docs/benchmarks-history.md measures both).
func ordered(x string) string {
	return "jsonb_insert('[]'::jsonb, '{0}', " + x + ")"
}

// orderBy appends an ORDER BY clause (nothing when sorts is empty). An absent field sorts
// last ascending and first descending.
func (q *query) orderBy(sorts []storage.Sort) {
	for i, s := range sorts {
		if i == 0 {
			q.w(" ORDER BY ")
		} else {
			q.w(", ")
		}
		q.w(q.sortExpr(s.Field))
		if s.Desc {
			q.w(" DESC NULLS FIRST")
		} else {
			q.w(" ASC NULLS LAST")
		}
	}
}

// orderText returns the ORDER BY clause of sorts (empty when sorts is empty) without
// appending it: its parameters are added, so the text can be used anywhere in the query,
// even more than once.
func (q *query) orderText(sorts []storage.Sort) string {
	mark := q.sb.Len()
	q.orderBy(sorts)
	full := q.sb.String()
	q.sb.Reset()
	q.sb.WriteString(full[:mark])
	return full[mark:]
}

// where appends " AND <cond>" for every filter and one " AND (g1 OR g2 ...)" for the
// pagination groups.
func (q *query) where(filters []storage.Filter, pagination [][]storage.Filter) error {
	for _, f := range filters {
		c, err := q.cond(f)
		if err != nil {
			return err
		}
		q.w(" AND ", c)
	}
	if len(pagination) == 0 {
		return nil
	}
	groups := make([]string, 0, len(pagination))
	for _, g := range pagination {
		conds := make([]string, 0, len(g)+1)
		conds = append(conds, "TRUE")
		for _, f := range g {
			c, err := q.cond(f)
			if err != nil {
				return err
			}
			conds = append(conds, c)
		}
		groups = append(groups, "("+strings.Join(conds, " AND ")+")")
	}
	q.w(" AND (", strings.Join(groups, " OR "), ")")
	return nil
}

var compareSQL = map[storage.Operator]string{
	storage.EQ: "=", storage.NOT: "<>", storage.LT: "<", storage.GT: ">", storage.MIN: ">=", storage.MAX: "<=",
}

// cond translates one filter into a boolean SQL expression.
func (q *query) cond(f storage.Filter) (string, error) {
	if _, missing := f.Value.(storage.MissingValue); missing {
		return q.missingCond(f)
	}
	if f.Field == "id" {
		f.Value = idValue(f.Value) // ids are strings; ?id=42 means "42"
	}
	op, isCompare := compareSQL[f.Op]
	// Fast paths on the columns, so that the (resource, parent, last_modified) index and the
	// primary key serve _since, _before and keyset pages.
	if isCompare {
		switch f.Field {
		case "last_modified":
			if n, ok := integral(f.Value); ok {
				return "last_modified " + op + " " + q.arg(n) + "::bigint", nil
			}
		case "id":
			if s, ok := f.Value.(string); ok && strings.IndexByte(s, 0) < 0 {
				return "id " + op + " " + q.arg(s) + "::text", nil
			}
		}
	}
	x := q.fieldExpr(f.Field)
	switch f.Op {
	case storage.EQ, storage.NOT, storage.LT, storage.GT, storage.MIN, storage.MAX:
		v, nul, err := jsonValue(f.Value)
		if err != nil {
			return "", err
		}
		if nul {
			return q.nulCompare(f, x)
		}
		p := q.arg(v) + "::text::jsonb"
		switch f.Op {
		case storage.EQ:
			return "(" + x + " " + op + " " + p + ")", nil
		case storage.NOT: // an absent field differs from every value
			return "(" + x + " IS NULL OR " + x + " " + op + " " + p + ")", nil
		}
		ox, op2 := ordered(x), "jsonb_build_array("+p+")"
		if f.Op == storage.GT || f.Op == storage.MIN { // an absent field sorts after every value
			return "(" + ox + " IS NULL OR " + ox + " " + op + " " + op2 + ")", nil
		}
		return "(" + ox + " " + op + " " + op2 + ")", nil
	case storage.IN, storage.EXCLUDE:
		items, err := jsonItems(f.Value)
		if err != nil {
			return "", err
		}
		p := q.arg(items) + "::text[]::jsonb[]"
		if f.Op == storage.IN {
			return "(" + x + " = ANY(" + p + "))", nil
		}
		return "(" + x + " IS NULL OR NOT (" + x + " = ANY(" + p + ")))", nil
	case storage.LIKE:
		s, ok := f.Value.(string)
		if !ok {
			return "", fmt.Errorf("%w: %s on %q wants a string, got %T", ErrInvalidFilter, f.Op, f.Field, f.Value)
		}
		if strings.IndexByte(s, 0) >= 0 {
			return constant(x, false), nil // no stored string contains NUL
		}
		return "(jsonb_typeof(" + x + ") = 'string' AND (" + x + " #>> '{}') ILIKE " + q.arg(likePattern(s)) + "::text)", nil
	case storage.HAS:
		has, ok := f.Value.(bool)
		if !ok {
			return "", fmt.Errorf("%w: %s on %q wants a bool, got %T", ErrInvalidFilter, f.Op, f.Field, f.Value)
		}
		if has {
			return "(" + x + " IS NOT NULL)", nil
		}
		return "(" + x + " IS NULL)", nil
	case storage.CONTAINS, storage.CONTAINS_ANY:
		all := f.Op == storage.CONTAINS
		items, dropped, err := jsonItemsCounted(f.Value)
		if err != nil {
			return "", err
		}
		if all && dropped > 0 {
			return constant(x, false), nil // an array cannot contain a string with NUL
		}
		// Element equality (not jsonb @>, whose containment is recursive and partial on
		// nested objects), so that every backend agrees.
		p := q.arg(items) + "::text[]::jsonb[]"
		if all {
			return "(jsonb_typeof(" + x + ") = 'array' AND NOT EXISTS (SELECT 1 FROM unnest(" + p +
				") AS want(v) WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(" + x + ") AS have(v) WHERE have.v = want.v)))", nil
		}
		return "(jsonb_typeof(" + x + ") = 'array' AND EXISTS (SELECT 1 FROM unnest(" + p +
			") AS want(v), jsonb_array_elements(" + x + ") AS have(v) WHERE have.v = want.v))", nil
	}
	return "", fmt.Errorf("%w: unknown operator %s", ErrInvalidFilter, f.Op)
}

// missingCond handles storage.Missing: absent sorts after every value.
func (q *query) missingCond(f storage.Filter) (string, error) {
	x := q.fieldExpr(f.Field)
	switch f.Op {
	case storage.EQ, storage.MIN: // == absent, >= absent
		return "(" + x + " IS NULL)", nil
	case storage.NOT, storage.LT: // != absent, < absent
		return "(" + x + " IS NOT NULL)", nil
	case storage.GT:
		return constant(x, false), nil
	case storage.MAX:
		return constant(x, true), nil
	}
	return "", fmt.Errorf("%w: %s cannot compare with storage.Missing", ErrInvalidFilter, f.Op)
}

// nulCompare handles a comparison with a value that contains NUL. A string s0 with its first
// NUL at i compares against NUL-free strings exactly like its prefix p = s0[:i] would, except
// that p itself is smaller than s0: x < s0 ⇔ x <= p and x > s0 ⇔ x > p.
func (q *query) nulCompare(f storage.Filter, x string) (string, error) {
	switch f.Op {
	case storage.EQ:
		return constant(x, false), nil
	case storage.NOT:
		return constant(x, true), nil
	}
	s, ok := f.Value.(string)
	if !ok {
		return "", fmt.Errorf("%w (%s on %q)", ErrNULValue, f.Op, f.Field)
	}
	prefix, _ := json.Marshal(s[:strings.IndexByte(s, 0)])
	p := "jsonb_build_array(" + q.arg(string(prefix)) + "::text::jsonb)"
	ox := ordered(x)
	if f.Op == storage.LT || f.Op == storage.MAX {
		return "(" + ox + " <= " + p + ")", nil
	}
	return "(" + ox + " IS NULL OR " + ox + " > " + p + ")", nil
}

// idValue turns numbers into their decimal string, in lists too.
func idValue(v any) any {
	if n, ok := integral(v); ok {
		return strconv.FormatInt(n, 10)
	}
	switch n := v.(type) {
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64)
	case json.Number:
		return string(n)
	case []any:
		out := make([]any, len(n))
		for i, e := range n {
			out[i] = idValue(e)
		}
		return out
	}
	return v
}

// constant is a condition that is always (or never) true but still mentions x, so that the
// parameters x uses keep a type PostgreSQL can infer.
func constant(x string, v bool) string {
	if v {
		return "(" + x + " IS NULL OR TRUE)"
	}
	return "(" + x + " IS NULL AND FALSE)"
}

// likePattern turns a '*' wildcard pattern into an ILIKE pattern, escaping %, _ and \.
func likePattern(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '%', '_':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '*':
			b.WriteByte('%')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// integral reports whether v is a whole number that fits an int64.
func integral(v any) (int64, bool) {
	if i, ok := jsonnum.Int64(v); ok {
		return i, true
	}
	switch n := v.(type) {
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<62 {
			return int64(n), true
		}
	case float32:
		f := float64(n)
		if f == math.Trunc(f) && math.Abs(f) < 1<<62 {
			return int64(f), true
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, true
		}
	}
	return 0, false
}

// jsonValue encodes v as JSON text and reports whether it contains a NUL character (which
// jsonb rejects).
func jsonValue(v any) (string, bool, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", false, fmt.Errorf("%w: value %v: %v", ErrInvalidFilter, v, err)
	}
	return string(b), hasNUL(v), nil
}

// jsonItems encodes the items of a list value, dropping those containing NUL (they equal no
// stored value).
func jsonItems(v any) ([]string, error) {
	items, _, err := jsonItemsCounted(v)
	return items, err
}

func jsonItemsCounted(v any) ([]string, int, error) {
	list, ok := asList(v)
	if !ok {
		list = []any{v}
	}
	items := make([]string, 0, len(list))
	dropped := 0
	for _, it := range list {
		if _, missing := it.(storage.MissingValue); missing {
			dropped++
			continue
		}
		s, nul, err := jsonValue(it)
		if err != nil {
			return nil, 0, err
		}
		if nul {
			dropped++
			continue
		}
		items = append(items, s)
	}
	return items, dropped, nil
}

func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice || rv.Type().Elem().Kind() == reflect.Uint8 {
		return nil, false
	}
	l := make([]any, rv.Len())
	for i := range l {
		l[i] = rv.Index(i).Interface()
	}
	return l, true
}

// hasNUL reports whether a decoded JSON value holds a NUL character in a string or key.
func hasNUL(v any) bool {
	switch t := v.(type) {
	case string:
		return strings.IndexByte(t, 0) >= 0
	case []any:
		for _, e := range t {
			if hasNUL(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range t {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e) {
				return true
			}
		}
	case nil, bool, float64, int, int64:
		return false
	default:
		b, err := json.Marshal(v)
		return err == nil && strings.Contains(string(b), `\u0000`)
	}
	return false
}
