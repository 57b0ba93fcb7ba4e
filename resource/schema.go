package resource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/cliquet-go/cliquet/protocol"
)

// validator checks the data of objects against a compiled JSON Schema and knows its
// top-level field names. A nil *validator accepts everything (schemaless resource).
type validator struct {
	schema *jsonschema.Schema
	known  map[string]bool // top-level properties, plus id, last_modified and deleted
	// strings are the top-level properties typed "string" (only): filters on them keep their
	// querystring values as strings (see isString).
	strings map[string]bool
	// readOnly lists the top-level properties marked readOnly: set by the server (the
	// Process hook), refused from clients (see checkReadOnly).
	readOnly []string
}

// compileSchema compiles a JSON Schema document. Formats ("uri", "date-time", ...) are asserted.
func compileSchema(name string, doc []byte) (*validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat = true
	c.ExtractAnnotations = true // readOnly
	url := "cliquet:///" + name + ".json"
	if err := c.AddResource(url, bytes.NewReader(doc)); err != nil {
		return nil, fmt.Errorf("resource %s: schema: %w", name, err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("resource %s: schema: %w", name, err)
	}
	v := &validator{schema: s, known: map[string]bool{"id": true, "last_modified": true, "deleted": true}, strings: map[string]bool{}}
	for k, p := range s.Properties {
		v.known[k] = true
		if len(p.Types) == 1 && p.Types[0] == "string" {
			v.strings[k] = true
		}
		if p.ReadOnly {
			v.readOnly = append(v.readOnly, k)
		}
	}
	sort.Strings(v.readOnly)
	for _, k := range s.Required {
		v.known[k] = true
	}
	return v, nil
}

// isKnown reports whether the first segment of a dotted field is known to the schema
// (always true for schemaless resources).
func (v *validator) isKnown(field string) bool {
	if v == nil {
		return true
	}
	root, _, _ := strings.Cut(field, ".")
	return v.known[root]
}

// isString reports whether field is a top-level property that the schema types as a string
// (never for schemaless resources and nested fields): the values of its filters are then
// taken as they are written, "123" staying the string "123", not the number.
func (v *validator) isString(field string) bool {
	return v != nil && v.strings[field]
}

var quoted = regexp.MustCompile(`'([^']*)'`)

// validate checks data (decoded with json.Number) and returns a 400 errno 107 listing every
// violation as {location: body, name: data.<field>, description}.
func (v *validator) validate(data map[string]any) error {
	if v == nil {
		return nil
	}
	err := v.schema.Validate(any(data))
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return protocol.InvalidParam("body", "data", err.Error())
	}
	var details []protocol.Detail
	seen := map[string]bool{}
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		name := "data" + strings.ReplaceAll(e.InstanceLocation, "/", ".")
		kw := e.KeywordLocation[strings.LastIndexByte(e.KeywordLocation, '/')+1:]
		if kw == "required" || kw == "additionalProperties" {
			// The violation is about named properties of the object at InstanceLocation.
			for _, m := range quoted.FindAllStringSubmatch(e.Message, -1) {
				d := protocol.Detail{Location: "body", Name: name + "." + m[1], Description: e.Message}
				if kw == "required" {
					d.Description = "Required"
				}
				if !seen[d.Name+d.Description] {
					seen[d.Name+d.Description] = true
					details = append(details, d)
				}
			}
			return
		}
		if !seen[name+e.Message] {
			seen[name+e.Message] = true
			details = append(details, protocol.Detail{Location: "body", Name: name, Description: e.Message})
		}
	}
	walk(ve)
	if len(details) == 0 {
		details = append(details, protocol.Detail{Location: "body", Name: "data", Description: ve.Message})
	}
	sort.SliceStable(details, func(i, j int) bool { return details[i].Name < details[j].Name })
	return protocol.InvalidParameters(details...)
}

