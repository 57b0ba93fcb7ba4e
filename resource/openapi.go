package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/cliquet-go/cliquet/openapi"
	"github.com/cliquet-go/cliquet/protocol"
)

// apiDescription documents a registered resource in its app's OpenAPI document
// (GET /v1/__api__): the enabled methods of its plural and object URLs, their parameters,
// bodies and responses, with the resource's JSON Schema for the data. Register adds one
// to the app with [cliquet.App.AddAPIDescriber].
type apiDescription struct {
	name, pluralPath, objectPath string
	data                         any // the data schema; nil when schemaless
	plural, object               []string
	shareable                    bool
	id                           map[string]any // the schema of the {id} path parameter
	feed                         bool           // GET on the plural URL serves change feeds
}

// newAPIDescription builds the description of rs; schemaDoc is the JSON Schema given in the
// spec or derived from T (nil: schemaless); plural and object are the enabled methods.
func newAPIDescription(rs *core, schemaDoc []byte, plural, object []string) (*apiDescription, error) {
	d := &apiDescription{
		name: rs.name, pluralPath: rs.pluralPath, objectPath: rs.objectPath,
		plural: plural, object: object, shareable: rs.share != nil,
		id: map[string]any{"type": "string"}, feed: rs.changes.hub != nil,
	}
	switch rs.ids.(type) {
	case UUIDGenerator:
		d.id = map[string]any{"type": "string", "format": "uuid", "pattern": uuidPattern.String()}
	case NameGenerator:
		d.id = map[string]any{"type": "string", "pattern": namePattern.String()}
	}
	if schemaDoc != nil {
		dec := json.NewDecoder(bytes.NewReader(schemaDoc))
		dec.UseNumber()
		var s any
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("resource %s: schema: %w", rs.name, err)
		}
		if m, ok := s.(map[string]any); ok {
			if _, has := m["$id"]; !has && hasLocalRef(m) {
				// Its "#/..." references are relative to the schema itself, not to the
				// OpenAPI document it is embedded in: give it its own base URI.
				m["$id"] = "urn:cliquet:schema:" + rs.name
			}
		}
		d.data = s
	}
	return d, nil
}

// hasLocalRef reports whether a schema holds a "$ref" to a fragment ("#/$defs/...").
func hasLocalRef(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if s, ok := c.(string); ok && k == "$ref" && strings.HasPrefix(s, "#") {
				return true
			}
			if hasLocalRef(c) {
				return true
			}
		}
	case []any:
		for _, c := range x {
			if hasLocalRef(c) {
				return true
			}
		}
	}
	return false
}

