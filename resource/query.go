package resource

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cliquet-go/cliquet/internal/jsoncheck"
	"github.com/cliquet-go/cliquet/internal/jsonnum"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// listQuery is the parsed querystring of a plural endpoint.
type listQuery struct {
	filters        []storage.Filter
	sort           []storage.Sort
	limit          int
	pagination     [][]storage.Filter
	offset         int
	fields         []string // nil: every field
	includeDeleted bool
	alert          string // Alert header value (deprecated _to)
}

var (
	filterPattern  = regexp.MustCompile(`^(eq|not|lt|gt|min|max|in|exclude|like|has|contains_any|contains)_([\p{L}\p{N}_.]+)$`)
	sortPattern    = regexp.MustCompile(`^([-+]?)([\p{L}\p{N}_.]+)$`)
	tsPattern      = regexp.MustCompile(`^(\d+)$|^("\d+")$`)
	limitPattern   = regexp.MustCompile(`^\+?\d+$`)
	operatorByName = map[string]storage.Operator{
		"eq": storage.EQ, "not": storage.NOT, "lt": storage.LT, "gt": storage.GT, "min": storage.MIN,
		"max": storage.MAX, "in": storage.IN, "exclude": storage.EXCLUDE, "like": storage.LIKE,
		"has": storage.HAS, "contains": storage.CONTAINS, "contains_any": storage.CONTAINS_ANY,
	}
)

const toAlert = `{"code":"soft-eol","message":"_to is now deprecated, you should use _before instead","url":"https://kinto.readthedocs.io/en/stable/api/1.x/filtering.html"}`

// parseQuery parses the raw querystring, reporting bad escapes as a 400, and so a name or
// value holding invalid UTF-8 or the NUL character once unescaped (which no backend stores
// and PostgreSQL cannot even compare with). An empty querystring gives a nil map: the
// handlers only read it.
func parseQuery(raw string) (url.Values, error) {
	if raw == "" {
		return nil, nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, protocol.InvalidParam("querystring", "", "Invalid querystring: "+err.Error())
	}
	for name, values := range q {
		if err := jsoncheck.String(name); err != nil {
			return nil, protocol.InvalidParam("querystring", strings.ToValidUTF8(name, "\ufffd"), "Invalid parameter name: "+err.Error())
		}
		for _, v := range values {
			if err := jsoncheck.String(v); err != nil {
				return nil, protocol.InvalidParam("querystring", name, "Invalid value for "+name+": "+err.Error())
			}
		}
	}
	return q, nil
}

// nativeValue interprets a querystring value as JSON, falling back to the raw string. A
// number float64 cannot hold exactly stays its literal (jsonnum.Value), so that
// ?n=9007199254740993 does not match 9007199254740992.
func nativeValue(s string) any {
	v, err := jsonnum.Decode([]byte(s))
	if err != nil {
		return s
	}
	return v
}

// maxTimestampAhead is how far ahead of the server's clock a timestamp given by a client may
// be: a _since, _before or _to filter, a DELETE's last_modified, a forced last_modified.
const maxTimestampAhead = 24 * time.Hour

// parseTimestamp validates an epoch-millisecond value given as an integer, a string of
// digits or a quoted string of digits: 0 <= v < now + 1 day.
func parseTimestamp(v any, now time.Time) (int64, bool) {
	var n int64
	switch x := v.(type) {
	case string:
		if !tsPattern.MatchString(x) {
			return 0, false
		}
		i, err := strconv.ParseInt(strings.Trim(x, `"`), 10, 64)
		if err != nil {
			return 0, false
		}
		n = i
	case float64:
		if x != math.Trunc(x) || x < 0 || x > math.MaxInt64/2 {
			return 0, false
		}
		n = int64(x)
	default: // a json.Number too: beyond 2^53, or more precise than float64
		return 0, false
	}
	return n, n >= 0 && n < now.Add(maxTimestampAhead).UnixMilli()
}

func hasNUL(v any) bool {
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case []any:
		for _, i := range x {
			if hasNUL(i) {
				return true
			}
		}
	case map[string]any:
		for k, i := range x {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(i) {
				return true
			}
		}
	}
	return false
}

