package main

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/storage"
)

// Kinto keeps derived state in step with ResourceChanged subscribers, which the toolkit
// runs at the end of the request, inside its unit of work: a failure rolls the request back.

// onGroupsChanged maintains the user principals of group members: a member of
// /buckets/b/groups/g holds the principal "/buckets/b/groups/g" (kinto/views/groups.py).
func (s *server) onGroupsChanged(ctx context.Context, e cliquet.Event) error {
	for _, imp := range e.Impacted {
		var id string
		var before, after []string
		if imp.Old != nil {
			id, before = imp.Old.ID, members(*imp.Old)
		}
		if imp.New != nil {
			id, after = imp.New.ID, members(*imp.New)
		}
		uri := e.Parent + "/groups/" + id
		if imp.New != nil && imp.New.Deleted {
			if err := s.perms.RemovePrincipal(ctx, uri); err != nil {
				return err
			}
			continue
		}
		for _, m := range before {
			if !slices.Contains(after, m) {
				if err := s.perms.RemoveUserPrincipal(ctx, m, uri); err != nil {
					return err
				}
			}
		}
		for _, m := range after {
			if err := s.perms.AddUserPrincipal(ctx, m, uri); err != nil {
				return err
			}
		}
	}
	return nil
}

// members reads a group's members list.
func members(o storage.Object) []string {
	var g struct {
		Members []string `json:"members"`
	}
	if o.Deleted || json.Unmarshal(o.Data, &g) != nil {
		return nil
	}
	return g.Members
}

// onParentsDeleted cascades the deletion of buckets and collections to everything below
// them (kinto/views/buckets.py and collections.py): children are deleted without leaving
// tombstones, their ACLs are removed, and the principals of deleted groups are revoked.
func (s *server) onParentsDeleted(ctx context.Context, e cliquet.Event) error {
	for _, imp := range e.Impacted {
		if imp.New == nil || !imp.New.Deleted {
			continue
		}
		var err error
		switch e.ResourceName {
		case "bucket":
			err = s.deleteBucketContent(ctx, imp.New.ID)
		case "collection":
			uri := e.Parent + "/collections/" + imp.New.ID
			err = s.purge(ctx, storage.Scope{Resource: "record", Parent: uri})
			if err == nil {
				err = s.perms.DeleteObjectPermissions(ctx, uri+"/*")
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// deleteBucketContent deletes the collections, records and groups of bucket bid.
func (s *server) deleteBucketContent(ctx context.Context, bid string) error {
	groups, err := s.store.List(ctx, groupScope(bid), storage.ListOptions{})
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := s.perms.RemovePrincipal(ctx, groupURI(bid, g.ID)); err != nil {
			return err
		}
	}
	colls, err := s.store.List(ctx, collectionScope(bid), storage.ListOptions{})
	if err != nil {
		return err
	}
	for _, c := range colls {
		if err := s.purge(ctx, recordScope(bid, c.ID)); err != nil {
			return err
		}
	}
	for _, scope := range []storage.Scope{collectionScope(bid), groupScope(bid)} {
		if err := s.purge(ctx, scope); err != nil {
			return err
		}
	}
	return s.perms.DeleteObjectPermissions(ctx, bucketURI(bid)+"/*")
}

// purge deletes every object of scope, tombstones included.
func (s *server) purge(ctx context.Context, scope storage.Scope) error {
	if _, err := s.store.DeleteAll(ctx, scope, storage.ListOptions{}); err != nil {
		return err
	}
	_, err := s.store.PurgeDeleted(ctx, scope, 0)
	return err
}
