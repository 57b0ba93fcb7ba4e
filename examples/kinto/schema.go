package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
)

// Collection JSON schemas (Kinto's experimental_collection_schema_validation): a
// collection's "schema" field is a JSON Schema that its records must satisfy (the records'
// Spec.ParentSchema). Records keep the timestamp of the collection they were validated
// against in their "schema" field.

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

// collectionSchema is the records' Spec.ParentSchema: the collection's "schema" field, which
// the toolkit compiles once per version of the collection.
func collectionSchema(coll storage.Object) ([]byte, error) {
	var data struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(coll.Data, &data); err != nil {
		return nil, err
	}
	if len(data.Schema) == 0 || string(data.Schema) == "null" {
		return nil, nil
	}
	return data.Schema, nil
}

// stampSchema gives a record validated against its collection's schema that collection's
// timestamp in its "schema" field, as Kinto does.
func stampSchema(ctx context.Context, _ *http.Request, new resource.Object, _ *resource.Object) (resource.Object, error) {
	if a := resource.Ancestors(ctx); len(a) == 2 {
		if s, _ := collectionSchema(a[1]); s != nil {
			new["schema"] = a[1].LastModified
		}
	}
	return new, nil
}
