package cliquet_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/openapi"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
)

// apiNote is the typed resource of the OpenAPI tests: its schema is derived from the type.
type apiNote struct {
	ID           string   `json:"id,omitempty"`
	LastModified int64    `json:"last_modified,omitempty"`
	Title        string   `json:"title" cliquet:"required,maxLength=100"`
	Tags         []string `json:"tags,omitempty"`
}

// tokenAuth is a policy that describes itself with OpenAPISecurity.
type tokenAuth struct{}

func (tokenAuth) Name() string { return "token" }
func (tokenAuth) Authenticate(*http.Request) (string, bool, error) {
	return "", false, nil
}
func (tokenAuth) OpenAPISecurity() map[string]any {
	return map[string]any{"type": "http", "scheme": "bearer"}
}

// plainAuth is a policy without OpenAPISecurity.
type plainAuth struct{}

func (plainAuth) Name() string                                     { return "Plain" }
func (plainAuth) Authenticate(*http.Request) (string, bool, error) { return "", false, nil }

// apiSchema is an explicit schema with a local reference.
const apiSchema = `{
	"type": "object",
	"additionalProperties": false,
	"properties": {"url": {"$ref": "#/$defs/url"}, "stars": {"type": "integer", "minimum": 0}},
	"required": ["url"],
	"$defs": {"url": {"type": "string", "format": "uri"}}
}`

// newAPIApp builds an app with a typed resource (notes), a schemaless one (things, without
// plural DELETE), a shareable one with an explicit schema (links) and a custom view.
func newAPIApp(t *testing.T, extra map[string]string) *cliquet.App {
	t.Helper()
	values := map[string]string{
		"project_name":              "apitest",
		"project_version":           "1.3.4",
		"storage_backend":           "memory",
		"multiauth.policies":        "basicauth token",
		"http_scheme":               "https",
		"http_host":                 "api.example.com",
		"link_create_principals":    "system.Authenticated",
		"batch_max_requests":        "10",
		"object_thing_put_enabled":  "false",
		"plural_thing_post_enabled": "true",
	}
	for k, v := range extra {
		values[k] = v
	}
	app := cliquet.NewApp(t, values, cliquet.Config{Authenticators: []authn.Authenticator{tokenAuth{}, plainAuth{}}})
	if _, err := resource.Register(app, resource.Spec[apiNote]{Name: "note"}); err != nil {
		t.Fatal(err)
	}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "thing",
		PluralMethods: []string{"GET", "POST"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "link",
		Path: "/folders/{fid}/links", Schema: []byte(apiSchema), Sharing: &resource.Sharing{},
		IDGenerator: resource.NameGenerator{}}); err != nil {
		t.Fatal(err)
	}
	return app
}

// getAPI fetches GET /v1/__api__ and decodes it.
func getAPI(t *testing.T, app *cliquet.App) (map[string]any, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/__api__", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/__api__ = %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	return doc, rec.Body.Bytes()
}