// DescribeAPI implements [openapi.Describer].
func (d *apiDescription) DescribeAPI(doc *openapi.Doc) error {
	data := d.data
	if data == nil {
		data = map[string]any{"type": "object", "description": "Any JSON object (schemaless resource)."}
	}
	dataRef, err := doc.AddSchema(d.name, data)
	if err != nil {
		return err
	}
	meta := map[string]any{
		"type":     "object",
		"required": []string{"id", "last_modified"},
		"properties": map[string]any{
			"id":            d.id,
			"last_modified": map[string]any{"type": "integer", "description": "Timestamp of the last change, in milliseconds."},
		},
	}
	object := map[string]any{"allOf": []any{dataRef, meta}}
	if m, ok := data.(map[string]any); ok && m["additionalProperties"] == false {
		// The data schema rejects id and last_modified: describe the stored fields by name.
		meta["description"] = "The fields of schema " + d.name + ", with id and last_modified."
		object = meta
	}
	objectRef, err := doc.AddSchema(d.name+".object", object)
	if err != nil {
		return err
	}
	tombRef, err := doc.AddSchema("Tombstone", map[string]any{
		"type":     "object",
		"required": []string{"id", "last_modified", "deleted"},
		"properties": map[string]any{
			"id":            map[string]any{"type": "string"},
			"last_modified": map[string]any{"type": "integer"},
			"deleted":       map[string]any{"const": true},
		},
	})
	if err != nil {
		return err
	}

	// The items of a list are not always whole objects: a _since (or _before) list holds
	// tombstones, and _fields keeps only some fields. They are described as anyOf the whole
	// object, a tombstone and a partial object (id and last_modified required, the other
	// fields typed but optional), three named schemas that a generated client maps to a
	// union of named types. It is anyOf, not oneOf, because the shapes overlap (a whole
	// object is also a partial one), so that oneOf would reject every live object.
	partialRef, err := doc.AddSchema(d.name+".partial", map[string]any{
		"type":        "object",
		"description": "Some fields of a " + d.name + " (_fields): id, last_modified and the fields asked for.",
		"required":    []string{"id", "last_modified"},
		"properties":  d.optionalProperties(map[string]any{"id": d.id, "last_modified": meta["properties"].(map[string]any)["last_modified"]}),
	})
	if err != nil {
		return err
	}
	listItem := map[string]any{"anyOf": []any{objectRef, tombRef, partialRef},
		"description": "A " + d.name + "; a tombstone when deleted (_since, _before); only some fields with _fields."}

	envelope := func(dataSchema any) map[string]any {
		props := map[string]any{"data": dataSchema}
		if d.shareable {
			props["permissions"] = openapi.SchemaRef("Permissions")
		}
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	}
	one := func() map[string]any {
		props := map[string]any{"data": objectRef}
		if d.shareable {
			props["permissions"] = openapi.SchemaRef("Permissions")
		}
		return map[string]any{"type": "object", "required": []string{"data"}, "properties": props}
	}
	read := func() map[string]any { // GET on the object URL, where _fields applies
		r := one()
		r["properties"].(map[string]any)["data"] = map[string]any{"anyOf": []any{objectRef, partialRef},
			"description": "The " + d.name + "; only some fields with _fields."}
		return r
	}
	list := func(items any) map[string]any {
		return map[string]any{"type": "object", "required": []string{"data"},
			"properties": map[string]any{"data": map[string]any{"type": "array", "items": items}}}
	}
	// PATCH bodies, as patchObject reads them: application/json merges the fields of data
	// into the object (each typed as in the object, none required); a merge patch
	// (RFC 7396) also takes null to remove a field, and partial nested objects; a JSON
	// Patch (RFC 6902) is a list of operations on /data/<field> (and, on shareable
	// resources, /permissions/<perm>/<principal>, whose value defaults to the principal).
	patchData := map[string]any{"type": "object", "properties": d.optionalProperties(map[string]any{}),
		"description": "The fields of " + d.name + " to change (merged into the object); none is required."}
	mergeProps := map[string]any{}
	for k, v := range d.optionalProperties(map[string]any{}) {
		if m, ok := v.(map[string]any); ok && (m["type"] == "object" || slices.Contains(anyStrings(m["type"]), "object")) {
			mergeProps[k] = map[string]any{"type": []string{"object", "null"}, "description": "Merged into the field (RFC 7396); null removes it."}
			continue
		}
		mergeProps[k] = map[string]any{"anyOf": []any{v, map[string]any{"type": "null"}}}
	}
	mergeData := map[string]any{"type": "object", "properties": mergeProps,
		"description": "A JSON Merge Patch (RFC 7396) of the fields of " + d.name + ": null removes a field."}
	nullablePerms := map[string]any{"type": "object",
		"description":          "Permissions to replace: permission name → principals; null empties one.",
		"additionalProperties": map[string]any{"type": []string{"array", "null"}, "items": map[string]any{"type": "string"}}}
	jsonPatch := map[string]any{"type": "array", "items": map[string]any{
		"type":     "object",
		"required": []string{"op", "path"},
		"properties": map[string]any{
			"op":    map[string]any{"enum": []string{"add", "remove", "replace", "move", "copy", "test"}},
			"path":  map[string]any{"type": "string", "description": "/data/<field> or, on shareable resources, /permissions/<perm>/<principal>"},
			"from":  map[string]any{"type": "string", "description": "The source of move and copy."},
			"value": map[string]any{"description": "The value of add, replace and test (optional on /permissions/... paths: the principal)."},
		},
		"allOf": []any{
			map[string]any{"if": map[string]any{"properties": map[string]any{"op": map[string]any{"enum": []string{"move", "copy"}}}},
				"then": map[string]any{"required": []string{"from"}}},
			map[string]any{"if": map[string]any{"properties": map[string]any{
				"op":   map[string]any{"enum": []string{"add", "replace", "test"}},
				"path": map[string]any{"not": map[string]any{"pattern": "^/permissions/[^/]+/."}}}},
				"then": map[string]any{"required": []string{"value"}}},
		},
	}}

	mergeEnvelope := envelope(mergeData)
	if d.shareable {
		mergeEnvelope["properties"].(map[string]any)["permissions"] = nullablePerms
	}
	patched := one() // Response-Behavior light or diff: only the fields changed
	patched["properties"].(map[string]any)["data"] = map[string]any{"anyOf": []any{objectRef, patchData},
		"description": "The " + d.name + " (Response-Behavior: full); the fields sent or changed (light, diff)."}
	tags := []string{d.name}
	anonymous := d.shareable // global grants may open a shareable resource to everyone
	ifMatch := openapi.Parameter{Name: protocol.HeaderIfMatch, In: "header",
		Description: `Only if the current ETag is one of these ("*": if it exists); 412 otherwise.`}
	ifNoneMatch := openapi.Parameter{Name: protocol.HeaderIfNoneMatch, In: "header",
		Description: `Only if the current ETag is none of these ("*": if it does not exist); 304 (reads) or 412 (writes) otherwise.`}
	fields := openapi.Parameter{Name: "_fields", In: "query", Description: "Comma-separated fields to return (dotted for nested fields); id and last_modified are always returned. " +
		"The objects returned are then partial (schema " + d.name + ".partial): no other field is required."}
	explode := true
	filterParams := []openapi.Parameter{
		{Name: "_since", In: "query", Description: "Objects (and tombstones) modified after this timestamp; the quoted ETag form is accepted. 410 errno 203 when tombstones after it were purged (synchronise again without _since).", Schema: map[string]any{"type": "string", "pattern": `^([0-9]+|"[0-9]+")$`}},
		{Name: "_before", In: "query", Description: "Objects (and tombstones) modified before this timestamp.", Schema: map[string]any{"type": "string", "pattern": `^([0-9]+|"[0-9]+")$`}},
		{Name: "filters", In: "query", Style: "form", Explode: &explode,
			Description: "Filters on fields, one parameter each: <field>=<value> (equality), or <op>_<field>=<value> " +
				"with op one of not, lt, gt, min, max, in, exclude (comma-separated lists), like (* wildcards), has " +
				"(true/false), contains, contains_any (JSON arrays). Values are JSON when they parse as JSON (numbers, " +
				"true, false, null), strings otherwise. Dotted names filter nested fields." + d.knownFields(),
			Schema: map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}},
	}
	listParams := append([]openapi.Parameter{
		{Name: "_limit", In: "query", Description: "Page size (capped by paginate_by and storage_max_fetch_size).", Schema: map[string]any{"type": "integer", "minimum": 0}},
		{Name: "_sort", In: "query", Description: "Comma-separated fields, - for descending order; default -last_modified."},
		{Name: "_token", In: "query", Description: "Pagination token, as found in the Next-Page URL."},
	}, filterParams...)
	withHeaders := func(p []openapi.Parameter, h ...openapi.Parameter) []openapi.Parameter {
		return append(append([]openapi.Parameter(nil), p...), h...)
	}
	bodyTypes := []string{protocol.MediaJSON}
	id := openapi.Parameter{Name: "id", In: "path", Description: "The object id.", Schema: d.id}
	what := d.name + " objects"
	if d.shareable {
		what = "shared " + what
	} else {
		what = "the user's " + what
	}

	var ops []struct {
		method, path string
		op           openapi.Operation
	}
	add := func(method, path string, op openapi.Operation) {
		kind := "plural"
		if path == d.objectPath {
			kind = "object"
			op.Parameters = append([]openapi.Parameter{id}, op.Parameters...)
		}
		op.OperationID = strings.ToLower(method) + "_" + d.name + "_" + kind
		op.Tags, op.Anonymous = tags, anonymous
		ops = append(ops, struct {
			method, path string
			op           openapi.Operation
		}{method, path, op})
	}
	for _, m := range d.plural {
		switch m {
		case http.MethodGet:
			listing := openapi.Operation{
				Summary:    "List " + what + ", filtered, sorted and paginated.",
				Parameters: withHeaders(listParams, fields, ifMatch, ifNoneMatch),
				Responses: map[int]openapi.Response{
					200: {Schema: list(listItem), Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified, protocol.HeaderNextPage}},
					304: {Description: "Not modified (If-None-Match).", Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}},
				},
				Errors: []int{400, 401, 403, 406, 410, 412},
			}
			if d.feed {
				if err := d.describeFeed(doc, &listing, listItem); err != nil {
					return err
				}
			}
			add(http.MethodGet, d.pluralPath, listing)
			add(http.MethodHead, d.pluralPath, openapi.Operation{
				Summary:    "Count " + what + " (Total-Objects) without listing them.",
				Parameters: withHeaders(filterParams, ifMatch, ifNoneMatch),
				Responses: map[int]openapi.Response{
					200: {Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified, protocol.HeaderTotalObjects, protocol.HeaderTotalRecords}},
					304: {Description: "Not modified (If-None-Match).", Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}},
				},
				Errors: []int{400, 401, 403, 406, 410, 412},
			})
		case http.MethodPost:
			add(http.MethodPost, d.pluralPath, openapi.Operation{
				Summary:     "Create a " + d.name + "; an id given in data makes the creation idempotent.",
				Parameters:  []openapi.Parameter{ifMatch, ifNoneMatch},
				RequestBody: envelope(dataRef), RequestMediaTypes: bodyTypes,
				Responses: map[int]openapi.Response{
					201: {Description: "Created.", Schema: one(), Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}},
					200: {Description: "An object with this id exists: it is returned unchanged.", Schema: one(), Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}},
				},
				Errors: []int{400, 401, 403, 406, 409, 412, 413, 415},
			})
		case http.MethodDelete:
			add(http.MethodDelete, d.pluralPath, openapi.Operation{
				Summary:    "Delete " + what + " matching the filters (a page at a time).",
				Parameters: withHeaders(listParams, ifMatch),
				Responses: map[int]openapi.Response{
					200: {Description: "The tombstones of the deleted objects.", Schema: list(tombRef),
						Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified, protocol.HeaderNextPage}},
				},
				Errors: []int{400, 401, 403, 406, 412},
			})
		}
	}
	for _, m := range d.object {
		switch m {
		case http.MethodGet:
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				ok := openapi.Response{Schema: read(), Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}}
				if method == http.MethodHead {
					ok.Schema = nil
				}
				add(method, d.objectPath, openapi.Operation{
					Summary:    "Read a " + d.name + ".",
					Parameters: []openapi.Parameter{fields, ifMatch, ifNoneMatch},
					Responses: map[int]openapi.Response{200: ok,
						304: {Description: "Not modified (If-None-Match).", Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}}},
					Errors: []int{400, 401, 403, 404, 406, 412},
				})
			}
		case http.MethodPut:
			add(http.MethodPut, d.objectPath, openapi.Operation{
				Summary:     "Create or replace a " + d.name + ".",
				Parameters:  []openapi.Parameter{ifMatch, ifNoneMatch},
				RequestBody: envelope(dataRef), RequestMediaTypes: bodyTypes,
				Responses: map[int]openapi.Response{
					200: {Description: "Replaced.", Schema: one(), Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}},
					201: {Description: "Created.", Schema: one(), Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}},
				},
				Errors: []int{400, 401, 403, 406, 409, 412, 413, 415},
			})
		case http.MethodPatch:
			add(http.MethodPatch, d.objectPath, openapi.Operation{
				Summary: "Modify a " + d.name + " (merge, JSON Merge Patch or JSON Patch).",
				Parameters: []openapi.Parameter{ifMatch, ifNoneMatch, {Name: protocol.HeaderResponseBehavior, In: "header",
					Description: "full (default): the whole object; light: the fields sent; diff: the fields that changed.",
					Schema:      map[string]any{"type": "string", "enum": []string{"full", "light", "diff"}}}},
				RequestBody:       envelope(patchData),
				RequestMediaTypes: []string{protocol.MediaJSON, protocol.MediaMergePatch, protocol.MediaJSONPatch},
				RequestSchemas:    map[string]any{protocol.MediaMergePatch: mergeEnvelope, protocol.MediaJSONPatch: jsonPatch},
				Responses: map[int]openapi.Response{
					200: {Schema: patched, Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}},
				},
				Errors: []int{400, 401, 403, 404, 406, 409, 412, 413, 415},
			})
		case http.MethodDelete:
			add(http.MethodDelete, d.objectPath, openapi.Operation{
				Summary:    "Delete a " + d.name + ", leaving a tombstone.",
				Parameters: []openapi.Parameter{ifMatch},
				Responses: map[int]openapi.Response{
					200: {Schema: map[string]any{"type": "object", "required": []string{"data"}, "properties": map[string]any{"data": tombRef}},
						Headers: []string{protocol.HeaderETag, protocol.HeaderLastModified}},
				},
				Errors: []int{400, 401, 403, 404, 406, 412},
			})
		}
	}
	for _, o := range ops {
		if err := doc.AddOperation(o.method, o.path, o.op); err != nil {
			return fmt.Errorf("resource %s: %w", d.name, err)
		}
	}
	return nil
}

