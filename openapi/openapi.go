// Package openapi builds the OpenAPI 3.1 document of a cliquet application (served at
// GET /v1/__api__): resources and custom views describe their operations on a [Doc] through
// a [Describer]; the document adds the protocol's shared parts (the error responses and
// their errno table, the protocol headers, the security schemes of the authentication
// policies).
package openapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/cliquet-go/cliquet/protocol"
)

// Version is the version of the OpenAPI Specification the document follows. OpenAPI
// 3.1 Schema Objects are JSON Schema 2020-12, so resource schemas are embedded unchanged.
const Version = "3.1.0"

// Describer contributes operations and schemas to the OpenAPI document of an application
// (GET /v1/__api__). resource.Register adds one per resource; custom views add theirs with
// cliquet's App.AddAPIDescriber or App.DescribeRoute. DescribeAPI is called each time the
// document is built (once, then again after describers are added); it must be safe for
// concurrent use and return the same description each time.
type Describer interface {
	DescribeAPI(doc *Doc) error
}

// DescriberFunc adapts a function to [Describer].
type DescriberFunc func(doc *Doc) error

// DescribeAPI calls f(doc).
func (f DescriberFunc) DescribeAPI(doc *Doc) error { return f(doc) }

// Securer is an optional interface of an authentication policy (authn.Authenticator): the OpenAPI Security Scheme
// Object describing its credentials, for example {"type": "http", "scheme": "bearer"}.
// Policies without it are described as an Authorization header of an unspecified scheme,
// except authn.BasicAuth, which is {"type": "http", "scheme": "basic"}.
type Securer interface {
	OpenAPISecurity() map[string]any
}

// Operation describes one method of one route for [Doc.AddOperation].
type Operation struct {
	// OperationID is the unique id of the operation; empty means "<method>_<path>" with
	// the path's non-alphanumeric characters replaced by underscores.
	OperationID string
	// Summary and Description are free text (Description may use CommonMark).
	Summary, Description string
	// Tags group operations (resource.Register uses the resource name).
	Tags []string
	// Parameters are the query and header parameters. Path parameters are declared
	// automatically from the route's {name} segments (with the pattern of a chi
	// {name:regexp} segment); list one here to give it a description or a schema.
	Parameters []Parameter
	// RequestBody is the JSON Schema of the request body; nil means the operation takes
	// no body.
	RequestBody any
	// RequestMediaTypes are the media types of the body, each with the schema
	// RequestBody unless mapped in RequestSchemas; nil means application/json.
	RequestMediaTypes []string
	// RequestSchemas overrides RequestBody for some media types (JSON Patch takes an array).
	RequestSchemas map[string]any
	// Responses maps status codes to successful (or expected) responses; empty means
	// {200: OK}.
	Responses map[int]Response
	// Errors are the error statuses the operation documents; each refers to the shared
	// error response of that status (the JSON error body and its errnos). Every operation
	// also gets a "default" response with the error body, for 5xx and 410.
	Errors []int
	// Anonymous reports that the operation may be called without credentials; otherwise
	// it requires one of the authentication policies' security schemes.
	Anonymous bool
}

// Parameter is one operation parameter.
type Parameter struct {
	// Name is the parameter name; In is "query", "header" or "path".
	Name, In string
	// Description is free text.
	Description string
	// Required is forced to true for path parameters.
	Required bool
	// Schema is the JSON Schema of the value; nil means {"type": "string"}.
	Schema any
	// Style and Explode are OpenAPI serialisation options; "" and nil mean the defaults.
	Style   string
	Explode *bool
}

// Response is one documented response of an operation.
type Response struct {
	// Description is free text; empty means the status text.
	Description string
	// Schema is the JSON Schema of the JSON body; nil means no body.
	Schema any
	// Headers are the names of the response headers; the protocol's headers (ETag,
	// Last-Modified, Next-Page, Total-Objects, Total-Records, Alert, Backoff,
	// Retry-After) refer to shared descriptions, others are described as strings.
	Headers []string
	// MediaTypes are other media types of the body, each with its schema (the
	// text/event-stream of a change feed), beside application/json when Schema is set.
	MediaTypes map[string]any
}