// operations lists "METHOD path" of a document, sorted.
func operations(doc map[string]any) []string {
	var out []string
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIDocumentDescribesTheApp(t *testing.T) {
	app := newAPIApp(t, nil)
	app.DescribeRoute("PUT", "/scores/{game:[a-z]+}", openapi.Operation{
		Summary:     "Record a score.",
		RequestBody: map[string]any{"type": "object", "properties": map[string]any{"score": map[string]any{"type": "integer"}}},
		Errors:      []int{400, 401},
	})
	app.Router.Put("/scores/{game:[a-z]+}", func(w http.ResponseWriter, r *http.Request) {})
	app.Router.Get("/raw", func(w http.ResponseWriter, r *http.Request) {})
	doc, _ := getAPI(t, app)

	want := []string{
		"DELETE /folders/{fid}/links", "DELETE /folders/{fid}/links/{id}", "DELETE /notes", "DELETE /notes/{id}",
		"DELETE /things/{id}",
		"GET /", "GET /__api__", "GET /__heartbeat__", "GET /__lbheartbeat__", "GET /__version__",
		"GET /folders/{fid}/links", "GET /folders/{fid}/links/{id}", "GET /notes", "GET /notes/{id}",
		"GET /raw", "GET /things", "GET /things/{id}",
		"HEAD /folders/{fid}/links", "HEAD /folders/{fid}/links/{id}", "HEAD /notes", "HEAD /notes/{id}",
		"HEAD /things", "HEAD /things/{id}",
		"PATCH /folders/{fid}/links/{id}", "PATCH /notes/{id}", "PATCH /things/{id}",
		"POST /batch", "POST /folders/{fid}/links", "POST /notes", "POST /things",
		"PUT /folders/{fid}/links/{id}", "PUT /notes/{id}", "PUT /scores/{game}",
	}
	got := operations(doc)
	// HEAD views of the utility endpoints appear when the router has them.
	got = slices.DeleteFunc(got, func(op string) bool {
		return strings.HasPrefix(op, "HEAD /__") || op == "HEAD /"
	})
	if !slices.Equal(got, want) {
		t.Errorf("operations:\n got %v\nwant %v", got, want)
	}

	tests := []struct {
		name string
		path []string
		want any
	}{
		{"is OpenAPI 3.1", []string{"openapi"}, "3.1.0"},
		{"names the project", []string{"info", "title"}, "apitest"},
		{"gives the project version", []string{"info", "version"}, "1.3.4"},
		{"gives the protocol version", []string{"info", "x-protocol-version"}, protocol.Version},
		{"gives the absolute server URL from http_scheme and http_host", []string{"servers", "0", "url"}, "https://api.example.com/v1"},
		{"describes basicauth as HTTP basic", []string{"components", "securitySchemes", "basicauth", "scheme"}, "basic"},
		{"uses the policy's own security scheme", []string{"components", "securitySchemes", "token", "scheme"}, "bearer"},
		{"describes other policies as an Authorization header", []string{"components", "securitySchemes", "plain", "name"}, "Authorization"},
		{"derives the typed resource's schema from its type", []string{"components", "schemas", "note", "properties", "title", "maxLength"}, float64(100)},
		{"marks required fields of the typed resource", []string{"components", "schemas", "note", "required", "0"}, "title"},
		{"keeps the explicit schema of a resource", []string{"components", "schemas", "link", "properties", "stars", "minimum"}, float64(0)},
		{"gives a schema with local references its own base URI", []string{"components", "schemas", "link", "$id"}, "urn:cliquet:schema:link"},
		{"describes a schemaless resource as any object", []string{"components", "schemas", "thing", "type"}, "object"},
		{"limits batch requests to batch_max_requests", []string{"paths", "/batch", "post", "requestBody", "content", "application/json", "schema", "properties", "requests", "maxItems"}, float64(10)},
		{"lets anyone read the hello view", []string{"paths", "/", "get", "security", "0"}, map[string]any{}},
		{"requires authentication on private resources", []string{"paths", "/notes", "get", "security"}, nil},
		{"accepts anonymous requests on shareable resources", []string{"paths", "/folders/{fid}/links", "get", "security", "0"}, map[string]any{}},
		{"puts permissions in shareable bodies", []string{"paths", "/folders/{fid}/links", "post", "requestBody", "content", "application/json", "schema", "properties", "permissions", "$ref"}, "#/components/schemas/Permissions"},
		{"keeps permissions out of private bodies", []string{"paths", "/notes", "post", "requestBody", "content", "application/json", "schema", "properties", "permissions"}, nil},
		{"uses the name generator's pattern for ids", []string{"paths", "/folders/{fid}/links/{id}", "get", "parameters", "0", "schema", "pattern"}, `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`},
		{"uses the uuid format for default ids", []string{"paths", "/notes/{id}", "get", "parameters", "0", "schema", "format"}, "uuid"},
		{"documents Next-Page on lists", []string{"paths", "/notes", "get", "responses", "200", "headers", "Next-Page", "$ref"}, "#/components/headers/Next-Page"},
		{"documents Total-Objects on HEAD", []string{"paths", "/notes", "head", "responses", "200", "headers", "Total-Objects", "$ref"}, "#/components/headers/Total-Objects"},
		{"documents ETag on objects", []string{"paths", "/notes/{id}", "put", "responses", "201", "headers", "ETag", "$ref"}, "#/components/headers/ETag"},
		{"refers to the shared error responses", []string{"paths", "/notes/{id}", "patch", "responses", "412", "$ref"}, "#/components/responses/Error412"},
		{"accepts JSON Patch arrays on PATCH", []string{"paths", "/notes/{id}", "patch", "requestBody", "content", "application/json-patch+json", "schema", "type"}, "array"},
		{"lists the errno table", []string{"components", "schemas", "Error", "properties", "errno", "enum", "0"}, float64(104)},
		{"describes a custom view", []string{"paths", "/scores/{game}", "put", "summary"}, "Record a score."},
		{"turns a chi regexp into a pattern", []string{"paths", "/scores/{game}", "put", "parameters", "0", "schema", "pattern"}, "^(?:[a-z]+)$"},
		{"lists undescribed routes", []string{"paths", "/raw", "get", "summary"}, "Undocumented route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lookup(doc, tt.path...)
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(tt.want)
			if !bytes.Equal(a, b) {
				t.Errorf("%s = %s, want %s", strings.Join(tt.path, "."), a, b)
			}
		})
	}
	if d := lookup(doc, "paths", "/things", "delete"); d != nil {
		t.Errorf("the disabled plural DELETE is documented: %v", d)
	}
}

