// Package redis is a permission backend on Redis (go-redis/v9). kinto.core has no Redis
// permission backend any more; this one is defined by the conformance suite in
// package permissiontest.
//
// # Keys
//
// Every key starts with the instance's prefix ([Options.Prefix], default [DefaultPrefix]), so
// several applications can share a database and [Backend.Flush] deletes only its own keys:
//
//	<prefix>user:<user id>                     set of the user's extra principals
//	<prefix>members:<principal>                set of the users holding it (for RemovePrincipal
//	                                           and PrincipalUsers)
//	<prefix>ace:<n>:<object id>:<permission>   set of principals; n is the byte length of the id
//	<prefix>object:<object id>                 set of the object's permissions with an ACE
//	<prefix>objects                            set of the object ids with an ACE
//	<prefix>principal:<principal>              set of "<n>:<permission><object id>" entries,
//	                                           the ACEs the principal appears in
//
// Writes that touch several keys run as Lua scripts, so the indexes stay consistent under
// concurrent use. The scripts compute key names, so the backend does not support Redis Cluster.
// AccessibleObjects reads the principals' index and matches the bindings ('*' patterns) in Go;
// DeleteObjectPermissions and MatchingObjects match their patterns against the objects set.
//
// # Settings
//
// It registers itself as "redis" (also "cliquet.permission.redis" and
// "kinto.core.permission.redis") and reads permission_url ("redis://host:6379/1"),
// permission_pool_size, permission_pool_timeout and permission_prefix (see [FromSettings]).
package redis

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/glob"
	"github.com/cliquet-go/cliquet/permission"
)

// DefaultPrefix is the key prefix used when [Options.Prefix] is empty.
const DefaultPrefix = "permission:"

func init() {
	permission.Register("redis", func(ctx context.Context, s *config.Settings) (permission.Backend, error) {
		return FromSettings(ctx, s)
	})
}

// Options configures [New].
type Options struct {
	// URL locates the server: "redis://[:password@]host:port/db" (see go-redis ParseURL, whose
	// query parameters such as dial_timeout are honoured). Required.
	URL string
	// PoolSize is the maximum number of connections. Zero means 25.
	PoolSize int
	// PoolTimeout bounds the wait for a free connection. Zero means 30 seconds.
	PoolTimeout time.Duration
	// Prefix starts every key of the backend. Empty means [DefaultPrefix].
	Prefix string
}

// Backend is the Redis permission backend. It is safe for concurrent use.
type Backend struct {
	client *goredis.Client
	prefix string
}

var _ permission.Backend = (*Backend)(nil)

// New builds a backend from opts. It does not connect: the first call does.
func New(opts Options) (*Backend, error) {
	if opts.URL == "" {
		return nil, errors.New("permission: redis: no URL (permission_url)")
	}
	o, err := goredis.ParseURL(opts.URL)
	if err != nil {
		return nil, errors.New("permission: redis: " + err.Error())
	}
	if opts.PoolSize < 0 || opts.PoolTimeout < 0 {
		return nil, errors.New("permission: redis: pool size and timeout must not be negative")
	}
	o.PoolSize = 25
	if opts.PoolSize > 0 {
		o.PoolSize = opts.PoolSize
	}
	o.PoolTimeout = 30 * time.Second
	if opts.PoolTimeout > 0 {
		o.PoolTimeout = opts.PoolTimeout
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Backend{client: goredis.NewClient(o), prefix: prefix}, nil
}

// FromSettings builds a backend from permission_url, permission_pool_size (default 25),
// permission_pool_timeout (seconds, default 30) and permission_prefix (default
// [DefaultPrefix]; empty also means [DefaultPrefix]).
func FromSettings(_ context.Context, s *config.Settings) (*Backend, error) {
	size, err := s.Int("permission_pool_size")
	if err != nil {
		return nil, err
	}
	timeout, err := s.Seconds("permission_pool_timeout")
	if err != nil {
		return nil, err
	}
	return New(Options{
		URL:         s.String("permission_url"),
		PoolSize:    size,
		PoolTimeout: timeout,
		Prefix:      s.String("permission_prefix"),
	})
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &permission.BackendError{Backend: "redis", Op: op, Err: err}
}

// Key names; see the package documentation. The Lua scripts build the same names.
func (b *Backend) userKey(userID string) string       { return b.prefix + "user:" + userID }
func (b *Backend) membersKey(principal string) string { return b.prefix + "members:" + principal }
func (b *Backend) objectKey(objectID string) string   { return b.prefix + "object:" + objectID }
func (b *Backend) objectsKey() string                 { return b.prefix + "objects" }
func (b *Backend) principalKey(principal string) string {
	return b.prefix + "principal:" + principal
}
func (b *Backend) aceKey(objectID, perm string) string {
	return b.prefix + "ace:" + strconv.Itoa(len(objectID)) + ":" + objectID + ":" + perm
}

// decodeEntry splits a principal index entry "<n>:<permission><object id>".
func decodeEntry(e string) (objectID, perm string, ok bool) {
	n, rest, found := strings.Cut(e, ":")
	if !found {
		return "", "", false
	}
	l, err := strconv.Atoi(n)
	if err != nil || l < 0 || l > len(rest) {
		return "", "", false
	}
	return rest[l:], rest[:l], true
}

// AddUserPrincipal implements [permission.Backend].
func (b *Backend) AddUserPrincipal(ctx context.Context, userID, principal string) error {
	if userID == "" || principal == "" {
		return permission.ErrInvalid
	}
	_, err := b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.SAdd(ctx, b.userKey(userID), principal)
		p.SAdd(ctx, b.membersKey(principal), userID)
		return nil
	})
	return wrap("add user principal", err)
}