// Doc is the OpenAPI document being built, as handed to [Describer]s. Its methods
// are not safe for concurrent use (describers are called one after the other).
type Doc struct {
	paths   map[string]map[string]any // OpenAPI path → method → operation
	schemas map[string]any
	opIDs   map[string]string // operation id → "METHOD path"
}

// AddOperation documents method on path. path is a route pattern under the version prefix
// ("/scores/{game}"), as given to the router. It fails on an unknown method, a pattern
// with a wildcard, a method already documented on the same path, or a duplicate
// operation id.
func (d *Doc) AddOperation(method, path string, op Operation) error {
	m := strings.ToLower(method)
	switch m {
	case "get", "put", "post", "delete", "options", "head", "patch", "trace":
	default:
		return fmt.Errorf("cliquet: openapi: unknown method %q on %s", method, path)
	}
	template, pathParams, err := openAPIPath(path)
	if err != nil {
		return err
	}
	item := d.paths[template]
	if item == nil {
		item = map[string]any{}
		d.paths[template] = item
	}
	if _, dup := item[m]; dup {
		return fmt.Errorf("cliquet: openapi: %s %s is described twice", strings.ToUpper(m), path)
	}
	id := op.OperationID
	if id == "" {
		id = m + "_" + strings.Trim(nonIdent.ReplaceAllString(template, "_"), "_")
		if strings.HasSuffix(id, "_") {
			id += "root"
		}
	}
	if prev, dup := d.opIDs[id]; dup {
		return fmt.Errorf("cliquet: openapi: operation id %q of %s %s is already used by %s", id, strings.ToUpper(m), path, prev)
	}
	d.opIDs[id] = strings.ToUpper(m) + " " + template

	o := map[string]any{"operationId": id}
	if op.Summary != "" {
		o["summary"] = op.Summary
	}
	if op.Description != "" {
		o["description"] = op.Description
	}
	if len(op.Tags) > 0 {
		o["tags"] = op.Tags
	}
	var params []any
	declared := map[string]bool{}
	for _, p := range op.Parameters {
		if p.Name == "" || (p.In != "query" && p.In != "header" && p.In != "path" && p.In != "cookie") {
			return fmt.Errorf("cliquet: openapi: %s %s: parameter %q in %q", strings.ToUpper(m), path, p.Name, p.In)
		}
		if p.In == "path" {
			if _, ok := pathParams[p.Name]; !ok {
				return fmt.Errorf("cliquet: openapi: %s %s: path parameter %q is not in the path", strings.ToUpper(m), path, p.Name)
			}
			p.Required = true
		}
		declared[p.In+" "+p.Name] = true
		params = append(params, parameterObject(p))
	}
	for _, name := range slices.Sorted(maps.Keys(pathParams)) {
		if declared["path "+name] {
			continue
		}
		s := map[string]any{"type": "string"}
		if re := pathParams[name]; re != "" {
			s["pattern"] = "^(?:" + re + ")$"
		}
		params = append(params, parameterObject(Parameter{Name: name, In: "path", Required: true, Schema: s}))
	}
	if len(params) > 0 {
		o["parameters"] = params
	}
	if op.RequestBody != nil || len(op.RequestSchemas) > 0 {
		types := op.RequestMediaTypes
		if len(types) == 0 {
			types = []string{protocol.MediaJSON}
		}
		content := map[string]any{}
		for _, t := range types {
			s, ok := op.RequestSchemas[t]
			if !ok {
				s = op.RequestBody
			}
			content[t] = map[string]any{"schema": s}
		}
		o["requestBody"] = map[string]any{"required": false, "content": content}
	}
	responses := map[string]any{}
	if len(op.Responses) == 0 {
		op.Responses = map[int]Response{http.StatusOK: {}}
	}
	for code, res := range op.Responses {
		responses[strconv.Itoa(code)] = responseObject(code, res)
	}
	for _, code := range op.Errors {
		if _, known := errorStatuses[code]; !known {
			return fmt.Errorf("cliquet: openapi: %s %s: no error response for status %d", strings.ToUpper(m), path, code)
		}
		responses[strconv.Itoa(code)] = map[string]any{"$ref": "#/components/responses/Error" + strconv.Itoa(code)}
	}
	responses["default"] = map[string]any{"$ref": "#/components/responses/Error"}
	o["responses"] = responses
	if op.Anonymous {
		o["x-anonymous"] = true // security is resolved once the schemes are known
	}
	item[m] = o
	return nil
}