// lookup follows keys and list indexes through decoded JSON; nil when absent.
func lookup(v any, path ...string) any {
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// TestOpenAPIDocumentIsStructurallySound checks what a validator would: every $ref
// resolves, every schema compiles as JSON Schema 2020-12, path parameters match the path
// templates, operation ids are unique and every operation has responses.
func TestOpenAPIDocumentIsStructurallySound(t *testing.T) {
	app := newAPIApp(t, nil)
	doc, raw := getAPI(t, app)

	t.Run("every $ref resolves", func(t *testing.T) {
		n := 0
		walkRefs(doc, doc, func(ref string, base any) {
			n++
			if !strings.HasPrefix(ref, "#") {
				t.Errorf("$ref %q is not local", ref)
				return
			}
			if resolvePointer(base, ref[1:]) == nil {
				t.Errorf("$ref %q does not resolve", ref)
			}
		})
		if n < 50 {
			t.Errorf("only %d references found", n)
		}
	})

	t.Run("every schema compiles as JSON Schema 2020-12", func(t *testing.T) {
		c := jsonschema.NewCompiler()
		c.Draft = jsonschema.Draft2020
		if err := c.AddResource("mem:///api.json", bytes.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
		var pointers []string
		collectSchemas(doc, "", &pointers)
		if len(pointers) < 40 {
			t.Fatalf("only %d schemas found", len(pointers))
		}
		for _, p := range pointers {
			if _, err := c.Compile("mem:///api.json#" + escapeFragment(p)); err != nil {
				t.Errorf("schema %s: %v", p, err)
			}
		}
	})

	t.Run("path parameters match the path templates", func(t *testing.T) {
		param := regexp.MustCompile(`\{([^}]+)\}`)
		for path, item := range doc["paths"].(map[string]any) {
			var want []string
			for _, m := range param.FindAllStringSubmatch(path, -1) {
				want = append(want, m[1])
			}
			sort.Strings(want)
			for method, op := range item.(map[string]any) {
				var got []string
				for _, p := range lookupList(op, "parameters") {
					p := resolveIfRef(doc, p).(map[string]any)
					if p["in"] == "path" {
						got = append(got, p["name"].(string))
						if p["required"] != true {
							t.Errorf("%s %s: path parameter %v is not required", method, path, p["name"])
						}
					}
				}
				sort.Strings(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s %s: path parameters %v, want %v", method, path, got, want)
				}
			}
		}
	})

	t.Run("operation ids are unique and operations have responses", func(t *testing.T) {
		seen := map[string]string{}
		for path, item := range doc["paths"].(map[string]any) {
			for method, op := range item.(map[string]any) {
				o := op.(map[string]any)
				id, _ := o["operationId"].(string)
				if id == "" {
					t.Errorf("%s %s has no operationId", method, path)
				}
				if prev, dup := seen[id]; dup {
					t.Errorf("operationId %q used by %s and %s %s", id, prev, method, path)
				}
				seen[id] = method + " " + path
				if r, _ := o["responses"].(map[string]any); len(r) == 0 {
					t.Errorf("%s %s has no responses", method, path)
				}
			}
		}
	})
}

// walkRefs calls f with every $ref and the document it is relative to: the nearest
// enclosing schema with an $id, or the whole document.
func walkRefs(v, base any, f func(ref string, base any)) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["$id"].(string); ok {
			base = x
		}
		if ref, ok := x["$ref"].(string); ok {
			f(ref, base)
		}
		for _, c := range x {
			walkRefs(c, base, f)
		}
	case []any:
		for _, c := range x {
			walkRefs(c, base, f)
		}
	}
}