// parseFilters turns the querystring into storage filters (protocol.md 2.3). It reports
// whether a filter touches last_modified, which makes tombstones visible.
func (rs *core) parseFilters(q url.Values, now time.Time) (filters []storage.Filter, withDeleted bool, alert string, err error) {
	for param, values := range q {
		name := strings.TrimSpace(param)
		for _, raw := range values {
			invalid := func(desc string) error {
				if desc == "" {
					desc = "Invalid value for " + name
				}
				return protocol.InvalidParam("querystring", name, desc)
			}
			switch name {
			case "_since", "_before", "_to":
				if raw == "null" {
					continue
				}
				ts, ok := parseTimestamp(raw, now)
				if !ok {
					return nil, false, "", invalid("")
				}
				op := storage.LT
				if name == "_since" {
					op = storage.GT
				}
				if name == "_to" {
					alert = toAlert
				}
				filters = append(filters, storage.Filter{Field: "last_modified", Op: op, Value: ts})
				withDeleted = true
				continue
			}
			if strings.HasPrefix(name, "_") {
				continue // _limit, _sort, _token, _fields and unknown underscore parameters
			}
			op, field := storage.EQ, name
			if m := filterPattern.FindStringSubmatch(name); m != nil {
				op, field = operatorByName[m[1]], m[2]
			}
			if strings.IndexByte(field, 0) >= 0 || strings.IndexByte(raw, 0) >= 0 {
				return nil, false, "", invalid("Invalid character 0x00")
			}
			if !rs.schema.isKnown(field) {
				return nil, false, "", invalid(fmt.Sprintf("Unknown filter field '%s'", name))
			}
			// The fields that the schema types as strings compare with strings: ?code=10
			// means "10", not the number 10. So does id, except in the lists of in_id and
			// exclude_id, whose items must be strings already (checked below).
			asString := rs.schema.isString(field)
			var value any
			switch op {
			case storage.IN, storage.EXCLUDE:
				items := []any{}
				for _, it := range strings.Split(raw, ",") {
					if it = strings.TrimSpace(it); it != "" {
						if asString {
							items = append(items, it)
						} else {
							items = append(items, nativeValue(it))
						}
					}
				}
				value = items
			case storage.CONTAINS, storage.CONTAINS_ANY:
				v := nativeValue(raw)
				if l, ok := v.([]any); ok {
					value = l
				} else {
					value = []any{v}
				}
			default:
				value = nativeValue(raw)
				if (asString || field == "id") && op != storage.HAS {
					value = raw
				}
			}
			switch {
			case op == storage.LIKE:
				s, ok := value.(string)
				if !ok {
					return nil, false, "", invalid("")
				}
				if !strings.Contains(s, "*") {
					s = "*" + s + "*"
				}
				value = s
			case op == storage.HAS:
				if _, ok := value.(bool); !ok {
					return nil, false, "", invalid(name + " should be true or false")
				}
			case (field == "id" || field == "last_modified") && (op == storage.CONTAINS || op == storage.CONTAINS_ANY):
				return nil, false, "", invalid(fmt.Sprintf("Field '%s' is not an array", field))
			case field == "id" && (op == storage.IN || op == storage.EXCLUDE):
				for _, it := range value.([]any) {
					if _, ok := it.(string); !ok {
						return nil, false, "", invalid("")
					}
				}
			case field == "last_modified":
				if op == storage.IN || op == storage.EXCLUDE {
					list := value.([]any)
					for i, it := range list {
						ts, ok := parseTimestamp(it, now)
						if !ok {
							return nil, false, "", invalid("")
						}
						list[i] = ts
					}
				} else {
					ts, ok := parseTimestamp(value, now)
					if !ok {
						return nil, false, "", invalid("")
					}
					value = ts
				}
			}
			if hasNUL(value) {
				return nil, false, "", invalid("Invalid character 0x00")
			}
			if field == "last_modified" {
				withDeleted = true
			}
			filters = append(filters, storage.Filter{Field: field, Op: op, Value: value})
		}
	}
	return filters, withDeleted, alert, nil
}

// maxSortFields caps the fields of _sort: each one is a sort key the backend builds and
// compares for every object (500 of them took PostgreSQL seconds on one large object).
const maxSortFields = 10