// AddSchema adds a named schema to components.schemas and returns the value that refers to
// it ({"$ref": "#/components/schemas/<name>"}). Adding the same name twice with different
// schemas is an error; with the same schema it is harmless.
func (d *Doc) AddSchema(name string, schema any) (map[string]any, error) {
	if !schemaName.MatchString(name) {
		return nil, fmt.Errorf("cliquet: openapi: schema name %q does not match %s", name, schemaName)
	}
	if prev, dup := d.schemas[name]; dup {
		a, _ := json.Marshal(prev)
		b, _ := json.Marshal(schema)
		if !bytes.Equal(a, b) {
			return nil, fmt.Errorf("cliquet: openapi: schema %q is already defined differently", name)
		}
	}
	d.schemas[name] = schema
	return SchemaRef(name), nil
}

// SchemaRef returns a reference to the schema name of components.schemas; the shared
// schemas "Error" (the JSON error body) and "Permissions" are always defined.
func SchemaRef(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

var (
	nonIdent   = regexp.MustCompile(`[^A-Za-z0-9]+`)
	schemaName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
)

// openAPIPath turns a chi pattern into an OpenAPI path template and its parameters (name →
// regexp, "" when none).
func openAPIPath(pattern string) (string, map[string]string, error) {
	if !strings.HasPrefix(pattern, "/") || strings.Contains(pattern, "*") {
		return "", nil, fmt.Errorf("cliquet: openapi: route %q must start with / and have no wildcard", pattern)
	}
	params := map[string]string{}
	var b strings.Builder
	for rest := pattern; rest != ""; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		depth, j := 0, i
		for ; j < len(rest); j++ {
			if rest[j] == '{' {
				depth++
			} else if rest[j] == '}' {
				if depth--; depth == 0 {
					break
				}
			}
		}
		if j == len(rest) {
			return "", nil, fmt.Errorf("cliquet: openapi: route %q has an unclosed {", pattern)
		}
		name, re, _ := strings.Cut(rest[i+1:j], ":")
		if name == "" {
			return "", nil, fmt.Errorf("cliquet: openapi: route %q has an unnamed parameter", pattern)
		}
		if _, dup := params[name]; dup {
			return "", nil, fmt.Errorf("cliquet: openapi: route %q repeats parameter %q", pattern, name)
		}
		params[name] = re
		b.WriteString("{" + name + "}")
		rest = rest[j+1:]
	}
	return b.String(), params, nil
}

func parameterObject(p Parameter) map[string]any {
	o := map[string]any{"name": p.Name, "in": p.In}
	if p.Description != "" {
		o["description"] = p.Description
	}
	if p.Required {
		o["required"] = true
	}
	s := p.Schema
	if s == nil {
		s = map[string]any{"type": "string"}
	}
	o["schema"] = s
	if p.Style != "" {
		o["style"] = p.Style
	}
	if p.Explode != nil {
		o["explode"] = *p.Explode
	}
	return o
}

func responseObject(code int, res Response) map[string]any {
	desc := res.Description
	if desc == "" {
		desc = http.StatusText(code)
	}
	o := map[string]any{"description": desc}
	if res.Schema != nil || len(res.MediaTypes) > 0 {
		content := map[string]any{}
		if res.Schema != nil {
			content[protocol.MediaJSON] = map[string]any{"schema": res.Schema}
		}
		for typ, schema := range res.MediaTypes {
			content[typ] = map[string]any{"schema": schema}
		}
		o["content"] = content
	}
	if len(res.Headers) > 0 {
		h := map[string]any{}
		for _, name := range res.Headers {
			if _, shared := sharedHeaders[name]; shared {
				h[name] = map[string]any{"$ref": "#/components/headers/" + name}
			} else {
				h[name] = map[string]any{"schema": map[string]any{"type": "string"}}
			}
		}
		o["headers"] = h
	}
	return o
}