// RemoveUserPrincipal implements [permission.Backend].
func (b *Backend) RemoveUserPrincipal(ctx context.Context, userID, principal string) error {
	_, err := b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.SRem(ctx, b.userKey(userID), principal)
		p.SRem(ctx, b.membersKey(principal), userID)
		return nil
	})
	return wrap("remove user principal", err)
}

// RemovePrincipal implements [permission.Backend].
func (b *Backend) RemovePrincipal(ctx context.Context, principal string) error {
	return wrap("remove principal", removePrincipal.Run(ctx, b.client, nil, b.prefix, principal).Err())
}

// UserPrincipals implements [permission.Backend]: the principals of userID and those given to
// every authenticated user (user id [permission.Authenticated]).
func (b *Backend) UserPrincipals(ctx context.Context, userID string) ([]string, error) {
	got, err := b.client.SUnion(ctx, b.userKey(userID), b.userKey(permission.Authenticated)).Result()
	if err != nil {
		return nil, wrap("user principals", err)
	}
	sort.Strings(got)
	return got, nil
}

// AddPrincipalToACE implements [permission.Backend].
func (b *Backend) AddPrincipalToACE(ctx context.Context, objectID, perm, principal string) error {
	if objectID == "" || perm == "" || principal == "" {
		return permission.ErrInvalid
	}
	return wrap("add principal to ace", addACE.Run(ctx, b.client, nil, b.prefix, objectID, perm, principal).Err())
}

// RemovePrincipalFromACE implements [permission.Backend].
func (b *Backend) RemovePrincipalFromACE(ctx context.Context, objectID, perm, principal string) error {
	return wrap("remove principal from ace", removeACE.Run(ctx, b.client, nil, b.prefix, objectID, perm, principal).Err())
}

// ObjectPermissions implements [permission.Backend].
func (b *Backend) ObjectPermissions(ctx context.Context, objectID string, perms ...string) (permission.Set, error) {
	const op = "object permissions"
	if len(perms) == 0 {
		var err error
		if perms, err = b.client.SMembers(ctx, b.objectKey(objectID)).Result(); err != nil {
			return nil, wrap(op, err)
		}
	}
	out := permission.Set{}
	if len(perms) == 0 {
		return out, nil
	}
	cmds := make([]*goredis.StringSliceCmd, len(perms))
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, perm := range perms {
			cmds[i] = p.SMembers(ctx, b.aceKey(objectID, perm))
		}
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	for i, perm := range perms {
		if principals := cmds[i].Val(); len(principals) > 0 {
			sort.Strings(principals)
			out[perm] = principals
		}
	}
	return out, nil
}

// ReplaceObjectPermissions implements [permission.Backend]; the replacement is atomic.
func (b *Backend) ReplaceObjectPermissions(ctx context.Context, objectID string, s permission.Set) (permission.Set, error) {
	if objectID == "" {
		return nil, permission.ErrInvalid
	}
	args := []any{b.prefix, objectID}
	for perm, principals := range s {
		if perm == "" {
			return nil, permission.ErrInvalid
		}
		args = append(args, perm, len(principals))
		for _, p := range principals {
			if p == "" {
				return nil, permission.ErrInvalid
			}
			args = append(args, p)
		}
	}
	flat, err := replaceACEs.Run(ctx, b.client, nil, args...).StringSlice()
	if err != nil {
		return nil, wrap("replace object permissions", err)
	}
	out := permission.Set{}
	for i := 0; i+1 < len(flat); i += 2 {
		out[flat[i]] = append(out[flat[i]], flat[i+1])
	}
	for _, principals := range out {
		sort.Strings(principals)
	}
	return out, nil
}