// resolvePointer resolves a JSON pointer ("/components/schemas/Error") in v.
func resolvePointer(v any, pointer string) any {
	if pointer == "" {
		return v
	}
	var keys []string
	for _, k := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		k, _ = url.PathUnescape(k)
		keys = append(keys, strings.ReplaceAll(strings.ReplaceAll(k, "~1", "/"), "~0", "~"))
	}
	return lookup(v, keys...)
}

func resolveIfRef(doc, v any) any {
	if m, ok := v.(map[string]any); ok {
		if ref, ok := m["$ref"].(string); ok {
			return resolvePointer(doc, strings.TrimPrefix(ref, "#"))
		}
	}
	return v
}

func lookupList(v any, key string) []any {
	l, _ := lookup(v, key).([]any)
	return l
}

// collectSchemas lists the JSON pointers of the schemas of an OpenAPI document: the
// components' schemas and every "schema" of parameters, headers and media types.
func collectSchemas(v any, at string, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			p := at + "/" + strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
			switch {
			case k == "schema":
				*out = append(*out, p)
			case at == "/components/schemas":
				*out = append(*out, p)
			default:
				collectSchemas(c, p, out)
			}
		}
	case []any:
		for i, c := range x {
			collectSchemas(c, fmt.Sprintf("%s/%d", at, i), out)
		}
	}
}

func escapeFragment(p string) string {
	return strings.NewReplacer("{", "%7B", "}", "%7D", "+", "%2B").Replace(p)
}

func TestOpenAPIDocumentIsCachedAndRebuilt(t *testing.T) {
	app := newAPIApp(t, nil)
	_, first := getAPI(t, app)
	_, second := getAPI(t, app)
	if !bytes.Equal(first, second) {
		t.Error("two requests got different documents")
	}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "late"}); err != nil {
		t.Fatal(err)
	}
	doc, _ := getAPI(t, app)
	if lookup(doc, "paths", "/lates/{id}", "put") == nil {
		t.Errorf("a resource registered after the first build is missing: %v", operations(doc))
	}

	t.Run("the server URL follows the request when http_host is unset", func(t *testing.T) {
		app := newAPIApp(t, map[string]string{"http_host": "", "http_scheme": ""})
		for _, host := range []string{"a.example", "b.example:8080"} {
			req := httptest.NewRequest("GET", "/v1/__api__", nil)
			req.Host = host
			body, err := app.OpenAPI(req)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if got := lookup(doc, "servers", "0", "url"); got != "http://"+host+"/v1" {
				t.Errorf("servers[0].url = %v for host %s", got, host)
			}
		}
	})
}