// sharedHeaders are the protocol's response headers, in components.headers.
var sharedHeaders = map[string]string{
	protocol.HeaderETag:         "The timestamp of the object or of the collection, quoted (\"1700000000000\"). Send it back in If-Match or If-None-Match.",
	protocol.HeaderLastModified: "The same timestamp as an HTTP-date (second precision).",
	protocol.HeaderNextPage:     "The absolute URL of the next page; absent on the last page.",
	protocol.HeaderTotalObjects: "The number of objects matching the filters, ignoring pagination.",
	protocol.HeaderTotalRecords: "Legacy name of Total-Objects (Cliquet).",
	protocol.HeaderAlert:        "A JSON object {code, message, url} announcing the end of service (soft-eol, hard-eol) or a deprecated parameter.",
	protocol.HeaderSunset:       "The end-of-service date (the eos setting) as an HTTP-date (RFC 8594), sent beside the end-of-service Alert.",
	protocol.HeaderBackoff:      "Seconds the client should wait before its next request (the backoff setting).",
	protocol.HeaderRetryAfter:   "Seconds before retrying, on 503 and 409 answers.",
}

// errnoDoc is one row of the errno table as documented in the OpenAPI document and in
// docs/errors.md.
type errnoDoc struct {
	errno   protocol.Errno
	status  int
	meaning string
}

// errnoTable is the errno table of package protocol, with what the toolkit emits.
var errnoTable = []errnoDoc{
	{protocol.ErrnoMissingAuthToken, 401, "missing or refused credentials on a view that needs an authenticated user"},
	{protocol.ErrnoInvalidAuthToken, 401, "invalid credentials (reserved for authentication policies)"},
	{protocol.ErrnoBadJSON, 400, "malformed JSON (reserved: invalid JSON is reported as 107)"},
	{protocol.ErrnoInvalidParameters, 400, "invalid body, querystring, header or path parameter (also the 406 and 415 answers); details lists each problem"},
	{protocol.ErrnoMissingParameters, 400, "missing parameters (reserved)"},
	{protocol.ErrnoInvalidPostedData, 400, "invalid posted data (reserved)"},
	{protocol.ErrnoInvalidResourceID, 404, "the object does not exist"},
	{protocol.ErrnoMissingResource, 404, "unknown URL"},
	{protocol.ErrnoMissingContentLength, 411, "missing Content-Length (reserved)"},
	{protocol.ErrnoRequestTooLarge, 413, "request body over max_request_body_bytes"},
	{protocol.ErrnoModifiedMeanwhile, 412, "If-Match or If-None-Match precondition failed; details.existing holds the current object when there is one"},
	{protocol.ErrnoMethodNotAllowed, 405, "method not routed on this URL (disabled endpoint, readonly mode)"},
	{protocol.ErrnoVersionNotAvailable, 404, "the URL's /vN prefix is not this server's version"},
	{protocol.ErrnoClientReachedCapacity, 429, "too many change feeds open for the user (change_feed_max_streams_per_user); as the final event of a change feed, the client read too slowly; Retry-After is set"},
	{protocol.ErrnoForbidden, 403, "authenticated, but without the permission"},
	{protocol.ErrnoConstraintViolated, 409, "unicity conflict (an object with this id exists in a concurrent creation); details {field, existing}"},
	{protocol.ErrnoBackend, 503, "a storage, cache or permission backend failed or timed out, or the server holds as many change feeds as it allows, or shuts down; Retry-After is set"},
	{protocol.ErrnoServiceDeprecated, 410, "the service reached its end of service (the eos setting); Alert is set"},
	{protocol.ErrnoSyncHorizon, 410, "a _since list starts before the collection's tombstone horizon (deletions were purged): synchronise again without _since; details {since, horizon}"},
	{protocol.ErrnoUndefined, 500, "unexpected error (logged with the request id); info links to error_info_link"},
}

// errorStatuses are the statuses with a shared error response (components.responses.Error<status>).
var errorStatuses = map[int]string{
	400: "Invalid parameters",
	401: "Authentication required",
	403: "Forbidden",
	404: "Not found",
	405: "Method not allowed",
	406: "Not acceptable: the Accept header excludes application/json",
	409: "Conflict",
	410: "Gone: end of service (errno 202, with an Alert), or changes since _since purged (errno 203)",
	412: "Precondition failed",
	413: "Request body too large",
	415: "Unsupported media type: the body is not JSON",
	429: "Too many requests",
	500: "Internal error",
	503: "Service unavailable",
}

