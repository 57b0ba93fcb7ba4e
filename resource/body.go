package resource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/cliquet-go/cliquet/internal/jsoncheck"
	"github.com/cliquet-go/cliquet/protocol"
)

// body is a parsed request body: the {data, permissions} envelope, or a JSON Patch.
type body struct {
	kind     bodyKind
	empty    bool
	data     map[string]any // nil when the envelope has no data
	order    *keyOrder      // the key order of data, as the client wrote it
	hasPerms bool
	perms    map[string][]string // permissions field: nil value for a JSON null
	patch    jsonpatch.Patch     // bodyJSONPatch only
}

// decodeJSON decodes b keeping numbers as json.Number, rejecting trailing data.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("invalid character after top-level value")
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("invalid character after top-level value")
	}
	return nil
}

// sizedReadLimit bounds the buffer readAll sizes from a request's Content-Length.
const sizedReadLimit = 64 << 10

// readAll reads r's body. A body that declares its length (up to sizedReadLimit) is read
// into a buffer of that size, where io.ReadAll would start at 512 bytes and grow; bytes
// beyond the declared length, which net/http never delivers but a hand-made request might,
// are still read.
func readAll(r *http.Request) ([]byte, error) {
	n := r.ContentLength
	if n <= 0 || n > sizedReadLimit {
		return io.ReadAll(r.Body)
	}
	buf := make([]byte, n, n+1) // the spare byte probes for more
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return nil, err
	}
	switch m, err := r.Body.Read(buf[n : n+1]); {
	case m > 0:
		rest, err := io.ReadAll(r.Body)
		return append(buf[:n+1], rest...), err
	case err != nil && err != io.EOF:
		return nil, err
	}
	return buf, nil
}

// maxPatchOps caps the operations of a JSON Patch: the patch library scans the keys of an
// object on every add or remove, so that the work of a patch grows with its operations
// times the object's keys (160,000 adds in a 7 MB body took 47 s).
const maxPatchOps = 1000

// readBody reads and checks the body of a POST, PUT or PATCH. perms lists the permission
// names a permissions field may hold; nil means the resource takes none (private).
// maxPrincipals bounds the distinct principals of one permission (0: no bound).
func readBody(r *http.Request, perms []string, maxPrincipals int) (*body, error) {
	raw, err := readAll(r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, err // protocol.FromError: 413 errno 113
		}
		return nil, protocol.InvalidParam("body", "", "Could not read the request body: "+err.Error())
	}
	trimmed := bytes.TrimSpace(raw)
	kind, err := contentKind(r.Header, r.Method, len(trimmed) == 0)
	if err != nil {
		return nil, err
	}
	b := &body{kind: kind, empty: len(trimmed) == 0}
	if b.empty {
		return b, nil
	}
	if kind == bodyJSONPatch {
		var ops []any
		if err := decodeJSON(trimmed, &ops); err != nil {
			return nil, protocol.InvalidParam("body", "", "Invalid JSON Patch: "+err.Error())
		}
		if err := jsoncheck.Text(trimmed); err != nil {
			return nil, protocol.InvalidParam("body", "", err.Error())
		}
		if len(ops) > maxPatchOps {
			return nil, protocol.InvalidParam("body", "", fmt.Sprintf(
				"Invalid JSON Patch: %d operations, more than %d", len(ops), maxPatchOps))
		}
		if perms != nil {
			trimmed = withPrincipalValues(ops, trimmed)
		}
		p, err := jsonpatch.DecodePatch(trimmed)
		if err != nil {
			return nil, protocol.InvalidParam("body", "", "Invalid JSON Patch: "+err.Error())
		}
		b.patch = p
		return b, nil
	}
	var doc any
	if err := decodeJSON(trimmed, &doc); err != nil {
		return nil, protocol.InvalidParam("body", "", "Invalid JSON: "+err.Error())
	}
	// What the decoder accepts but would store differently, or not at all, depending on the
	// backend: invalid UTF-8, lone surrogates, NUL characters, numbers out of float64 range.
	if err := jsoncheck.Text(trimmed); err != nil {
		return nil, protocol.InvalidParam("body", "", err.Error())
	}
	env, ok := doc.(map[string]any)
	if !ok {
		return nil, protocol.InvalidParam("body", "", "The body should be a JSON object")
	}
	var details []protocol.Detail
	var stack [4]string // "data" and "permissions", and room for mistakes
	keys := stack[:0]
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch k {
		case "data":
			m, ok := env[k].(map[string]any)
			if !ok {
				details = append(details, protocol.Detail{Location: "body", Name: "data", Description: "data should be an object"})
				continue
			}
			b.data = m
		case "permissions":
			if perms == nil {
				// Private resources have no per-object permissions (protocol.md 2, UserResource).
				details = append(details, protocol.Detail{Location: "body", Name: "permissions",
					Description: "permissions is not allowed on this resource"})
				continue
			}
			p, ds := parsePermissions(env[k], perms, true, maxPrincipals)
			details = append(details, ds...)
			b.hasPerms, b.perms = true, p
		default:
			details = append(details, protocol.Detail{Location: "body", Name: k, Description: k + " is not allowed"})
		}
	}
	if len(details) > 0 {
		return nil, protocol.InvalidParameters(details...)
	}
	if len(b.data) > 0 {
		b.order = orderOf(trimmed).child("data")
	}
	return b, nil
}