// parseSort reads _sort; -last_modified is appended unless last_modified is present. More
// than maxSortFields fields, over all the _sort parameters, answer 400.
func (rs *core) parseSort(q url.Values) ([]storage.Sort, error) {
	var sorts []storage.Sort
	hasModified := false
	for _, raw := range q["_sort"] {
		for _, item := range strings.Split(raw, ",") {
			m := sortPattern.FindStringSubmatch(strings.TrimSpace(item))
			if m == nil {
				continue // malformed entries are ignored
			}
			if len(sorts) == maxSortFields {
				return nil, protocol.InvalidParam("querystring", "_sort",
					fmt.Sprintf("_sort takes at most %d fields", maxSortFields))
			}
			if !rs.schema.isKnown(m[2]) {
				return nil, protocol.InvalidParam("querystring", "_sort", fmt.Sprintf("Unknown sort field '%s'", m[2]))
			}
			if m[2] == "last_modified" {
				hasModified = true
			}
			sorts = append(sorts, storage.Sort{Field: m[2], Desc: m[1] == "-"})
		}
	}
	if !hasModified {
		sorts = append(sorts, storage.Sort{Field: "last_modified", Desc: true})
	}
	return sorts, nil
}

// parseLimit reads _limit, capped by paginate_by and storage_max_fetch_size (which is also
// the limit when there is none).
func (rs *core) parseLimit(q url.Values) (int, error) {
	limit := rs.paginateBy
	if raw, ok := q["_limit"]; ok && len(raw) > 0 {
		v := raw[len(raw)-1]
		if !limitPattern.MatchString(v) {
			return 0, protocol.InvalidParam("querystring", "_limit", "_limit should be an integer between 0 and 2^63")
		}
		n, err := strconv.ParseUint(strings.TrimPrefix(v, "+"), 10, 64)
		if err != nil || n > math.MaxInt64 {
			return 0, protocol.InvalidParam("querystring", "_limit", "_limit should be an integer between 0 and 2^63")
		}
		if n > uint64(math.MaxInt32) {
			n = math.MaxInt32
		}
		limit = int(n)
		if rs.paginateBy > 0 && limit > rs.paginateBy {
			limit = rs.paginateBy
		}
	}
	if limit <= 0 || limit > rs.maxFetch {
		limit = rs.maxFetch
	}
	return limit, nil
}

// pageToken is the JSON inside a _token.
type pageToken struct {
	LastObject map[string]any `json:"last_object"`
	Offset     int            `json:"offset"`
	// Issued is when the server issued the token, in epoch milliseconds: the token expires
	// pagination_token_validity_seconds later, with no state kept on the server.
	Issued int64 `json:"issued"`
}

// tokenClockSkew is how far in the future a token's issue time may be (another server's
// clock) before the token counts as forged.
const tokenClockSkew = 5 * time.Second

// parseToken decodes _token into keyset pagination rules for sorts. A token issued more than
// validity before now (validity > 0), or claiming to be issued after now, is invalid.
func parseToken(q url.Values, sorts []storage.Sort, now time.Time, validity time.Duration) ([][]storage.Filter, int, error) {
	raw := q.Get("_token")
	if raw == "" {
		return nil, 0, nil
	}
	bad := protocol.InvalidParam("querystring", "_token", "_token has invalid content")
	var b []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err = enc.DecodeString(raw); err == nil {
			break
		}
	}
	if err != nil {
		return nil, 0, bad
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return nil, 0, bad
	}
	// The server never writes a NUL character, invalid UTF-8 or a lone surrogate in a
	// token (objects cannot hold them): a token holding one was forged, and PostgreSQL
	// could not compare with its values the way the other backends do.
	if jsoncheck.Text(b) != nil {
		return nil, 0, bad
	}
	var tok pageToken
	lo, ok1 := fields["last_object"]
	off, ok2 := fields["offset"]
	iss, ok3 := fields["issued"]
	if !ok1 || !ok2 || !ok3 || json.Unmarshal(off, &tok.Offset) != nil || json.Unmarshal(iss, &tok.Issued) != nil {
		return nil, 0, bad
	}
	// The last object's values keep their exact numbers: a page that ends inside a run of
	// equal integers beyond 2^53 must continue after the right one.
	last, err := jsonnum.Decode(lo)
	if tok.LastObject, _ = last.(map[string]any); err != nil || tok.LastObject == nil {
		return nil, 0, bad
	}
	issued := time.UnixMilli(tok.Issued)
	if issued.After(now.Add(tokenClockSkew)) || (validity > 0 && now.Sub(issued) > validity) {
		return nil, 0, bad
	}
	return paginationRules(sorts, tok.LastObject), tok.Offset, nil
}