// deriveSchema builds a JSON Schema document from the exported fields of struct type t, as
// described in the package documentation (json names, cliquet:"required,format=uri,...").
func deriveSchema(t reflect.Type) ([]byte, error) {
	s, err := structSchema(t, map[reflect.Type]bool{})
	if err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

var (
	timeType      = reflect.TypeOf(time.Time{})
	marshalerType = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
)

func structSchema(t reflect.Type, seen map[reflect.Type]bool) (map[string]any, error) {
	if seen[t] {
		return nil, fmt.Errorf("recursive type %s", t)
	}
	seen[t] = true
	defer delete(seen, t)
	props := map[string]any{}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				sub, err := structSchema(ft, seen)
				if err != nil {
					return nil, err
				}
				for k, v := range sub["properties"].(map[string]any) {
					props[k] = v
				}
				if r, ok := sub["required"].([]string); ok {
					required = append(required, r...)
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		if name == "id" || name == "last_modified" {
			continue // protocol fields, never validated
		}
		fs, err := typeSchema(f.Type, seen)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		if tag, ok := f.Tag.Lookup("cliquet"); ok {
			var isRequired, isReadOnly bool
			for _, opt := range strings.Split(tag, ",") {
				key, val, _ := strings.Cut(strings.TrimSpace(opt), "=")
				switch key {
				case "":
				case "required":
					required = append(required, name)
					isRequired = true
				case "readonly":
					fs["readOnly"] = true
					isReadOnly = true
				case "format":
					fs["format"] = val
				case "minLength", "maxLength", "minItems", "maxItems":
					n, err := strconv.Atoi(val)
					if err != nil {
						return nil, fmt.Errorf("field %s: tag cliquet:%q: %s wants an integer", f.Name, tag, key)
					}
					fs[key] = n
				case "minimum", "maximum":
					n, err := strconv.ParseFloat(val, 64)
					if err != nil {
						return nil, fmt.Errorf("field %s: tag cliquet:%q: %s wants a number", f.Name, tag, key)
					}
					fs[key] = n
				default:
					return nil, fmt.Errorf("field %s: unknown option %q in tag cliquet:%q", f.Name, key, tag)
				}
			}
			if isRequired && isReadOnly {
				return nil, fmt.Errorf("field %s: tag cliquet:%q: a readonly field cannot be required (clients may not send it)", f.Name, tag)
			}
		}
		props[name] = fs
	}
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s, nil
}

func typeSchema(t reflect.Type, seen map[reflect.Type]bool) (map[string]any, error) {
	if t == timeType {
		return map[string]any{"type": "string", "format": "date-time"}, nil
	}
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
		return map[string]any{}, nil // custom JSON encoding: no constraint can be derived
	}
	switch t.Kind() {
	case reflect.Pointer:
		s, err := typeSchema(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		if typ, ok := s["type"].(string); ok {
			s["type"] = []string{typ, "null"}
		}
		return s, nil
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}, nil
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string"}, nil // []byte is base64 in JSON
		}
		items, err := typeSchema(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key type %s is not a string", t.Key())
		}
		return map[string]any{"type": "object"}, nil
	case reflect.Struct:
		return structSchema(t, seen)
	case reflect.Interface:
		return map[string]any{}, nil
	}
	return nil, fmt.Errorf("type %s cannot be represented in JSON", t)
}

// checkReadOnly refuses, with a 400 errno 107 naming each, the read-only fields whose value
// in data differs from old's (old is nil on a creation: any value differs), absence
// included. A client value is refused rather than dropped so that a client learns at once
// that the field is not its own; the stored value itself is accepted so that an object read
// and sent back whole (GET then PUT) is not refused. Callers fill in, beforehand, the fields
// a write keeps when the client omits them (PUT), and a PATCH keeps them by merging.
func (v *validator) checkReadOnly(data, old map[string]any) error {
	if v == nil || len(v.readOnly) == 0 {
		return nil
	}
	var details []protocol.Detail
	for _, k := range v.readOnly {
		nv, inNew := data[k]
		ov, inOld := old[k]
		if inNew == inOld && reflect.DeepEqual(nv, ov) {
			continue
		}
		details = append(details, protocol.Detail{Location: "body", Name: "data." + k,
			Description: k + " is read-only: it is set by the server"})
	}
	if len(details) > 0 {
		return protocol.InvalidParameters(details...)
	}
	return nil
}

// keepReadOnly copies into data the read-only fields of old that data lacks, so that a
// write replacing the object (PUT) keeps what the server set.
func (v *validator) keepReadOnly(data, old map[string]any) {
	if v == nil {
		return
	}
	for _, k := range v.readOnly {
		if _, has := data[k]; !has {
			if ov, ok := old[k]; ok {
				data[k] = ov
			}
		}
	}
}
