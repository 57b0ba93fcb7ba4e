package main

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/storage"
)

// Kinto keeps derived state in step with ResourceChanged subscribers, which the toolkit
// runs at the end of the request, inside its unit of work: a failure rolls the request back.
// The toolkit deletes the descendants of a deleted bucket or collection itself, and reports
// the groups it deleted so to this subscriber too.

// onGroupsChanged maintains the user principals of group members: a member of
// /buckets/b/groups/g holds the principal "/buckets/b/groups/g" (kinto/views/groups.py).
func (s *server) onGroupsChanged(ctx context.Context, e events.Event) error {
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