// paginationRules builds the keyset rules that select what comes after last in sorts order:
// (s1=v1 ∧ … ∧ sk ≷ vk) ∨ … ∨ (s1 ≷ v1).
func paginationRules(sorts []storage.Sort, last map[string]any) [][]storage.Filter {
	value := func(field string) any {
		if v, ok := last[field]; ok {
			return v
		}
		return storage.Missing
	}
	var rules [][]storage.Filter
	for k := len(sorts); k > 0; k-- {
		rule := make([]storage.Filter, 0, k)
		for _, s := range sorts[:k-1] {
			rule = append(rule, storage.Filter{Field: s.Field, Op: storage.EQ, Value: value(s.Field)})
		}
		s := sorts[k-1]
		op := storage.GT
		if s.Desc {
			op = storage.LT
		}
		rules = append(rules, append(rule, storage.Filter{Field: s.Field, Op: op, Value: value(s.Field)}))
	}
	return rules
}

// encodeToken builds the _token that continues after obj, issued at now.
func encodeToken(sorts []storage.Sort, obj storage.Object, offset int, now time.Time) string {
	var data map[string]any
	if len(sorts) > 0 {
		data = decodeData(obj)
	}
	tok := pageToken{LastObject: map[string]any{}, Offset: offset, Issued: now.UnixMilli()}
	for _, s := range sorts {
		if v, ok := nestedValue(data, s.Field); ok {
			tok.LastObject[s.Field] = v
		}
	}
	b, _ := json.Marshal(tok)
	return base64.URLEncoding.EncodeToString(b)
}

// decodeData renders obj as a map with id and last_modified (and deleted on tombstones).
func decodeData(obj storage.Object) map[string]any {
	m := map[string]any{}
	if len(obj.Data) > 0 {
		d := json.NewDecoder(bytes.NewReader(obj.Data))
		d.UseNumber()
		_ = d.Decode(&m) // stored data is valid JSON
		if m == nil {
			m = map[string]any{}
		}
	}
	m["id"] = obj.ID
	m["last_modified"] = obj.LastModified
	if obj.Deleted {
		m["deleted"] = true
	}
	return m
}

// nestedValue finds a dotted field in m.
func nestedValue(m map[string]any, field string) (any, bool) {
	if v, ok := m[field]; ok {
		return v, true
	}
	root, rest, found := strings.Cut(field, ".")
	if !found {
		return nil, false
	}
	sub, ok := m[root].(map[string]any)
	if !ok {
		return nil, false
	}
	return nestedValue(sub, rest)
}

// parseFields reads _fields; id and last_modified are always kept.
func (rs *core) parseFields(q url.Values) ([]string, error) {
	raws, ok := q["_fields"]
	if !ok {
		return nil, nil
	}
	var fields []string
	var unknown []string
	for _, raw := range raws {
		for _, f := range strings.Split(raw, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			if !rs.schema.isKnown(f) {
				root, _, _ := strings.Cut(f, ".")
				unknown = append(unknown, root)
			}
			fields = append(fields, f)
		}
	}
	if len(unknown) > 0 {
		return nil, protocol.InvalidParam("querystring", "_fields", fmt.Sprintf("Fields %s do not exist", strings.Join(unknown, ",")))
	}
	if len(fields) == 0 {
		return nil, nil
	}
	return append(fields, "id", "last_modified"), nil
}

// project keeps only fields of m; "a.b" keeps the b key of object a (a non-object a is kept whole).
func project(m map[string]any, fields []string) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		root, rest, nested := strings.Cut(f, ".")
		v, ok := m[root]
		if !ok {
			continue
		}
		if !nested {
			out[root] = v
			continue
		}
		sub, isObj := v.(map[string]any)
		if !isObj {
			out[root] = v
			continue
		}
		p := project(sub, []string{rest})
		if prev, ok := out[root].(map[string]any); ok {
			for k, x := range p {
				prev[k] = x
			}
		} else if _, had := out[root]; !had {
			out[root] = p
		}
	}
	return out
}
