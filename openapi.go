package cliquet

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/openapi"
	"github.com/cliquet-go/cliquet/protocol"
)

// APIPath is the route of the generated OpenAPI document under the version prefix
// ("/v1/__api__").
const APIPath = "/__api__"

// apiRegistry holds the describers of an App and the cached document.
type apiRegistry struct {
	mu         sync.Mutex
	describers []openapi.Describer
	built      int    // len(describers) when body was built; -1: never
	routes     int    // number of routes on the router when body was built
	body       []byte // the document without "servers"
}

// AddAPIDescriber registers d; the OpenAPI document includes its operations from the next
// request on. resource.Register calls it for every resource.
func (a *App) AddAPIDescriber(d openapi.Describer) {
	if d == nil {
		return
	}
	a.api.mu.Lock()
	defer a.api.mu.Unlock()
	a.api.describers = append(a.api.describers, d)
}

// DescribeRoute documents one custom route in the OpenAPI document, a shortcut for an
// [openapi.Describer] that adds one operation. path is the route pattern under the version
// prefix, as given to a.Router. Routes on a.Router that nobody describes are listed anyway,
// with an "Undocumented route" summary.
func (a *App) DescribeRoute(method, path string, op openapi.Operation) {
	a.AddAPIDescriber(openapi.DescriberFunc(func(d *openapi.Doc) error { return d.AddOperation(method, path, op) }))
}

// OpenAPI returns the OpenAPI 3.1 document of the app as served at GET /v1/__api__: the
// utility endpoints, every described resource and view, the security schemes of the
// authentication policies, and the error responses. r gives the server URL (see
// [App.URL]). The document is built on the first call and rebuilt when describers or
// routes have been added since; an error means a describer failed or two of them clash.
func (a *App) OpenAPI(r *http.Request) ([]byte, error) {
	body, err := a.openAPIBody()
	if err != nil {
		return nil, err
	}
	servers, err := protocol.MarshalJSON([]map[string]any{{"url": a.URL(r, "")}})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(body)+len(servers)+16)
	out = append(out, `{"servers":`...)
	out = append(out, bytes.TrimSpace(servers)...)
	out = append(out, ',')
	return append(out, body[1:]...), nil
}

// openAPIBody returns the cached document without its servers, rebuilding it when needed.
func (a *App) openAPIBody() ([]byte, error) {
	routes := 0
	if a.Router != nil {
		_ = chi.Walk(a.Router, func(string, string, http.Handler, ...func(http.Handler) http.Handler) error {
			routes++
			return nil
		})
	}
	a.api.mu.Lock()
	defer a.api.mu.Unlock()
	if a.api.body != nil && a.api.built == len(a.api.describers) && a.api.routes == routes {
		return a.api.body, nil
	}
	body, err := a.buildOpenAPI(a.api.describers)
	if err != nil {
		return nil, err
	}
	a.api.body, a.api.built, a.api.routes = body, len(a.api.describers), routes
	return body, nil
}

// serveOpenAPI answers GET /v1/__api__.
func (a *App) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	body, err := a.OpenAPI(r)
	if err != nil {
		protocol.WriteError(w, r, err)
		return
	}
	protocol.WriteRawJSON(w, http.StatusOK, body)
}

// buildOpenAPI builds the whole document except "servers".
func (a *App) buildOpenAPI(describers []openapi.Describer) ([]byte, error) {
	d := openapi.NewDoc()
	if err := a.describeUtilities(d); err != nil {
		return nil, err
	}
	for _, desc := range describers {
		if err := desc.DescribeAPI(d); err != nil {
			return nil, err
		}
	}
	if a.Router != nil {
		a.describeUndocumented(d)
	}
	var security []openapi.Security
	for _, au := range a.chain() {
		security = append(security, openapi.Security{Name: strings.ToLower(au.Name()), Scheme: securityScheme(au)})
	}
	info := openapi.Info{
		Title:   firstNonEmpty(a.ProjectName, "cliquet"),
		Version: a.ProjectVersion,
		Description: fmt.Sprintf("HTTP API %s, protocol %s (github.com/cliquet-go/cliquet, "+
			"compatible with Cliquet / kinto.core clients).", a.HTTPAPIVersion, protocol.Version),
		Extensions: map[string]any{"x-http-api-version": a.HTTPAPIVersion, "x-protocol-version": protocol.Version},
	}
	if docs := a.Settings.String("project_docs"); docs != "" {
		info.Extensions["x-project-docs"] = docs
	}
	return d.Marshal(info, security)
}

// securityScheme describes one authentication policy.
func securityScheme(au authn.Authenticator) map[string]any {
	if s, ok := au.(openapi.Securer); ok {
		if scheme := s.OpenAPISecurity(); scheme != nil {
			return scheme
		}
	}
	if _, ok := au.(authn.BasicAuth); ok {
		return map[string]any{"type": "http", "scheme": "basic",
			"description": "Any username and password; the user id is derived from both (basicauth)."}
	}
	return map[string]any{"type": "apiKey", "in": "header", "name": "Authorization",
		"description": "Credentials of the " + strings.ToLower(au.Name()) + " authentication policy."}
}

