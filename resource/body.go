package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/cliquet-go/cliquet/protocol"
)

// body is a parsed request body: the {data, permissions} envelope, or a JSON Patch.
type body struct {
	kind     bodyKind
	empty    bool
	data     map[string]any // nil when the envelope has no data
	hasPerms bool
	patch    jsonpatch.Patch // bodyJSONPatch only
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

// readBody reads and checks the body of a POST, PUT or PATCH.
func readBody(r *http.Request) (*body, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
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
	env, ok := doc.(map[string]any)
	if !ok {
		return nil, protocol.InvalidParam("body", "", "The body should be a JSON object")
	}
	var details []protocol.Detail
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
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
			// Private resources have no per-object permissions (protocol.md 2, UserResource).
			b.hasPerms = true
			details = append(details, protocol.Detail{Location: "body", Name: "permissions",
				Description: "permissions is not allowed on this resource"})
		default:
			details = append(details, protocol.Detail{Location: "body", Name: k, Description: k + " is not allowed"})
		}
	}
	if len(details) > 0 {
		return nil, protocol.InvalidParameters(details...)
	}
	return b, nil
}
