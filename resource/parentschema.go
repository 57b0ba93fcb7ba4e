package resource

import (
	"context"
	"strconv"
	"sync"

	"github.com/cliquet-go/cliquet/storage"
)

// schemaCache holds the compiled schemas of parent objects (Spec.ParentSchema), keyed by the
// parent's URI and timestamp: a parent that changes gets a new timestamp, hence a new entry,
// on every web head, without any invalidation message. The cache is bounded; when full, an
// arbitrary entry makes room.
type schemaCache struct {
	name    string
	extract func(parent storage.Object) ([]byte, error)

	mu      sync.Mutex
	entries map[string]*validator // nil: the parent has no schema
}

// maxParentSchemas bounds the compiled parent schemas kept per resource.
const maxParentSchemas = 1024

func newSchemaCache(name string, extract func(storage.Object) ([]byte, error)) *schemaCache {
	return &schemaCache{name: name, extract: extract, entries: map[string]*validator{}}
}

// validator returns the compiled schema of parent (whose URI is uri), nil when it has none.
func (c *schemaCache) validator(uri string, parent storage.Object) (*validator, error) {
	key := uri + "@" + strconv.FormatInt(parent.LastModified, 10)
	c.mu.Lock()
	v, ok := c.entries[key]
	c.mu.Unlock()
	if ok {
		return v, nil
	}
	doc, err := c.extract(parent)
	if err != nil {
		return nil, err
	}
	if doc != nil {
		if v, err = compileSchema(c.name, doc); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	if len(c.entries) >= maxParentSchemas {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = v
	c.mu.Unlock()
	return v, nil
}

// checkParentSchema validates data (without the protocol fields) against the schema of the
// target's parent object, when the resource has Spec.ParentSchema.
func (rs *core) checkParentSchema(t *target, data map[string]any) error {
	if rs.parentSchema == nil || len(t.ancestors) == 0 {
		return nil
	}
	d := len(t.ancestors) - 1
	v, err := rs.parentSchema.validator(t.chain.uris[d], t.ancestors[d])
	if err != nil || v == nil {
		return err
	}
	return v.validate(stripMeta(data))
}

type ancestorsKey struct{}

// Ancestors returns, inside the Process hook of a nested resource (Spec.Under), the
// ancestors of the object being written, root first, as the toolkit read them with it
// (Kinto's bucket and collection of a record). It returns nil elsewhere.
func Ancestors(ctx context.Context) []storage.Object {
	a, _ := ctx.Value(ancestorsKey{}).([]storage.Object)
	return a
}
