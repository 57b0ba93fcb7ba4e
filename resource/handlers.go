package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/internal/finalwrite"
	"github.com/cliquet-go/cliquet/middleware"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// Each handler follows the same one-way flow: parse and validate the protocol input
// (headers, querystring, body) → authorize → storage (one call, two when the existing object
// is needed first) → notify → render.

var (
	exposePlural     = []string{"ETag", "Last-Modified", "Next-Page", "Cache-Control", "Expires", "Pragma"}
	exposePluralHead = []string{"ETag", "Last-Modified", "Next-Page", "Cache-Control", "Expires", "Pragma", "Total-Objects", "Total-Records"}
	exposeObject     = []string{"ETag", "Last-Modified", "Cache-Control", "Expires", "Pragma"}
)

func encodeQuery(params map[string][]string) string { return url.Values(params).Encode() }

// common parses what every request carries: Accept and the precondition headers.
func common(r *http.Request) (preconditions, error) {
	if !acceptsJSON(r.Header) {
		return preconditions{}, protocol.NotAcceptable()
	}
	return parsePreconditions(r.Header)
}

// listInput parses the querystring of GET, HEAD and DELETE on the plural URL.
func (rs *core) listInput(r *http.Request, withFields bool) (url.Values, listQuery, error) {
	var lq listQuery
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, lq, err
	}
	if lq.filters, lq.includeDeleted, lq.alert, err = rs.parseFilters(q, rs.now()); err != nil {
		return nil, lq, err
	}
	if lq.sort, err = rs.parseSort(q); err != nil {
		return nil, lq, err
	}
	if lq.limit, err = rs.parseLimit(q); err != nil {
		return nil, lq, err
	}
	if lq.pagination, lq.offset, err = parseToken(q, lq.sort, rs.now(), rs.tokenValidity); err != nil {
		return nil, lq, err
	}
	if withFields {
		if lq.fields, err = rs.parseFields(q); err != nil {
			return nil, lq, err
		}
	}
	return q, lq, nil
}

// renderObject appends obj (projected on fields when given) to buf.
func renderObject(buf []byte, obj storage.Object, fields []string) []byte {
	if fields == nil || obj.Deleted {
		return obj.AppendJSON(buf)
	}
	b, _ := protocol.MarshalJSON(project(decodeData(obj), fields))
	return append(buf, b...)
}

// bodies recycles the buffers that response bodies are rendered into. A writer must not
// retain what Write is given (io.Writer), so a buffer is free again once its body is
// written. Recycling spares a GET one allocation, and a page of 20 records the five of a
// buffer grown from empty.
type bodies struct{ pool sync.Pool }

// maxPooledBody is the largest buffer kept for reuse; a larger one (a long page) is left
// to the garbage collector, so that one large response does not pin its memory.
const maxPooledBody = 64 << 10

// get returns an empty buffer.
func (p *bodies) get() *[]byte {
	if b, ok := p.pool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

// put gives back b, which holds buf (b's buffer, grown) once the body is written.
func (p *bodies) put(b *[]byte, buf []byte) {
	if cap(buf) > maxPooledBody {
		return
	}
	*b = buf[:0]
	p.pool.Put(b)
}

// writeOne renders {"data": obj} and, when perms is not nil (shareable resources),
// "permissions".
func (rs *core) writeOne(w http.ResponseWriter, status int, obj storage.Object, fields []string, perms permission.Set) {
	b := rs.bodies.get()
	buf := append(*b, `{"data":`...)
	buf = renderObject(buf, obj, fields)
	if perms != nil {
		p, _ := protocol.MarshalJSON(perms)
		buf = append(append(buf, `,"permissions":`...), p...)
	}
	buf = append(buf, '}')
	writeSmallJSON(w, status, buf)
	rs.bodies.put(b, buf)
}

// smallBody is the size of the buffer net/http fills before it sends a response's headers
// (bufferBeforeChunkingSize): a handler that writes no more before it returns gets a
// Content-Length computed by net/http from what it buffered.
const smallBody = 2048

// writeSmallJSON writes a JSON response (not for HEAD). A small body leaves Content-Length
// to net/http, which sets the same value on the wire and keeps the header map small; a
// larger body gets an explicit Content-Length, so that net/http does not chunk it.
func writeSmallJSON(w http.ResponseWriter, status int, body []byte) {
	if len(body) > smallBody {
		protocol.WriteRawJSON(w, status, body)
		return
	}
	w.Header().Set("Content-Type", protocol.ContentTypeJSON)
	w.WriteHeader(status)
	w.Write(body) //nolint:errcheck // the client went away; nothing to do
}

// writeList renders {"data": [objs...]}.
func (rs *core) writeList(w http.ResponseWriter, objs []storage.Object, fields []string) {
	b := rs.bodies.get()
	buf := append(*b, `{"data":[`...)
	for i, o := range objs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = renderObject(buf, o, fields)
	}
	buf = append(buf, "]}"...)
	protocol.WriteRawJSON(w, http.StatusOK, buf)
	rs.bodies.put(b, buf)
}

