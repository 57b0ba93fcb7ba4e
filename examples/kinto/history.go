package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
)

// Kinto's history plugin (kinto.plugins.history, on when the includes setting lists it): every
// change of a bucket, group, collection or record leaves an entry in its bucket's history,
// /buckets/{bid}/history, a plural endpoint (GET, HEAD and DELETE; entries have no URL of
// their own) read with the resource protocol's filters, sorting and pagination. The web admin
// shows it in the History tabs of buckets, groups, collections and records.

// historyPlugin is the name that turns the plugin on in the includes setting.
const historyPlugin = "kinto.plugins.history"

// historySchema lists the fields of history entries: filtering or sorting on another field
// is refused (400), as Kinto does.
var historySchema = []byte(`{"type": "object", "properties": {
	"user_id": {}, "uri": {"type": "string"}, "action": {"type": "string"},
	"date": {"type": "string"}, "resource_name": {"type": "string"},
	"bucket_id": {"type": "string"}, "collection_id": {"type": "string"},
	"group_id": {"type": "string"}, "record_id": {"type": "string"},
	"target": {"type": "object"}}}`)

// historyScope is the storage scope of the history entries of the bucket bid.
func historyScope(bid string) storage.Scope {
	return storage.Scope{Resource: "history", Parent: bucketURI(bid)}
}

// mountHistory registers the history resource under buckets and the subscriber that writes
// the entries, and announces the capability, when the includes setting lists the plugin.
func (s *server) mountHistory(buckets resource.Node) error {
	if !slices.Contains(s.app.Settings.List("includes"), historyPlugin) {
		return nil
	}
	explicit, err := s.app.Settings.Bool("explicit_permissions")
	if err != nil {
		return err
	}
	s.historyACLs = explicit
	if _, err := resource.Register(s.app, resource.Spec[resource.Object]{
		Name: "history", Under: buckets,
		Path: "/buckets/{bucket_id}/history", ObjectPath: "/buckets/{bucket_id}/history/{id}",
		Schema:        historySchema,
		PluralMethods: []string{"GET", "DELETE"}, ObjectMethods: []string{},
		Sharing: &resource.Sharing{},
	}); err != nil {
		return err
	}
	s.app.Subscribe(events.ResourceChanged, s.onChangedForHistory,
		events.ForResources("bucket", "group", "collection", "record"))
	return s.app.AddCapability("history", "Track changes on data.",
		"http://kinto.readthedocs.io/en/latest/api/1.x/history.html", nil)
}

// onChangedForHistory writes one history entry per object of a change, inside the request's
// unit of work (a rolled-back request leaves no entry). An entry holds the action, the user,
// the date, the object's URI and ids, and the object as it is after the change (a tombstone
// for a deletion) with its permissions. Its read permission goes to whoever may read the
// bucket, the collection (for collections and records) or the object itself, when
// explicit_permissions is on; otherwise it follows the bucket's permissions only.
//
// A change whose parent is gone leaves no entry, as Kinto's cascades leave none: a deleted
// bucket's entries go with it (the toolkit deletes what lies under a bucket), and the
// deletions of children that the toolkit reports with a bucket's or a collection's are not
// tracked, so that deleting a collection is one entry, not one per record.
func (s *server) onChangedForHistory(ctx context.Context, e events.Event) error {
	payload := e.Payload()
	delete(payload, "timestamp") // the target's last_modified says it
	bid, _ := payload["bucket_id"].(string)
	cid, inCollection := payload["collection_id"].(string)
	switch e.ResourceName {
	case "record":
		if gone, err := s.isGone(ctx, collectionScope(bid), cid); gone || err != nil {
			return err
		}
	case "collection", "group":
		if gone, err := s.isGone(ctx, bucketScope(), bid); gone || err != nil {
			return err
		}
	}
	for _, imp := range e.Impacted {
		target := imp.New
		if target == nil {
			continue
		}
		if e.ResourceName == "bucket" {
			if bid = target.ID; target.Deleted {
				continue
			}
		}
		uri := e.Parent + "/" + e.ResourceName + "s/" + target.ID
		readers := []string{bucketURI(bid)}
		if inCollection {
			readers = append(readers, collectionURI(bid, cid))
		}
		if err := s.writeHistoryEntry(ctx, e.ResourceName, bid, uri, *target, payload, readers); err != nil {
			return err
		}
	}
	return nil
}

// isGone reports whether the object id of scope does not exist (any more).
func (s *server) isGone(ctx context.Context, scope storage.Scope, id string) (bool, error) {
	_, err := s.store.Get(ctx, scope, id)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	return false, err
}

// writeHistoryEntry stores the entry of one changed object of resource name (target, at
// uri) in the history of bucket bid, and its ACL: read for the readers and writers of the
// objects of readers (URIs) and of the object itself (see onChangedForHistory).
func (s *server) writeHistoryEntry(ctx context.Context, name, bid, uri string, target storage.Object, payload map[string]any, readers []string) error {
	perms, err := s.perms.ObjectPermissions(ctx, uri)
	if err != nil {
		return err
	}
	if perms == nil {
		perms = permission.Set{}
	}
	entry := make(map[string]any, len(payload)+4)
	for k, v := range payload {
		entry[k] = v
	}
	// Only the entries of buckets carry bucket_id (the history is the bucket's), as Kinto's.
	delete(entry, "bucket_id")
	entry[name+"_id"] = target.ID
	entry["uri"] = uri
	entry["date"] = time.Now().UTC().Format("2006-01-02T15:04:05.000000-07:00")
	entry["target"] = map[string]any{"data": json.RawMessage(target.AppendJSON(nil)), "permissions": perms}
	data, err := json.Marshal(entry)
	if err != nil {
		return err
	}
	created, err := s.store.Create(ctx, historyScope(bid), storage.Object{ID: resource.UUIDGenerator{}.New(), Data: data})
	if err != nil {
		return err
	}
	if !s.historyACLs {
		return nil
	}
	var principals []string
	add := func(set permission.Set) {
		for _, p := range append(slices.Clone(set["read"]), set["write"]...) {
			if !slices.Contains(principals, p) {
				principals = append(principals, p)
			}
		}
	}
	for _, r := range readers {
		set, err := s.perms.ObjectPermissions(ctx, r, "read", "write")
		if err != nil {
			return err
		}
		add(set)
	}
	add(perms)
	slices.Sort(principals)
	_, err = s.perms.ReplaceObjectPermissions(ctx, bucketURI(bid)+"/history/"+created.ID, permission.Set{"read": principals})
	return err
}