// describeUndocumented lists the routes of a.Router that no describer documented.
func (a *App) describeUndocumented(d *openapi.Doc) {
	_ = chi.Walk(a.Router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		d.AddUndocumented(method, route)
		return nil
	})
}

// describeUtilities documents the views mounted by Initialize.
func (a *App) describeUtilities(d *openapi.Doc) error {
	anyObject := map[string]any{"type": "object"}
	hello := map[string]any{
		"type":     "object",
		"required": []string{"project_name", "project_version", "http_api_version", "protocol_version", "url", "settings", "capabilities"},
		"properties": map[string]any{
			"project_name":     map[string]any{"type": "string"},
			"project_version":  map[string]any{"type": "string"},
			"http_api_version": map[string]any{"type": "string"},
			"protocol_version": map[string]any{"type": "string", "description": "The cliquet-go protocol version (docs/protocol-changelog.md)."},
			"project_docs":     map[string]any{"type": "string"},
			"url":              map[string]any{"type": "string", "format": "uri"},
			"eos":              map[string]any{"type": "string", "description": "End of service date, when set."},
			"settings":         anyObject,
			"capabilities":     map[string]any{"type": "object", "additionalProperties": anyObject},
			"user": map[string]any{"type": "object", "properties": map[string]any{
				"id":         map[string]any{"type": "string"},
				"principals": map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
			}},
		},
	}
	heartbeat := map[string]any{"type": "object", "additionalProperties": map[string]any{"type": []string{"boolean", "null"}}}
	subrequest := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"method":  map[string]any{"type": "string", "enum": strings.Split(batchMethods, ", "), "default": "GET"},
			"path":    map[string]any{"type": "string", "pattern": "^/"},
			"headers": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
			"body":    anyObject,
		},
	}
	requestItem := map[string]any{"allOf": []any{openapi.SchemaRef("BatchSubrequest"), map[string]any{"required": []string{"path"}}}}
	batchReq := map[string]any{
		"type":                 "object",
		"required":             []string{"requests"},
		"additionalProperties": false,
		"properties": map[string]any{
			"defaults": openapi.SchemaRef("BatchSubrequest"),
			"requests": map[string]any{"type": "array", "items": requestItem},
		},
	}
	if limit, set, _ := a.Settings.OptionalInt("batch_max_requests"); set && limit > 0 {
		batchReq["properties"].(map[string]any)["requests"].(map[string]any)["maxItems"] = limit
	}
	batchRes := map[string]any{
		"type":     "object",
		"required": []string{"responses"},
		"properties": map[string]any{"responses": map[string]any{"type": "array", "items": map[string]any{
			"type":     "object",
			"required": []string{"status", "path", "headers", "body"},
			"properties": map[string]any{
				"status":  map[string]any{"type": "integer"},
				"path":    map[string]any{"type": "string"},
				"headers": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
				"body":    map[string]any{"description": "The JSON body, or the raw body as a string (\"\" for HEAD)."},
			},
		}}},
	}
	if _, err := d.AddSchema("BatchSubrequest", subrequest); err != nil {
		return err
	}
	tags := []string{"utilities"}
	ops := []struct {
		method, path string
		op           openapi.Operation
	}{
		{http.MethodGet, "/", openapi.Operation{OperationID: "server_info", Tags: tags, Anonymous: true,
			Summary:   "Server information: versions, public settings, capabilities, the authenticated user.",
			Responses: map[int]openapi.Response{200: {Schema: hello}}}},
		{http.MethodGet, "/__heartbeat__", openapi.Operation{OperationID: "heartbeat", Tags: tags, Anonymous: true,
			Summary: "Health of the backends: true, false or null (not checked) by name.",
			Responses: map[int]openapi.Response{200: {Description: "Every check passed.", Schema: heartbeat},
				503: {Description: "A check failed.", Schema: heartbeat}}}},
		{http.MethodGet, "/__lbheartbeat__", openapi.Operation{OperationID: "lbheartbeat", Tags: tags, Anonymous: true,
			Summary:   "Load-balancer probe: always 200 {}, no backend touched.",
			Responses: map[int]openapi.Response{200: {Schema: anyObject}}}},
		{http.MethodGet, "/__version__", openapi.Operation{OperationID: "version", Tags: tags, Anonymous: true,
			Summary:   "The version file (version_json_path): source, version, commit, build.",
			Responses: map[int]openapi.Response{200: {Schema: anyObject}}}},
		{http.MethodGet, APIPath, openapi.Operation{OperationID: "openapi", Tags: tags, Anonymous: true,
			Summary:   "This OpenAPI " + openapi.Version + " document.",
			Responses: map[int]openapi.Response{200: {Schema: anyObject}}}},
		{http.MethodPost, BatchPath, openapi.Operation{OperationID: "batch", Tags: tags, Anonymous: true,
			Summary: "Run several requests in one; each sub-request is authorized on its own.",
			Description: "Sub-requests run in order in the unit of work of the batch request; a 5xx in one fails " +
				"the whole batch (and rolls it back), 4xx answers are returned in place.",
			RequestBody: batchReq,
			Responses:   map[int]openapi.Response{200: {Schema: batchRes}},
			Errors:      []int{400, 406, 413, 415}}},
	}
	for _, o := range ops {
		if err := d.AddOperation(o.method, o.path, o.op); err != nil {
			return err
		}
	}
	return nil
}