// NewDoc returns a document with no operation, holding the shared "Error" and
// "Permissions" schemas.
func NewDoc() *Doc {
	d := &Doc{paths: map[string]map[string]any{}, schemas: map[string]any{}, opIDs: map[string]string{}}
	d.schemas["Error"] = errorSchema()
	d.schemas["Permissions"] = map[string]any{
		"type":                 "object",
		"description":          "The object's ACL: permission name → principals (user ids, system.Authenticated, system.Everyone, groups).",
		"additionalProperties": map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "uniqueItems": true},
	}
	return d
}

// AddUndocumented lists a route that no describer documented: a HEAD route gets the
// operation of the route's GET without bodies when there is one; other routes, an
// "Undocumented route" operation. Routes already documented, and patterns with a wildcard,
// are left alone.
func (d *Doc) AddUndocumented(method, route string) {
	template, _, err := openAPIPath(route)
	if err != nil {
		return // wildcards and mounts cannot be described
	}
	if _, done := d.paths[template][strings.ToLower(method)]; done {
		return
	}
	if get, ok := d.paths[template]["get"].(map[string]any); ok && method == http.MethodHead {
		d.paths[template]["head"] = headOperation(get)
		return
	}
	_ = d.AddOperation(method, route, Operation{
		Summary:   "Undocumented route",
		Responses: map[int]Response{http.StatusOK: {Description: "Not described by the application."}},
		Anonymous: true,
	})
}

// Info is the "info" object of the document.
type Info struct {
	// Title and Version are the application's name and version.
	Title, Version string
	// Description is free text (CommonMark).
	Description string
	// Extensions are "x-" members added to the object ("x-http-api-version").
	Extensions map[string]any
}

// Security is one authentication policy, as a security scheme of the document.
type Security struct {
	// Name is the scheme's name, the policy's lower-cased name ("basicauth").
	Name string
	// Scheme is the OpenAPI Security Scheme Object.
	Scheme map[string]any
}

// Marshal returns the JSON document: the operations and schemas added so far, the shared
// error responses and headers, info, and the security schemes, required by every operation
// except those marked Anonymous (which accept no credentials too). It consumes d: call it
// once.
func (d *Doc) Marshal(info Info, security []Security) ([]byte, error) {
	schemes := map[string]any{}
	var required []any
	for _, s := range security {
		schemes[s.Name] = s.Scheme
		required = append(required, map[string]any{s.Name: []string{}})
	}
	for _, item := range d.paths {
		for _, op := range item {
			o := op.(map[string]any)
			if o["x-anonymous"] == true {
				delete(o, "x-anonymous")
				if len(required) > 0 {
					o["security"] = append([]any{map[string]any{}}, required...)
				}
			}
		}
	}

	responses := map[string]any{"Error": map[string]any{
		"description": "An error: see the errno table in the Error schema.",
		"content":     map[string]any{protocol.MediaJSON: map[string]any{"schema": SchemaRef("Error")}},
	}}
	for code, desc := range errorStatuses {
		var errnos []string
		for _, e := range errnoTable {
			if e.status == code {
				errnos = append(errnos, strconv.Itoa(int(e.errno)))
			}
		}
		if code == 406 || code == 415 {
			errnos = []string{strconv.Itoa(int(protocol.ErrnoInvalidParameters))}
		}
		res := map[string]any{
			"description": desc + " (errno " + strings.Join(errnos, ", ") + ")",
			"content":     map[string]any{protocol.MediaJSON: map[string]any{"schema": SchemaRef("Error")}},
		}
		switch code {
		case 401:
			res["headers"] = map[string]any{"WWW-Authenticate": map[string]any{"schema": map[string]any{"type": "string"}}}
		case 409, 503:
			res["headers"] = map[string]any{protocol.HeaderRetryAfter: map[string]any{"$ref": "#/components/headers/" + protocol.HeaderRetryAfter}}
		case 410:
			res["headers"] = map[string]any{protocol.HeaderAlert: map[string]any{"$ref": "#/components/headers/" + protocol.HeaderAlert}}
		}
		responses["Error"+strconv.Itoa(code)] = res
	}
	headers := map[string]any{}
	for name, desc := range sharedHeaders {
		s := map[string]any{"type": "string"}
		if name == protocol.HeaderTotalObjects || name == protocol.HeaderTotalRecords ||
			name == protocol.HeaderBackoff || name == protocol.HeaderRetryAfter {
			s = map[string]any{"type": "integer", "minimum": 0}
		}
		headers[name] = map[string]any{"description": desc, "schema": s}
	}
	components := map[string]any{"schemas": d.schemas, "responses": responses, "headers": headers}
	if len(schemes) > 0 {
		components["securitySchemes"] = schemes
	}

	infoObject := map[string]any{"title": info.Title, "version": info.Version}
	if info.Description != "" {
		infoObject["description"] = info.Description
	}
	for k, v := range info.Extensions {
		infoObject[k] = v
	}
	doc := map[string]any{
		"openapi":           Version,
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info":              infoObject,
		"paths":             d.paths,
		"components":        components,
	}
	if len(required) > 0 {
		doc["security"] = required
	}
	var tags []string
	for _, item := range d.paths {
		for _, op := range item {
			if t, ok := op.(map[string]any)["tags"].([]string); ok {
				for _, tag := range t {
					if !slices.Contains(tags, tag) {
						tags = append(tags, tag)
					}
				}
			}
		}
	}
	sort.Strings(tags)
	if len(tags) > 0 {
		list := make([]any, len(tags))
		for i, t := range tags {
			list[i] = map[string]any{"name": t}
		}
		doc["tags"] = list
	}
	body, err := protocol.MarshalJSON(doc)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSpace(body), nil
}