// knownFields lists the filterable fields of a resource with a schema.
func (d *apiDescription) knownFields() string {
	m, ok := d.data.(map[string]any)
	if !ok {
		return ""
	}
	props, ok := m["properties"].(map[string]any)
	if !ok || len(props) == 0 {
		return ""
	}
	names := []string{"id", "last_modified"}
	for k := range props {
		names = append(names, k)
	}
	slices.Sort(names[2:])
	return " Known fields: " + strings.Join(names, ", ") + "."
}

// optionalProperties returns props with the top-level properties of the data schema added,
// none of them required. A property holding a local reference ("#/$defs/...", relative to
// the data schema) is left unconstrained, since the reference would not resolve elsewhere.
func (d *apiDescription) optionalProperties(props map[string]any) map[string]any {
	m, _ := d.data.(map[string]any)
	dp, _ := m["properties"].(map[string]any)
	for k, v := range dp {
		if _, taken := props[k]; taken {
			continue
		}
		if hasLocalRef(v) {
			v = map[string]any{}
		}
		props[k] = v
	}
	return props
}

// anyStrings returns v as a list of strings when it is one ("type": ["object", "null"]).
func anyStrings(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// describeFeed adds the change feed to the list operation op: the text/event-stream body
// of its 200, whose events' data are of the schema <name>.change, the Last-Event-ID
// header and the 429 of the per-user limit.
func (d *apiDescription) describeFeed(doc *openapi.Doc, op *openapi.Operation, item any) error {
	change, err := doc.AddSchema(d.name+".change", map[string]any{
		"type":        "object",
		"description": "The data of one event of a change feed (text/event-stream); the event id is the object's last_modified.",
		"required":    []string{"action", "data"},
		"properties": map[string]any{
			"action": map[string]any{"enum": []string{"create", "update", "delete"},
				"description": "What the write that gave the object this version did; update for a replayed live object."},
			"data": item,
		},
	})
	if err != nil {
		return err
	}
	op.Summary += " With Accept: text/event-stream, a change feed instead (Server-Sent Events): the changes after " +
		"Last-Event-ID (or _since), then each change as it is committed; _sort, _limit and _token are refused."
	op.Description = "Change feed events: `id: <last_modified>`, `data: <JSON of schema " + d.name + ".change>`; " +
		"the stream ends with `event: error` whose data is the JSON error body (429 errno 117: reconnect with " +
		"Last-Event-ID; 503 errno 201: retry, as the event's retry field says; 401, 403, 404: access lost)."
	op.Parameters = append(op.Parameters, openapi.Parameter{Name: "Last-Event-ID", In: "header",
		Description: "Change feed only: replay the changes after this timestamp (the id of the last event received) before the live ones.",
		Schema:      map[string]any{"type": "string", "pattern": `^([0-9]+|"[0-9]+")$`}})
	ok := op.Responses[200]
	ok.MediaTypes = map[string]any{"text/event-stream": map[string]any{"type": "string",
		"description": "Server-Sent Events; each event's data is a " + d.name + ".change: " + change["$ref"].(string)}}
	op.Responses[200] = ok
	op.Errors = append(op.Errors, 429)
	return nil
}