func TestOpenAPIDescriberErrors(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		op     openapi.Operation
		want   string
	}{
		{"rejects an unknown method", "FETCH", "/x", openapi.Operation{}, "unknown method"},
		{"rejects a wildcard route", "GET", "/files/*", openapi.Operation{}, "wildcard"},
		{"rejects an operation already described", "GET", "/", openapi.Operation{}, "described twice"},
		{"rejects a duplicate operation id", "GET", "/y", openapi.Operation{OperationID: "heartbeat"}, "already used"},
		{"rejects a path parameter absent from the path", "GET", "/z", openapi.Operation{
			Parameters: []openapi.Parameter{{Name: "id", In: "path"}}}, "not in the path"},
		{"rejects an error status without a shared response", "GET", "/w", openapi.Operation{Errors: []int{418}}, "no error response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newAPIApp(t, nil)
			app.DescribeRoute(tt.method, tt.path, tt.op)
			_, err := app.OpenAPI(httptest.NewRequest("GET", "/v1/__api__", nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("OpenAPI error = %v, want one containing %q", err, tt.want)
			}
			rec := httptest.NewRecorder()
			app.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/__api__", nil))
			if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"errno":999`) {
				t.Errorf("GET /v1/__api__ = %d %s, want 500 errno 999", rec.Code, rec.Body)
			}
		})
	}
}

// TestOpenAPIResponsesMatchTheService validates real responses against the schemas the
// document gives for them.
func TestOpenAPIResponsesMatchTheService(t *testing.T) {
	app := newAPIApp(t, nil)
	_, raw := getAPI(t, app)
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource("mem:///api.json", bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) []byte {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.SetBasicAuth("alice", "pw")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		app.Handler().ServeHTTP(rec, req)
		if rec.Code >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, rec.Code, rec.Body)
		}
		return rec.Body.Bytes()
	}
	folder := "/v1/folders/f1/links"
	id := "abc"
	tests := []struct {
		name, method, path, body, pointer string
	}{
		{"hello", "GET", "/v1/", "", "/paths/~1/get/responses/200/content/application~1json/schema"},
		{"heartbeat", "GET", "/v1/__heartbeat__", "", "/paths/~1__heartbeat__/get/responses/200/content/application~1json/schema"},
		{"typed create", "POST", "/v1/notes", `{"data": {"title": "t", "tags": ["a"]}}`, "/paths/~1notes/post/responses/201/content/application~1json/schema"},
		{"typed list", "GET", "/v1/notes", "", "/paths/~1notes/get/responses/200/content/application~1json/schema"},
		{"shareable put", "PUT", folder + "/" + id, `{"data": {"url": "https://example.com", "stars": 3}}`, "/paths/~1folders~1{fid}~1links~1{id}/put/responses/201/content/application~1json/schema"},
		{"shareable get", "GET", folder + "/" + id, "", "/paths/~1folders~1{fid}~1links~1{id}/get/responses/200/content/application~1json/schema"},
		{"shareable delete", "DELETE", folder + "/" + id, "", "/paths/~1folders~1{fid}~1links~1{id}/delete/responses/200/content/application~1json/schema"},
		{"schemaless create", "POST", "/v1/things", `{"data": {"anything": {"goes": 1}}}`, "/paths/~1things/post/responses/201/content/application~1json/schema"},
		{"batch", "POST", "/v1/batch", `{"requests": [{"path": "/notes"}]}`, "/paths/~1batch/post/responses/200/content/application~1json/schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.Compile("mem:///api.json#" + escapeFragment(tt.pointer))
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(do(tt.method, tt.path, tt.body), &v); err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(v); err != nil {
				t.Errorf("the response does not match its documented schema: %v", err)
			}
		})
	}

	t.Run("an invalid response is rejected", func(t *testing.T) {
		s, err := c.Compile("mem:///api.json#" + escapeFragment("/paths/~1notes/post/responses/201/content/application~1json/schema"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(map[string]any{"data": map[string]any{"id": "x"}}); err == nil {
			t.Error("an object without title and last_modified matches the schema")
		}
	})
}

func TestHelloShowsTheProtocolVersion(t *testing.T) {
	app := newAPIApp(t, nil)
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/", nil))
	var hello map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &hello); err != nil {
		t.Fatal(err)
	}
	if hello["protocol_version"] != protocol.Version {
		t.Errorf("protocol_version = %v, want %q", hello["protocol_version"], protocol.Version)
	}
}

// ExampleApp_OpenAPI documents a custom view next to a resource and prints parts of the
// generated document (also served at GET /v1/__api__).
func ExampleApp_OpenAPI() {
	settings := config.MustFromMap(map[string]string{
		"project_name": "scores", "userid_hmac_secret": "change me", "http_host": "scores.example.com",
	}, config.Options{Env: []string{}})
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: settings, ProjectVersion: "1.2.0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer app.Close()
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "game"}); err != nil {
		panic(err)
	}
	app.Router.Put("/scores/{game}", func(w http.ResponseWriter, r *http.Request) { /* ... */ })
	app.DescribeRoute("PUT", "/scores/{game}", openapi.Operation{
		Summary:     "Record the user's score in a game; the best one is kept.",
		Tags:        []string{"scores"},
		RequestBody: map[string]any{"type": "object", "required": []string{"score"}, "properties": map[string]any{"score": map[string]any{"type": "integer"}}},
		Responses:   map[int]openapi.Response{200: {Description: "The best score."}},
		Errors:      []int{400, 401},
	})

	body, err := app.OpenAPI(httptest.NewRequest("GET", "/v1/__api__", nil))
	if err != nil {
		panic(err)
	}
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct {
			Title, Version string
			Protocol       string `json:"x-protocol-version"`
		}
		Servers []struct{ URL string }
		Paths   map[string]map[string]struct {
			OperationID string
			Summary     string
		}
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		panic(err)
	}
	fmt.Println(doc.OpenAPI, doc.Info.Title, doc.Info.Version, "protocol", doc.Info.Protocol)
	fmt.Println(doc.Servers[0].URL)
	for _, p := range []string{"/games", "/games/{id}", "/scores/{game}"} {
		methods := make([]string, 0, len(doc.Paths[p]))
		for m := range doc.Paths[p] {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		fmt.Println(p, methods)
	}
	fmt.Println(doc.Paths["/scores/{game}"]["put"].Summary)
	// Output:
	// 3.1.0 scores 1.2.0 protocol 1.0
	// http://scores.example.com/v1
	// /games [delete get head post]
	// /games/{id} [delete get head patch put]
	// /scores/{game} [put]
	// Record the user's score in a game; the best one is kept.
}

// TestOpenAPIListItemsArePartial validates, against the served document, the responses
// whose items are not whole objects: tombstones in a _since list and in a plural DELETE,
// and _fields projections of lists and objects.
func TestOpenAPIListItemsArePartial(t *testing.T) {
	app := newAPIApp(t, nil)
	_, raw := getAPI(t, app)
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource("mem:///api.json", bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	do := func(t *testing.T, method, path, body string) map[string]any {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.SetBasicAuth("alice", "pw")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		app.Handler().ServeHTTP(rec, req)
		if rec.Code >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, rec.Code, rec.Body)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	first := do(t, "POST", "/v1/notes", `{"data": {"title": "one", "tags": ["a"]}}`)["data"].(map[string]any)
	do(t, "POST", "/v1/notes", `{"data": {"title": "two"}}`)
	do(t, "DELETE", "/v1/notes/"+first["id"].(string), "")
	since := fmt.Sprintf("%d", int64(first["last_modified"].(float64))-1)
	list := "/paths/~1notes/get/responses/200/content/application~1json/schema"
	tests := []struct {
		name, method, path, pointer string
		want                        func(items []any) bool
	}{
		{"_since with a tombstone", "GET", "/v1/notes?_since=" + since, list, func(items []any) bool {
			for _, it := range items {
				if it.(map[string]any)["deleted"] == true {
					return true
				}
			}
			return false
		}},
		{"_fields", "GET", "/v1/notes?_fields=tags", list, func(items []any) bool {
			_, has := items[0].(map[string]any)["title"]
			return len(items) == 1 && !has
		}},
		{"plural delete", "DELETE", "/v1/notes", "/paths/~1notes/delete/responses/200/content/application~1json/schema", func(items []any) bool {
			return len(items) == 1 && items[0].(map[string]any)["deleted"] == true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.Compile("mem:///api.json#" + escapeFragment(tt.pointer))
			if err != nil {
				t.Fatal(err)
			}
			v := do(t, tt.method, tt.path, "")
			if items, _ := v["data"].([]any); !tt.want(items) {
				t.Fatalf("unexpected response %v", v)
			}
			if err := s.Validate(any(v)); err != nil {
				t.Errorf("the response does not match its documented schema: %v", err)
			}
		})
	}
	t.Run("object _fields", func(t *testing.T) {
		s, err := c.Compile("mem:///api.json#" + escapeFragment("/paths/~1notes~1{id}/get/responses/200/content/application~1json/schema"))
		if err != nil {
			t.Fatal(err)
		}
		n := do(t, "POST", "/v1/notes", `{"data": {"title": "three", "tags": ["b"]}}`)["data"].(map[string]any)
		v := do(t, "GET", "/v1/notes/"+n["id"].(string)+"?_fields=tags", "")
		if err := s.Validate(any(v)); err != nil {
			t.Errorf("the response does not match its documented schema: %v", err)
		}
	})
}

// TestOpenAPIPatchBodiesAreTyped validates PATCH bodies of each media type against the
// served document: the ones the service accepts match, mistyped ones do not, and the
// responses (whole or light) match theirs.
func TestOpenAPIPatchBodiesAreTyped(t *testing.T) {
	app := newAPIApp(t, nil)
	_, raw := getAPI(t, app)
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource("mem:///api.json", bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	do := func(t *testing.T, method, path, ctype, behavior, body string) (int, any) {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.SetBasicAuth("alice", "pw")
		req.Header.Set("Content-Type", ctype)
		if behavior != "" {
			req.Header.Set("Response-Behavior", behavior)
		}
		rec := httptest.NewRecorder()
		app.Handler().ServeHTTP(rec, req)
		var v any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		return rec.Code, v
	}
	_, created := do(t, "POST", "/v1/notes", "application/json", "", `{"data": {"title": "one", "tags": ["a"]}}`)
	path := "/v1/notes/" + created.(map[string]any)["data"].(map[string]any)["id"].(string)
	op := "/paths/~1notes~1{id}/patch"
	response, err := c.Compile("mem:///api.json#" + escapeFragment(op+"/responses/200/content/application~1json/schema"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ctype, behavior, body string
		valid                 bool
	}{
		{"application/json", "", `{"data": {"title": "two"}}`, true},
		{"application/json", "light", `{"data": {"tags": ["b"]}}`, true},
		{"application/json", "", `{"data": {"title": 2}}`, false},
		{"application/json", "", `{"data": {"title": "t"}, "extra": 1}`, false},
		{"application/merge-patch+json", "", `{"data": {"tags": null}}`, true},
		{"application/merge-patch+json", "", `{"data": {"tags": "a"}}`, false},
		{"application/json-patch+json", "", `[{"op": "replace", "path": "/data/title", "value": "three"}]`, true},
		{"application/json-patch+json", "", `[{"op": "copy", "path": "/data/subtitle"}]`, false},
		{"application/json-patch+json", "", `[{"op": "replace", "path": "/data/title"}]`, false},
		{"application/json-patch+json", "", `[{"op": "rename", "path": "/data/title"}]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.ctype+" "+tt.body, func(t *testing.T) {
			s, err := c.Compile("mem:///api.json#" + escapeFragment(op+"/requestBody/content/"+strings.ReplaceAll(tt.ctype, "/", "~1")+"/schema"))
			if err != nil {
				t.Fatal(err)
			}
			var body any
			if err := json.Unmarshal([]byte(tt.body), &body); err != nil {
				t.Fatal(err)
			}
			err = s.Validate(body)
			if tt.valid != (err == nil) {
				t.Fatalf("valid = %v, documented schema says %v", tt.valid, err)
			}
			code, v := do(t, "PATCH", path, tt.ctype, tt.behavior, tt.body)
			if tt.valid != (code == http.StatusOK) {
				t.Fatalf("valid = %v, service answered %d %v", tt.valid, code, v)
			}
			if code == http.StatusOK {
				if err := response.Validate(v); err != nil {
					t.Errorf("the response does not match its documented schema: %v", err)
				}
			}
		})
	}
}