// listObjects answers GET and HEAD on the plural URL.
func (rs *Resource[T]) listObjects(w http.ResponseWriter, r *http.Request) error {
	head := r.Method == http.MethodHead
	pre, err := common(r)
	if err != nil {
		return err
	}
	q, lq, err := rs.listInput(r, true)
	if err != nil {
		return err
	}
	opts := storage.ListOptions{
		Filters: lq.filters, Sort: lq.sort, Pagination: lq.pagination,
		Limit: lq.limit + 1, IncludeDeleted: lq.includeDeleted, Since: deltaStart(lq.filters),
	}
	// Without preconditions nothing can stop the listing after the timestamp is read: the
	// page may be read with the timestamp, and even with the authorization data.
	readAhead := !head && pre == (preconditions{})
	var page *storage.ListOptions
	if readAhead {
		page = &opts
	}
	t, g, err := rs.authorizeList(r, page)
	if err != nil {
		return err
	}
	scope := t.scope
	opts.Filters = append(g.filters(), lq.filters...)
	ctx := r.Context()
	var (
		ts     int64
		objs   []storage.Object
		listed bool
	)
	if t.page != nil && !g.restricted {
		objs, ts, listed = t.page, t.pageTS, true
	} else if readAhead {
		objs, ts, err = rs.store.ListWithTimestamp(ctx, scope, opts)
		listed = true
	} else {
		ts, err = rs.store.Timestamp(ctx, scope)
	}
	if err != nil {
		return err
	}
	h := w.Header()
	setTimestamp(h, ts)
	rs.cacheHeaders(h, r)
	if lq.alert != "" {
		h.Set(protocol.HeaderAlert, lq.alert)
	}
	if head {
		middleware.ExposeHeaders(w, exposePluralHead...)
	} else {
		middleware.ExposeHeaders(w, exposePlural...)
	}
	if pre.notModified(ts) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if pre.failed(true, ts) { // plural endpoints always exist
		return modifiedMeanwhile(ts, nil)
	}
	if head {
		if opts.Since > 0 { // a HEAD answers what its GET would: 410 for a delta gone
			h, err := rs.store.Horizon(ctx, scope)
			if err == nil {
				err = storage.CheckHorizon(scope, opts.Since, h)
			}
			if err != nil {
				return err
			}
		}
		n, err := rs.store.Count(ctx, scope, opts.Filters)
		if err != nil {
			return err
		}
		h.Set(protocol.HeaderTotalObjects, strconv.Itoa(n))
		h.Set(protocol.HeaderTotalRecords, strconv.Itoa(n))
		h.Set("Content-Type", protocol.ContentTypeJSON)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if !listed {
		if objs, err = rs.store.List(ctx, scope, opts); err != nil {
			return err
		}
	}
	if len(objs) > lq.limit {
		objs = objs[:lq.limit]
		token := encodeToken(lq.sort, objs[len(objs)-1], lq.offset+len(objs), rs.now())
		h.Set(protocol.HeaderNextPage, rs.nextPageURL(r, q, lq.limit, token))
	}
	rs.notify(ctx, actionRead, scope, objs...)
	rs.writeList(w, objs, lq.fields)
	return nil
}

// deltaStart returns where the list of filters starts a delta, the changes after a timestamp
// that a client synchronising asks for (storage.ListOptions.Since): the largest lower bound
// the querystring puts on last_modified (_since and gt_ are exclusive, min_ inclusive), 0
// when there is none (a full listing). A delta starting before the collection's tombstone
// horizon is answered 410 errno 203, never with deletions missing.
func deltaStart(filters []storage.Filter) int64 {
	var since int64
	for _, f := range filters {
		ts, ok := f.Value.(int64)
		if f.Field != "last_modified" || !ok {
			continue
		}
		switch f.Op {
		case storage.GT:
			since = max(since, ts)
		case storage.MIN:
			since = max(since, ts-1)
		}
	}
	return since
}

// finalWrite marks ctx for a handler's storage write as the request's final one
// (finalwrite.Mark): within a unit of work that allows it (cliquet.Transaction,
// outside a batch and without before-commit listeners), and when it is the unit's first
// write, the backend may commit it on its own instead of holding its locks until the
// request's COMMIT. Only writes after which nothing can fail the request qualify: the
// writes of a shareable resource change its permissions too, and only the creations and
// replacements of writeWithACL qualify (their ACL is saved before the object). A later
// write in the same request, such as PUT's update after a racing create, or a retried
// conditional write, runs in the unit's transaction (the backend honours the mark once).
func (rs *core) finalWrite(ctx context.Context) context.Context {
	if rs.share != nil {
		return ctx
	}
	return finalwrite.Mark(ctx)
}

// aclJournal is the permission journal of cliquet.JournalPermission, told the state of an
// ACL that the authorization step read, so that it need not read it again.
type aclJournal interface {
	KnownACL(ctx context.Context, objectID string, set permission.Set)
}

// writeWithACL runs write, the storage write of a created or replaced object, and saves
// the object's ACL (shareable resources). For an object created with an id the server just
// chose (a POST without an id: no other request can address it yet), when the request's
// unit of work allows a final write, the ACL is saved first and the object is written as
// that final write, so that the collection's clock is held by that one statement only, not
// across the permission backend's round trips and the COMMIT; when the write fails, the
// unit rolls back (cliquet.RollbackUnit) and the permission journal undoes the ACL.
// Otherwise the ACL is saved after the object, inside the unit's transaction: with an id
// that another request may be creating or replacing at the same time, the loser must fail
// before it touches the ACL (an undo would restore a state read before the winner's
// change); and without a unit of work there is nothing to undo with.
func (rs *core) writeWithACL(r *http.Request, t *target, id string, b *body, write func(context.Context) (storage.Object, error)) (storage.Object, permission.Set, error) {
	ctx := r.Context()
	if rs.share == nil {
		obj, err := write(rs.finalWrite(ctx))
		return obj, nil, err
	}
	if final := finalwrite.Mark(ctx); t.newID != "" && finalwrite.Allowed(final) {
		if uri := t.uris.object(id); t.rights.acesOf == uri {
			if k, ok := rs.share.backend.(aclJournal); ok {
				k.KnownACL(ctx, uri, t.rights.aces) // read with the authorization data
			}
		}
		perms, err := rs.savePermissions(r, t, id, b)
		if err != nil {
			return storage.Object{}, nil, err
		}
		obj, err := write(final)
		if err != nil {
			cliquet.RollbackUnit(ctx)
			return storage.Object{}, nil, err
		}
		return obj, perms, nil
	}
	obj, err := write(ctx)
	if err != nil {
		return storage.Object{}, nil, err
	}
	perms, err := rs.savePermissions(r, t, id, b)
	return obj, perms, err
}

// createObject answers POST on the plural URL.
func (rs *Resource[T]) createObject(w http.ResponseWriter, r *http.Request) error {
	pre, err := common(r)
	if err != nil {
		return err
	}
	b, err := readBody(r, rs.permNames(), rs.maxPrincipals)
	if err != nil {
		return err
	}
	data := b.data
	id := ""
	if raw, ok := data["id"]; ok {
		s, isStr := raw.(string)
		if !isStr || !rs.validID(s) {
			return protocol.InvalidParam("body", "data.id", "Invalid object id")
		}
		id = s
	}
	if err := rs.validateNew(data); err != nil {
		return err
	}
	if err := rs.schema.checkReadOnly(data, nil); err != nil {
		return err
	}
	newID := "" // the id of the object to create, chosen now so that its ACL is read with the rest
	if id == "" {
		newID = rs.ids.New()
		if data == nil {
			data = map[string]any{}
		}
		if pre == (preconditions{}) {
			t, created, perms, ok, err := rs.createAhead(r, b, data, newID)
			if err != nil {
				return err
			}
			if ok {
				setTimestamp(w.Header(), created.LastModified)
				rs.notify(r.Context(), actionCreate, t.scope, created)
				rs.writeOne(w, http.StatusCreated, created, nil, perms)
				return nil
			}
		}
	}
	t, _, err := rs.authorize(r, true, id, newID)
	if err != nil {
		return err
	}
	scope, ctx := t.scope, r.Context()
	existing, err := t.existing(ctx)
	if err != nil {
		return err
	}
	if err := rs.checkObjectPreconditions(r, pre, scope, existing, false); err != nil {
		return err
	}
	if existing != nil {
		perms, err := rs.loadPermissions(r, t, id)
		if err != nil {
			return err
		}
		setTimestamp(w.Header(), existing.LastModified)
		rs.notify(ctx, actionRead, scope, *existing)
		rs.writeOne(w, http.StatusOK, *existing, nil, perms)
		return nil
	}
	if id == "" {
		id = newID
	}
	if data == nil {
		data = map[string]any{}
	}
	obj, err := rs.prepare(t, id, data, nil, b.order)
	if err != nil {
		return err
	}
	created, perms, joint, err := rs.createJointly(r, t, scope, obj, b)
	if !joint && err == nil {
		created, perms, err = rs.writeWithACL(r, t, id, b, func(ctx context.Context) (storage.Object, error) {
			return rs.store.Create(ctx, scope, obj)
		})
	}
	if err != nil {
		return err
	}
	setTimestamp(w.Header(), created.LastModified)
	rs.notify(ctx, actionCreate, scope, created)
	rs.writeOne(w, http.StatusCreated, created, nil, perms)
	return nil
}

// checkObjectPreconditions applies If-Match / If-None-Match to an object that may not exist;
// the timestamp reported for a missing object is the collection's.
//
// hide leaves the existing object out of the 412 details (users who may not read it).
func (rs *core) checkObjectPreconditions(r *http.Request, pre preconditions, scope storage.Scope, existing *storage.Object, hide bool) error {
	if existing != nil {
		if pre.failed(true, existing.LastModified) {
			if hide {
				return modifiedMeanwhile(existing.LastModified, nil)
			}
			return modifiedMeanwhile(existing.LastModified, existing)
		}
		return nil
	}
	if pre.failed(false, 0) {
		ts, err := rs.store.Timestamp(r.Context(), scope)
		if err != nil {
			return err
		}
		return modifiedMeanwhile(ts, nil)
	}
	return nil
}

// deleteObjects answers DELETE on the plural URL: it deletes the matching objects, one page
// at a time, and returns their tombstones.
func (rs *Resource[T]) deleteObjects(w http.ResponseWriter, r *http.Request) error {
	pre, err := common(r)
	if err != nil {
		return err
	}
	q, lq, err := rs.listInput(r, false)
	if err != nil {
		return err
	}
	t, g, err := rs.authorize(r, true, "", "")
	if err != nil {
		return err
	}
	scope, ctx := t.scope, r.Context()
	lq.filters = append(g.filters(), lq.filters...)
	if pre.ifMatch || pre.ifNoneMatch {
		ts, err := rs.store.Timestamp(ctx, scope)
		if err != nil {
			return err
		}
		if pre.failed(true, ts) {
			return modifiedMeanwhile(ts, nil)
		}
	}
	opts := storage.ListOptions{Filters: lq.filters, Sort: lq.sort, Pagination: lq.pagination, Limit: lq.limit + 1}
	live, err := rs.store.List(ctx, scope, opts)
	if err != nil {
		return err
	}
	opts.Limit = lq.limit
	deleted, err := rs.store.DeleteAll(ctx, scope, opts)
	if err != nil {
		return err
	}
	if err := rs.deleteChildren(r, t, deleted...); err != nil {
		return err
	}
	if err := rs.deletePermissions(r, t, deleted...); err != nil {
		return err
	}
	h := w.Header()
	if len(deleted) > 0 {
		var latest int64
		for _, d := range deleted {
			latest = max(latest, d.LastModified)
		}
		setTimestamp(h, latest)
		if len(live) > lq.limit {
			token := encodeToken(lq.sort, live[lq.limit-1], lq.offset+len(deleted), rs.now())
			h.Set(protocol.HeaderNextPage, rs.nextPageURL(r, q, lq.limit, token))
		}
		rs.notify(ctx, actionWrite, scope, withPrevious(deleted, live)...)
	} else {
		ts, err := rs.store.Timestamp(ctx, scope)
		if err != nil {
			return err
		}
		setTimestamp(h, ts)
		rs.notify(ctx, actionRead, scope) // nothing deleted: a read, as in kinto
	}
	if lq.alert != "" {
		h.Set(protocol.HeaderAlert, lq.alert)
	}
	rs.writeList(w, deleted, nil)
	return nil
}

// getObject answers GET and HEAD on the object URL.
func (rs *Resource[T]) getObject(w http.ResponseWriter, r *http.Request) error {
	pre, err := common(r)
	if err != nil {
		return err
	}
	id, err := rs.objectID(r)
	if err != nil {
		return err
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	fields, err := rs.parseFields(q)
	if err != nil {
		return err
	}
	t, _, err := rs.authorize(r, false, id, "")
	if err != nil {
		return err
	}
	scope, ctx := t.scope, r.Context()
	found, err := t.existing(ctx)
	if err != nil {
		return err
	} else if found == nil {
		return rs.notFound(id)
	}
	obj := *found
	h := w.Header()
	setTimestamp(h, obj.LastModified)
	rs.cacheHeaders(h, r)
	middleware.ExposeHeaders(w, exposeObject...)
	if pre.notModified(obj.LastModified) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if pre.failed(true, obj.LastModified) {
		return modifiedMeanwhile(obj.LastModified, &obj)
	}
	rs.notify(ctx, actionRead, scope, obj)
	if r.Method == http.MethodHead {
		h.Set("Content-Type", protocol.ContentTypeJSON)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	perms, err := rs.loadPermissions(r, t, id)
	if err != nil {
		return err
	}
	rs.writeOne(w, http.StatusOK, obj, fields, perms)
	return nil
}

// objectWriteInput parses what PUT and PATCH on the object URL share: the common headers
// (preconditions), the id in the URL and the body.
func (rs *Resource[T]) objectWriteInput(r *http.Request) (preconditions, string, *body, error) {
	pre, err := common(r)
	if err != nil {
		return preconditions{}, "", nil, err
	}
	id, err := rs.objectID(r)
	if err != nil {
		return preconditions{}, "", nil, err
	}
	b, err := readBody(r, rs.permNames(), rs.maxPrincipals)
	if err != nil {
		return preconditions{}, "", nil, err
	}
	return pre, id, b, nil
}

// putObject answers PUT on the object URL: create (201) or replace (200).
func (rs *Resource[T]) putObject(w http.ResponseWriter, r *http.Request) error {
	pre, id, b, err := rs.objectWriteInput(r)
	if err != nil {
		return err
	}
	if raw, ok := b.data["id"]; ok && raw != id {
		return protocol.InvalidParam("body", "data.id", "Object id does not match existing object")
	}
	if err := rs.validateNew(b.data); err != nil {
		return err
	}
	t, g, err := rs.authorize(r, false, id, "")
	if err != nil {
		return err
	}
	scope, ctx := t.scope, r.Context()
	existing, err := t.existing(ctx)
	if err != nil {
		return err
	}
	if err := rs.checkObjectPreconditions(r, pre, scope, existing, g.hideExisting); err != nil {
		return err
	}
	data, ord := b.data, b.order
	if data == nil {
		data = map[string]any{}
		if existing != nil {
			data, ord = decodeData(*existing), orderOf(existing.Data)
			delete(data, "last_modified")
		}
	}
	if b.data != nil && rs.schema != nil {
		var old map[string]any
		if existing != nil {
			old = decodeData(*existing)
			rs.schema.keepReadOnly(data, old)
		}
		if err := rs.schema.checkReadOnly(data, old); err != nil {
			return err
		}
	}
	obj, err := rs.prepare(t, id, data, existing, ord)
	if err != nil {
		return err
	}
	// Conditional writes (see conditional.go): the replace is conditional with If-Match, and
	// when the new data comes from the existing object (no body).
	status := http.StatusOK
	stored, perms, err := rs.writeWithACL(r, t, id, b, func(wctx context.Context) (storage.Object, error) {
		if existing != nil {
			stored, err := rs.store.Update(wctx, scope, obj, conditionIf(pre.ifMatch || b.data == nil, *existing))
			if errors.Is(err, storage.ErrModified) {
				return stored, rs.staleWrite(ctx, scope, id, g.hideExisting)
			}
			return stored, err
		}
		status = http.StatusCreated
		stored, err := rs.store.Create(wctx, scope, obj)
		var ue *storage.UnicityError
		if errors.As(err, &ue) {
			// Created meanwhile by another request.
			if pre.ifNoneMatch || rs.share != nil {
				return stored, rs.staleWrite(ctx, scope, id, rs.share != nil)
			}
			if ue.Existing.ID != "" { // else already deleted again: the upsert creates
				existing, status = &ue.Existing, http.StatusOK
			}
			stored, err = rs.store.Update(ctx, scope, obj, storage.Condition{})
		}
		return stored, err
	})
	if err != nil {
		return err
	}
	setTimestamp(w.Header(), stored.LastModified)
	if existing != nil {
		rs.notify(ctx, actionWrite, scope, stored, *existing)
	} else {
		rs.notify(ctx, actionCreate, scope, stored)
	}
	rs.writeOne(w, status, stored, nil, perms)
	return nil
}

// patchObject answers PATCH on the object URL (shallow merge, JSON merge patch or JSON patch).
func (rs *Resource[T]) patchObject(w http.ResponseWriter, r *http.Request) error {
	pre, id, b, err := rs.objectWriteInput(r)
	if err != nil {
		return err
	}
	if b.kind != bodyJSONPatch && b.data == nil && !b.hasPerms {
		return protocol.InvalidParam("body", "data", "Provide at least one of data or permissions")
	}
	if b.kind == bodyJSONPatch && b.empty {
		return protocol.InvalidParam("body", "", "Provide a list of JSON Patch operations")
	}
	behavior := strings.ToLower(strings.TrimSpace(r.Header.Get(protocol.HeaderResponseBehavior)))
	switch behavior {
	case "", "full", "light", "diff":
	default:
		return protocol.InvalidParam("headers", protocol.HeaderResponseBehavior,
			"Response-Behavior should be one of ['full', 'light', 'diff']")
	}
	t, _, err := rs.authorize(r, false, id, "")
	if err != nil {
		return err
	}
	scope, ctx := t.scope, r.Context()
	found, err := t.existing(ctx)
	if err != nil {
		return err
	} else if found == nil {
		return rs.notFound(id)
	}
	// Read-merge-write, conditional on the timestamp read: when another write comes first,
	// read again and merge again (see conditional.go).
	var (
		existing, stored storage.Object
		old, applied     map[string]any
		write            bool
	)
	for attempt := 1; ; attempt++ {
		existing = *found
		if pre.failed(true, existing.LastModified) {
			return modifiedMeanwhile(existing.LastModified, &existing)
		}
		var oldPerms permission.Set
		if rs.share != nil && b.kind == bodyJSONPatch {
			if oldPerms, err = rs.share.backend.ObjectPermissions(ctx, t.uris.object(id)); err != nil {
				return err
			}
		}
		old = decodeData(existing)
		var updated map[string]any
		var changed *keyOrder
		updated, applied, changed, err = rs.applyChanges(b, old, rs.permNames(), oldPerms)
		if err != nil {
			return err
		}
		if v, ok := updated["id"]; ok && v != id {
			return protocol.InvalidParam("body", "data.id", "Object id does not match existing object")
		}
		if rs.schema != nil {
			if err := rs.schema.checkReadOnly(updated, old); err != nil {
				return err
			}
			if err := rs.schema.validate(stripMeta(updated)); err != nil {
				return err
			}
		}
		obj, err := rs.prepare(t, id, updated, &existing, mergeOrders(orderOf(existing.Data), changed))
		if err != nil {
			return err
		}
		if err := rs.checkObjectSize(obj.Data); err != nil {
			return err
		}
		stored = existing
		// Shareable resources always write, as kinto.core does: permission changes bump the
		// object's timestamp too.
		write = rs.share != nil || obj.LastModified != 0 || string(canonical(obj.Data)) != string(canonical(existing.Data))
		if !write {
			break
		}
		stored, err = rs.store.Update(rs.finalWrite(ctx), scope, obj, storage.Condition{LastModified: existing.LastModified})
		if err == nil {
			break
		} else if !errors.Is(err, storage.ErrModified) {
			return err
		} else if attempt == maxWriteAttempts {
			return rs.staleWrite(ctx, scope, id, false)
		}
		if err := writeBackoff(ctx, attempt); err != nil {
			return err
		}
		if found, err = rs.current(ctx, scope, id); err != nil {
			return err
		} else if found == nil {
			return rs.notFound(id) // deleted meanwhile
		}
	}
	if write {
		perms, err := rs.savePermissions(r, t, id, b)
		if err != nil {
			return err
		}
		t.perms = perms
		rs.notify(ctx, actionWrite, scope, stored, existing)
	}
	setTimestamp(w.Header(), stored.LastModified)
	if behavior == "light" || behavior == "diff" {
		result := decodeData(stored)
		data := map[string]any{}
		for k, v := range applied {
			nv, present := result[k]
			if !present || reflect.DeepEqual(old[k], nv) && hasKey(old, k) {
				continue // unchanged
			}
			if behavior == "diff" && reflect.DeepEqual(v, nv) {
				continue // the client already has this value
			}
			data[k] = nv
		}
		protocol.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
		return nil
	}
	rs.writeOne(w, http.StatusOK, stored, nil, t.perms)
	return nil
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

// applyChanges merges a PATCH body into the existing object (decoded, with id and
// last_modified). It returns the new object, the changes as the client sent them, and the
// key order of the changes (see keyOrder).
//
// On shareable resources (names is not nil) a JSON Patch may also change the permissions
// (ops on /permissions/<perm>/<principal>, starting from oldPerms): the result replaces
// b.perms, as full replacements.
//
// The result is bounded by max_request_body_bytes: a JSON Patch's copies may not add more
// than that (a few copies of the object into itself would otherwise double it each time),
// and a patched document larger than that is refused before it is decoded.
func (rs *core) applyChanges(b *body, old map[string]any, names []string, oldPerms permission.Set) (updated, applied map[string]any, changed *keyOrder, err error) {
	if b.kind != bodyJSONPatch && b.data == nil {
		return maps.Clone(old), map[string]any{}, nil, nil // permissions only
	}
	switch b.kind {
	case bodyJSONPatch:
		var perms any = map[string]any{}
		if names != nil {
			perms = jsonPatchPermissions(names, oldPerms)
		}
		doc, _ := marshalNoHTMLEscape(map[string]any{"data": old, "permissions": perms})
		opts := jsonpatch.NewApplyOptions()
		opts.AccumulatedCopySizeLimit = int64(rs.maxObjectBytes) // 0: no limit
		opts.EscapeHTML = false                                  // copies count '<' as one byte
		out, perr := b.patch.ApplyWithOptions(doc, opts)
		var tooLarge *jsonpatch.AccumulatedCopySizeError
		if errors.As(perr, &tooLarge) {
			return nil, nil, nil, protocol.InvalidParam("body", "data", fmt.Sprintf(
				"JSON Patch operation failed: its copies add more than max_request_body_bytes (%d)", rs.maxObjectBytes))
		}
		if perr != nil {
			return nil, nil, nil, protocol.InvalidParam("body", "", "JSON Patch operation failed: "+perr.Error())
		}
		var res struct {
			Data        json.RawMessage `json:"data"`
			Permissions json.RawMessage `json:"permissions"`
		}
		if err := json.Unmarshal(out, &res); err != nil {
			return nil, nil, nil, protocol.InvalidParam("body", "", "JSON Patch operation failed: "+err.Error())
		}
		if err := rs.checkObjectSize(res.Data); err != nil {
			return nil, nil, nil, err
		}
		if err := decodeJSON(res.Data, &updated); err != nil || updated == nil {
			return nil, nil, nil, protocol.InvalidParam("body", "data", "JSON Patch operation failed: data should be an object")
		}
		if names == nil {
			if p := string(canonical(res.Permissions)); p != "{}" {
				return nil, nil, nil, protocol.InvalidParam("body", "permissions", "permissions is not allowed on this resource")
			}
			return updated, updated, orderOf(res.Data), nil
		}
		set, err := jsonPatchResult(names, res.Permissions, rs.maxPrincipals)
		if err != nil {
			return nil, nil, nil, err
		}
		b.hasPerms, b.perms = true, set
		return updated, updated, orderOf(res.Data), nil
	case bodyMergePatch:
		docJSON, _ := json.Marshal(old)
		patchJSON, _ := json.Marshal(b.data)
		out, perr := jsonpatch.MergePatch(docJSON, patchJSON)
		if perr != nil {
			return nil, nil, nil, protocol.InvalidParam("body", "data", "Invalid merge patch: "+perr.Error())
		}
		if err := rs.checkObjectSize(out); err != nil {
			return nil, nil, nil, err
		}
		if err := decodeJSON(out, &updated); err != nil {
			return nil, nil, nil, err
		}
		return updated, b.data, b.order, nil
	default:
		updated = make(map[string]any, len(old)+len(b.data))
		for k, v := range old {
			updated[k] = v
		}
		for k, v := range b.data {
			updated[k] = v
		}
		return updated, b.data, b.order, nil
	}
}

// marshalNoHTMLEscape is json.Marshal without the HTML escapes ('<' written \u003c), so
// that a JSON Patch's copies are measured in the bytes a client sends.
func marshalNoHTMLEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// deleteObject answers DELETE on the object URL and returns the tombstone.
func (rs *Resource[T]) deleteObject(w http.ResponseWriter, r *http.Request) error {
	pre, err := common(r)
	if err != nil {
		return err
	}
	id, err := rs.objectID(r)
	if err != nil {
		return err
	}
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	var forced int64
	if raw, ok := q["last_modified"]; ok && len(raw) > 0 {
		ts, valid := parseTimestamp(raw[len(raw)-1], rs.now())
		if !valid {
			return protocol.InvalidParam("querystring", "last_modified", "Invalid value for last_modified")
		}
		forced = ts
	}
	t, _, err := rs.authorize(r, false, id, "")
	if err != nil {
		return err
	}
	scope, ctx := t.scope, r.Context()
	found, err := t.existing(ctx)
	if err != nil {
		return err
	} else if found == nil {
		return rs.notFound(id)
	}
	existing := *found
	if pre.failed(true, existing.LastModified) {
		return modifiedMeanwhile(existing.LastModified, &existing)
	}
	if forced <= existing.LastModified {
		forced = 0
	}
	// With If-Match, delete only the object the precondition was checked on.
	tomb, err := rs.store.Delete(rs.finalWrite(ctx), scope, id, forced, conditionIf(pre.ifMatch, existing))
	if errors.Is(err, storage.ErrModified) {
		return rs.staleWrite(ctx, scope, id, false)
	} else if errors.Is(err, storage.ErrNotFound) {
		return rs.notFound(id) // deleted meanwhile
	} else if err != nil {
		return err
	}
	if err := rs.deleteChildren(r, t, tomb); err != nil {
		return err
	}
	if err := rs.deletePermissions(r, t, tomb); err != nil {
		return err
	}
	setTimestamp(w.Header(), tomb.LastModified)
	rs.notify(ctx, actionWrite, scope, tomb, existing)
	rs.writeOne(w, http.StatusOK, tomb, nil, nil)
	return nil
}