// parsePermissions checks a permissions object: its keys must be among names, its values
// lists of strings (or null when nullable) of at most maxPrincipals distinct principals
// (0: no bound). A null value is kept as a nil list; duplicates are dropped, the first
// occurrence kept, in time linear in the list's length.
func parsePermissions(v any, names []string, nullable bool, maxPrincipals int) (map[string][]string, []protocol.Detail) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, []protocol.Detail{{Location: "body", Name: "permissions", Description: "permissions should be an object"}}
	}
	out := make(map[string][]string, len(m))
	var details []protocol.Detail
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(names, k) {
			details = append(details, protocol.Detail{Location: "body", Name: "permissions." + k,
				Description: fmt.Sprintf("%s is not one of the permissions %v", k, names)})
			continue
		}
		if m[k] == nil && nullable {
			out[k] = nil
			continue
		}
		list, ok := m[k].([]any)
		principals := make([]string, 0, len(list))
		seen := make(map[string]struct{}, len(list))
		for _, p := range list {
			s, isStr := p.(string)
			if !isStr || s == "" {
				ok = false
				break
			}
			if _, dup := seen[s]; !dup {
				seen[s] = struct{}{}
				principals = append(principals, s)
			}
		}
		if !ok {
			details = append(details, protocol.Detail{Location: "body", Name: "permissions." + k,
				Description: k + " should be a list of principals (non-empty strings)"})
			continue
		}
		if d, over := tooManyPrincipals(k, len(principals), maxPrincipals); over {
			details = append(details, d)
			continue
		}
		out[k] = principals
	}
	return out, details
}

// tooManyPrincipals is the detail refusing n distinct principals in the permission name,
// when n is over max (0: no bound).
func tooManyPrincipals(name string, n, limit int) (protocol.Detail, bool) {
	if limit <= 0 || n <= limit {
		return protocol.Detail{}, false
	}
	return protocol.Detail{Location: "body", Name: "permissions." + name, Description: fmt.Sprintf(
		"%s lists %d principals, more than max_principals_per_permission (%d)", name, n, limit)}, true
}

// withPrincipalValues gives the ops on /permissions/<perm>/<principal>, whose value is
// optional, the principal as value (kinto.core), and returns the re-encoded patch. A
// principal holding unescaped slashes, as kinto-http sends group URIs
// ("/permissions/write//buckets/b/groups/g"), is the whole rest of the path: the path is
// re-escaped so that it names one principal.
func withPrincipalValues(ops []any, raw []byte) []byte {
	changed := false
	for _, o := range ops {
		op, ok := o.(map[string]any)
		if !ok {
			continue
		}
		path, _ := op["path"].(string)
		parts := strings.SplitN(path, "/", 4)
		if len(parts) != 4 || parts[0] != "" || parts[1] != "permissions" {
			continue
		}
		if strings.Contains(parts[3], "/") {
			principal := strings.NewReplacer("~1", "/", "~0", "~").Replace(parts[3])
			op["path"] = "/permissions/" + parts[2] + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(principal)
			changed = true
		}
		if _, has := op["value"]; has {
			continue
		}
		op["value"] = strings.NewReplacer("~1", "/", "~0", "~").Replace(parts[3])
		changed = true
	}
	if !changed {
		return raw
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return raw
	}
	return b
}