// headOperation derives the HEAD operation of a route from its GET operation: the same
// parameters and statuses, without bodies.
func headOperation(get map[string]any) map[string]any {
	head := map[string]any{}
	for k, v := range get {
		head[k] = v
	}
	head["operationId"] = get["operationId"].(string) + "_head"
	responses := map[string]any{}
	for code, res := range get["responses"].(map[string]any) {
		if m, ok := res.(map[string]any); ok && m["content"] != nil {
			c := map[string]any{}
			for k, v := range m {
				if k != "content" {
					c[k] = v
				}
			}
			res = c
		}
		responses[code] = res
	}
	head["responses"] = responses
	return head
}

// errorSchema is the JSON error body with the errno table.
func errorSchema() map[string]any {
	var table strings.Builder
	table.WriteString("Application error number:\n\n| errno | status | meaning |\n|---|---|---|\n")
	errnos := make([]any, 0, len(errnoTable))
	for _, e := range errnoTable {
		fmt.Fprintf(&table, "| %d | %d | %s |\n", e.errno, e.status, e.meaning)
		errnos = append(errnos, int(e.errno))
	}
	return map[string]any{
		"type":     "object",
		"required": []string{"code", "errno", "error"},
		"properties": map[string]any{
			"code":    map[string]any{"type": "integer", "description": "The HTTP status."},
			"errno":   map[string]any{"type": "integer", "enum": errnos, "description": table.String()},
			"error":   map[string]any{"type": "string", "description": "The HTTP reason phrase (\"Invalid parameters\" for errno 107)."},
			"message": map[string]any{"type": "string"},
			"info":    map[string]any{"type": "string", "description": "A link for 500 answers (error_info_link)."},
			"details": map[string]any{
				"description": "Per-error data: for errno 107 the list of problems, for 412 {existing}, for 409 {field, existing}.",
				"oneOf": []any{
					map[string]any{"type": "array", "items": map[string]any{
						"type":     "object",
						"required": []string{"location", "name", "description"},
						"properties": map[string]any{
							"location":    map[string]any{"type": "string", "enum": []string{"body", "querystring", "headers", "path"}},
							"name":        map[string]any{"type": "string"},
							"description": map[string]any{"type": "string"},
						},
					}},
					map[string]any{"type": "object"},
				},
			},
		},
	}
}