// DeleteObjectPermissions implements [permission.Backend]. Ids with '*' are patterns,
// matched against the set of objects with ACEs before the deletion.
func (b *Backend) DeleteObjectPermissions(ctx context.Context, objectIDs ...string) error {
	const op = "delete object permissions"
	if len(objectIDs) == 0 {
		return nil
	}
	var exact, patterns []string
	for _, id := range objectIDs {
		if strings.Contains(id, "*") {
			patterns = append(patterns, id)
		} else {
			exact = append(exact, id)
		}
	}
	if len(patterns) > 0 {
		all, err := b.client.SMembers(ctx, b.objectsKey()).Result()
		if err != nil {
			return wrap(op, err)
		}
		for _, obj := range all {
			for _, pattern := range patterns {
				if glob.Match(pattern, obj) {
					exact = append(exact, obj)
					break
				}
			}
		}
	}
	if len(exact) == 0 {
		return nil
	}
	args := make([]any, 0, len(exact)+1)
	args = append(args, b.prefix)
	for _, id := range exact {
		args = append(args, id)
	}
	return wrap(op, deleteObjects.Run(ctx, b.client, nil, args...).Err())
}

// MatchingObjects implements [permission.Backend]: the members of the objects set that
// match pattern ('*' matches any run of characters), as DeleteObjectPermissions matches them,
// sorted.
func (b *Backend) MatchingObjects(ctx context.Context, pattern string) ([]string, error) {
	const op = "matching objects"
	out := []string{}
	if !strings.Contains(pattern, "*") {
		ok, err := b.client.SIsMember(ctx, b.objectsKey(), pattern).Result()
		if err != nil {
			return nil, wrap(op, err)
		}
		if ok {
			out = append(out, pattern)
		}
		return out, nil
	}
	all, err := b.client.SMembers(ctx, b.objectsKey()).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	for _, obj := range all {
		if glob.Match(pattern, obj) {
			out = append(out, obj)
		}
	}
	sort.Strings(out)
	return out, nil
}

// PrincipalUsers implements [permission.Backend]: the members of the principal's reverse
// index (the users RemovePrincipal takes it from, the pseudo-user [permission.Authenticated]
// included), sorted.
func (b *Backend) PrincipalUsers(ctx context.Context, principal string) ([]string, error) {
	got, err := b.client.SMembers(ctx, b.membersKey(principal)).Result()
	if err != nil {
		return nil, wrap("principal users", err)
	}
	sort.Strings(got)
	return got, nil
}

// AuthorizedPrincipals implements [permission.Backend].
func (b *Backend) AuthorizedPrincipals(ctx context.Context, bound []permission.Binding) ([]string, error) {
	if len(bound) == 0 {
		return []string{}, nil
	}
	keys := make([]string, len(bound))
	for i, bd := range bound {
		keys[i] = b.aceKey(bd.ObjectID, bd.Permission)
	}
	got, err := b.client.SUnion(ctx, keys...).Result()
	if err != nil {
		return nil, wrap("authorized principals", err)
	}
	sort.Strings(got)
	return got, nil
}

// AccessibleObjects implements [permission.Backend].
func (b *Backend) AccessibleObjects(ctx context.Context, principals []string, bound []permission.Binding) (map[string][]string, error) {
	out := map[string][]string{}
	if len(principals) == 0 || len(bound) == 0 {
		return out, nil
	}
	keys := make([]string, len(principals))
	for i, p := range principals {
		keys[i] = b.principalKey(p)
	}
	entries, err := b.client.SUnion(ctx, keys...).Result()
	if err != nil {
		return nil, wrap("accessible objects", err)
	}
	found := map[string]map[string]bool{}
	for _, e := range entries {
		obj, perm, ok := decodeEntry(e)
		if !ok {
			continue
		}
		for _, bd := range bound {
			if bd.Permission == perm && glob.Match(bd.ObjectID, obj) {
				if found[obj] == nil {
					found[obj] = map[string]bool{}
				}
				found[obj][perm] = true
				break
			}
		}
	}
	for obj, perms := range found {
		list := make([]string, 0, len(perms))
		for perm := range perms {
			list = append(list, perm)
		}
		sort.Strings(list)
		out[obj] = list
	}
	return out, nil
}

