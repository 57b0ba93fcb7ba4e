package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
)

// Collection JSON schemas (Kinto's experimental_collection_schema_validation): a
// collection's "schema" field is a JSON Schema that its records must satisfy. Records keep
// the timestamp of the collection they were validated against in their "schema" field.

// compile compiles a collection's schema document.
func compile(doc any) (*jsonschema.Schema, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	const url = "kinto:///collection-schema.json"
	if err := c.AddResource(url, bytes.NewReader(raw)); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// processCollection rejects a schema field that is not a JSON Schema object.
func (s *server) processCollection(_ context.Context, _ *http.Request, new resource.Object, _ *resource.Object) (resource.Object, error) {
	doc, ok := new["schema"]
	if !ok || !s.schema {
		return new, nil
	}
	if _, isObject := doc.(map[string]any); !isObject {
		return nil, protocol.InvalidParam("body", "data.schema", "schema is not an object")
	}
	if _, err := compile(doc); err != nil {
		return nil, protocol.InvalidParam("body", "data.schema", "schema is not a valid JSON schema: "+err.Error())
	}
	return new, nil
}

// processRecord validates a record against its collection's schema, when it has one, and
// stamps the record with the collection's timestamp.
func (s *server) processRecord(ctx context.Context, r *http.Request, new resource.Object, _ *resource.Object) (resource.Object, error) {
	if !s.schema {
		return new, nil
	}
	bid, cid := chi.URLParam(r, "bid"), chi.URLParam(r, "cid")
	coll, err := s.store.Get(ctx, collectionScope(bid), cid)
	if err != nil {
		return nil, err
	}
	var data struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(coll.Data, &data); err != nil {
		return nil, err
	}
	if len(data.Schema) == 0 || string(data.Schema) == "null" {
		return new, nil
	}
	var doc any
	if err := json.Unmarshal(data.Schema, &doc); err != nil {
		return nil, err
	}
	sch, err := compile(doc)
	if err != nil {
		return nil, err // the collection's schema was checked when it was written
	}
	instance := make(map[string]any, len(new))
	for k, v := range new {
		switch k {
		case "id", "last_modified", "schema":
		default:
			instance[k] = v
		}
	}
	// Validate the JSON form, so that numbers are json.Number whatever the record holds.
	raw, err := json.Marshal(instance)
	if err != nil {
		return nil, err
	}
	var decoded any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&decoded); err != nil {
		return nil, err
	}
	if err := sch.Validate(decoded); err != nil {
		return nil, schemaError(err)
	}
	new["schema"] = coll.LastModified
	return new, nil
}

// schemaError turns a validation failure into Kinto's 400 errno 107, naming the first
// invalid field.
func schemaError(err error) error {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return protocol.InvalidParam("body", "data", err.Error())
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	field := strings.ReplaceAll(strings.TrimPrefix(ve.InstanceLocation, "/"), "/", ".")
	name := "data"
	if field != "" {
		name += "." + field
	}
	desc := ve.Message
	if field != "" {
		desc = field + " in body: " + ve.Message
	}
	return protocol.InvalidParam("body", name, desc)
}