// CheckPermission implements [permission.Backend].
func (b *Backend) CheckPermission(ctx context.Context, principals []string, bound []permission.Binding) (bool, error) {
	if len(principals) == 0 || len(bound) == 0 {
		return false, nil
	}
	members := make([]any, len(principals))
	for i, p := range principals {
		members[i] = p
	}
	cmds := make([]*goredis.BoolSliceCmd, len(bound))
	_, err := b.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, bd := range bound {
			cmds[i] = p.SMIsMember(ctx, b.aceKey(bd.ObjectID, bd.Permission), members...)
		}
		return nil
	})
	if err != nil {
		return false, wrap("check permission", err)
	}
	for _, c := range cmds {
		for _, ok := range c.Val() {
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}

// Access implements [permission.Backend]: one script (one round trip) reads the extra
// principals of q.UserID and of [permission.Authenticated] (none for ""), tests them and
// q.Principals against the ACE of each permission of each object of q.Objects (the
// permissions listed in its object key), and reads every ACE of q.Full. No round trip when
// the query can find nothing.
func (b *Backend) Access(ctx context.Context, q permission.AccessQuery) (permission.Access, error) {
	const op = "access"
	out := permission.Access{Groups: []string{}, Held: map[string][]string{}}
	if q.Full != "" {
		out.ACEs = permission.Set{}
	}
	if q.UserID == "" && q.Full == "" && (len(q.Objects) == 0 || len(q.Principals) == 0) {
		return out, nil
	}
	args := make([]any, 0, 7+len(q.Principals)+len(q.Objects))
	args = append(args, b.prefix)
	if q.UserID == "" {
		args = append(args, 0)
	} else {
		args = append(args, 2, q.UserID, permission.Authenticated)
	}
	args = append(args, len(q.Principals))
	for _, p := range q.Principals {
		args = append(args, p)
	}
	args = append(args, len(q.Objects))
	for _, o := range q.Objects {
		args = append(args, o)
	}
	args = append(args, q.Full)
	res, err := access.Run(ctx, b.client, nil, args...).Slice()
	if err != nil {
		return permission.Access{}, wrap(op, err)
	}
	lists := make([][]string, 3)
	if len(res) != len(lists) {
		return permission.Access{}, wrap(op, fmt.Errorf("the script returned %d lists, want 3", len(res)))
	}
	for i, r := range res {
		items, ok := r.([]any)
		if !ok {
			return permission.Access{}, wrap(op, fmt.Errorf("the script returned %T, want a list", r))
		}
		lists[i] = make([]string, len(items))
		for j, item := range items {
			if lists[i][j], ok = item.(string); !ok {
				return permission.Access{}, wrap(op, fmt.Errorf("the script returned %T, want a string", item))
			}
		}
	}
	out.Groups = append(out.Groups, lists[0]...)
	sort.Strings(out.Groups)
	for i := 0; i+1 < len(lists[1]); i += 2 {
		out.Held[lists[1][i]] = append(out.Held[lists[1][i]], lists[1][i+1])
	}
	for _, perms := range out.Held {
		sort.Strings(perms)
	}
	for i := 0; i+1 < len(lists[2]); i += 2 {
		out.ACEs[lists[2][i]] = append(out.ACEs[lists[2][i]], lists[2][i+1])
	}
	for _, principals := range out.ACEs {
		sort.Strings(principals)
	}
	return out, nil
}

// Flush implements [permission.Backend]: it deletes every key under the backend's prefix,
// and nothing else.
func (b *Backend) Flush(ctx context.Context) error {
	const op = "flush"
	iter := b.client.Scan(ctx, 0, globEscape(b.prefix)+"*", 1000).Iterator()
	batch := make([]string, 0, 500)
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == cap(batch) {
			if err := b.client.Unlink(ctx, batch...).Err(); err != nil {
				return wrap(op, err)
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return wrap(op, err)
	}
	if len(batch) > 0 {
		return wrap(op, b.client.Unlink(ctx, batch...).Err())
	}
	return nil
}

// Ping implements [permission.Backend]. It pings the server and reads a key; unless readonly,
// it also writes and deletes a heartbeat key.
func (b *Backend) Ping(ctx context.Context, readonly bool) error {
	const op = "ping"
	if err := b.client.Ping(ctx).Err(); err != nil {
		return wrap(op, err)
	}
	if err := b.client.Exists(ctx, b.objectsKey()).Err(); err != nil {
		return wrap(op, err)
	}
	if readonly {
		return nil
	}
	key := b.prefix + "heartbeat"
	_, err := b.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.Set(ctx, key, "alive", time.Minute)
		p.Del(ctx, key)
		return nil
	})
	return wrap(op, err)
}

// InitializeSchema returns permission.ErrNotSupported: Redis keys need no schema.
func (b *Backend) InitializeSchema(context.Context, bool) error { return permission.ErrNotSupported }

// Close closes the connections; the backend is unusable afterwards.
func (b *Backend) Close() error { return b.client.Close() }

// globEscape escapes the characters special to Redis MATCH patterns.
func globEscape(s string) string {
	var sb strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\', '^', '-':
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}
