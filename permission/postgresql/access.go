package postgresql

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/permission"
)

// MaxScalars is the largest number of objects, and of principals, that the statement of
// [Backend.Access] takes as one parameter each (see [AccessSQL]).
const MaxScalars = 16

// ErrStaleGroups is what [AccessStatement.Access] returns when the user's groups, kept by
// the backend between statements, changed before the statement ran: its answer is then
// dropped, and the statement of [AccessStatement.ReadingGroups] gives the right one.
var ErrStaleGroups = errors.New("permission: postgresql: the user's groups changed")

// AccessShape is what the text of the statement of [Backend.Access] depends on. Queries of
// one shape share one statement text (see [AccessSQL]).
type AccessShape struct {
	// Objects and Principals are the numbers of objects and of principals (the query's, then
	// the user's groups when the statement does not read them) that the statement takes as
	// one parameter each. Both are -1 when it takes them as two arrays (more than
	// MaxScalars of either), and both 0 when it checks no object.
	Objects, Principals int
	// ReadGroups is true when the statement reads the user's groups from user_principals,
	// and false when it takes them among the principals, as the backend kept them from an
	// earlier statement, and only reads their versions to check that they are still right.
	ReadGroups bool
}

// AccessSQL writes the statement of [Backend.Access] for queries of one shape in two parts,
// so that another backend on the same database (see [Backend.SameDatabase]) can run it
// within a statement of its own: with is a common table expression ("groups AS (...)", or
// "" when the shape does not read the groups) for the statement's WITH clause, and union is
// a UNION ALL of SELECTs, to be joined by UNION ALL to the statement's other SELECTs. The
// parameters are numbered from first, in the order of [AccessStatement.AppendArgs]. Each
// row is its kind, then the columns of pad (an SQL fragment, empty or ending with a comma,
// such as constants that fill the other columns of the enclosing UNION), then two text
// values:
//
//	'g', group, ''                 the user's groups (the user's and Authenticated's), through
//	                               the primary key of user_principals (ReadGroups only)
//	'v', user id, version          the membership versions of the user and of Authenticated
//	                               (user_principals_versions; a user id without a row is at 0)
//	'h', object id, permission     the permissions held on the objects by the principals or
//	                               the groups, through the primary key of
//	                               access_control_entries, one index scan per object
//	'f', permission, principal     the ACEs of the object Full (or NULL), through the same
//	                               primary key
//
// [AccessStatement.Row] turns the rows into Access's answer.
//
// The versions let a web head keep each user's groups between requests: every change to a
// user's rows in user_principals gives that user a new version in the same transaction (a
// trigger; the numbers come from a sequence, so no state, committed or rolled back, shares
// one with another), so a statement that finds the versions its groups were read at reads,
// in the same snapshot, the same groups. Without the groups, the statement costs about a fifth
// less in PostgreSQL (docs/benchmarks.md).
//
// The statement keeps its generic plan: PostgreSQL plans a prepared statement again on
// every execution when the plans made for each execution's values cost less than its
// generic plan, which is what happens when the length of an array parameter matters. The
// user ids are scalars; the objects (a VALUES list) and the principals (an IN list) are one
// parameter each, so that their number is part of the text. Beyond MaxScalars they are two
// arrays: the objects are then read through a scalar subquery, so that the planner does not
// see how many there are (it assumes ten), and joined LATERAL with OFFSET 0, one primary key
// lookup each, so that the plan made for each execution's values costs as much as the
// generic plan. The scalars also spare the encoding and decoding of two arrays and the
// unnest: about a third of the statement's CPU time on the server. The groups, when read,
// are read once (a CTE that the held rows test as a hashed subplan).
func AccessSQL(first int, pad string, shape AccessShape) (with, union string) {
	n := first
	param := func() string {
		n++
		return "$" + strconv.Itoa(n-1) + "::text"
	}
	list := func(k int, sep, open, closing string) string {
		var sb strings.Builder
		for i := range k {
			if i > 0 {
				sb.WriteString(sep)
			}
			sb.WriteString(open + param() + closing)
		}
		return sb.String()
	}
	users := param() + ", " + param()
	if shape.ReadGroups {
		with = `groups AS (
	  SELECT principal FROM user_principals WHERE user_id IN (` + users + `))`
		union = `SELECT 'g', ` + pad + ` principal, '' FROM groups
	UNION ALL
	`
	}
	union += `SELECT 'v', ` + pad + ` user_id, version::text FROM user_principals_versions WHERE user_id IN (` + users + `)`
	var objs string
	var held []string
	switch {
	case shape.Objects < 0:
		objs = `unnest((SELECT ` + param() + `[]))`
		held = append(held, `a.principal = ANY(`+param()+`[])`)
	case shape.Objects > 0:
		objs = `(VALUES ` + list(shape.Objects, ", ", "(", ")") + `)`
		if shape.Principals > 0 {
			held = append(held, `a.principal IN (`+list(shape.Principals, ", ", "", "")+`)`)
		}
	}
	if shape.ReadGroups {
		held = append(held, `a.principal IN (SELECT principal FROM groups)`)
	}
	if shape.Objects != 0 {
		union += `
	UNION ALL
	SELECT 'h', ` + pad + ` o.object_id, held.permission
	  FROM ` + objs + ` AS o(object_id),
	       LATERAL (SELECT a.permission FROM access_control_entries a
	                 WHERE a.object_id = o.object_id
	                   AND (` + strings.Join(held, " OR ") + `)
	                OFFSET 0) AS held`
	}
	union += `
	UNION ALL
	SELECT 'f', ` + pad + ` permission, principal FROM access_control_entries WHERE object_id = ` + param()
	return with, union
}

// accessSQLs caches the statements of [Backend.Access] by AccessShape.
var accessSQLs sync.Map

// accessSQL returns the statement of [Backend.Access] for a shape.
func accessSQL(shape AccessShape) string {
	if sql, ok := accessSQLs.Load(shape); ok {
		return sql.(string)
	}
	with, union := AccessSQL(1, "", shape)
	if with != "" {
		with = "WITH " + with + "\n\t"
	}
	sql, _ := accessSQLs.LoadOrStore(shape, with+union)
	return sql.(string)
}

// AccessStatement is one execution of the statement of [Backend.Access] for a query: its
// shape and arguments, and the collection of its rows into the answer. Another backend on
// the same database (see [Backend.SameDatabase]) runs it within a statement of its own as
// Access does:
//
//	s := b.AccessStatement(q)
//	if !s.Needed() { return s.Access() } // nothing to read
//	a, err := s.Run(func(st *AccessStatement) error {
//		// run AccessSQL(first, pad, st.Shape()) with the arguments of st.AppendArgs,
//		// calling st.Row for each of its rows
//	})
//
// It is not safe for concurrent use.
type AccessStatement struct {
	b      *Backend
	q      permission.AccessQuery
	groups *groupsEntry // the kept groups the statement relies on; nil when it reads them
	shape  AccessShape
	out    permission.Access
	seen   [2]int64 // the versions read, of q.UserID and of Authenticated
}

// AccessStatement returns the statement that answers q: one that takes the user's groups
// as the backend kept them from an earlier statement, and checks their versions, when it
// has them (or for no user); otherwise one that reads them, and keeps them for later
// statements.
func (b *Backend) AccessStatement(q permission.AccessQuery) *AccessStatement {
	var groups *groupsEntry
	if q.UserID == "" {
		groups = &groupsEntry{} // no groups, at the versions of no user id: 0
	} else {
		groups = b.groups.load(q.UserID)
	}
	return newAccessStatement(b, q, groups)
}

// ReadingGroups returns a statement for the same query that reads the user's groups.
func (s *AccessStatement) ReadingGroups() *AccessStatement {
	if s.q.UserID == "" {
		return newAccessStatement(s.b, s.q, s.groups)
	}
	return newAccessStatement(s.b, s.q, nil)
}

func newAccessStatement(b *Backend, q permission.AccessQuery, groups *groupsEntry) *AccessStatement {
	s := &AccessStatement{b: b, q: q, groups: groups,
		out: permission.Access{Groups: []string{}, Held: map[string][]string{}}}
	if q.Full != "" {
		s.out.ACEs = permission.Set{}
	}
	s.shape.ReadGroups = groups == nil
	principals := len(q.Principals)
	if groups != nil {
		principals += len(groups.groups)
	}
	switch {
	case len(q.Objects) == 0, principals == 0 && groups != nil:
		// Nothing to check: no object, or nobody to hold a permission.
	case len(q.Objects) > MaxScalars || principals > MaxScalars:
		s.shape.Objects, s.shape.Principals = -1, -1
	default:
		s.shape.Objects, s.shape.Principals = len(q.Objects), principals
	}
	return s
}

// Needed reports whether the statement can find anything: a user (groups), an object to
// describe (Full), or objects and principals to check. When it cannot, Access answers
// without it.
func (s *AccessStatement) Needed() bool {
	q := s.q
	return q.UserID != "" || q.Full != "" || len(q.Objects) > 0 && len(q.Principals) > 0
}

// Shape returns the statement's shape, for [AccessSQL].
func (s *AccessStatement) Shape() AccessShape { return s.shape }

// AppendArgs appends to args the statement's arguments, in the order of its parameters:
// the user and Authenticated (NULLs without a user), the objects and the principals (one
// each, or an array of each; none when the shape checks no object) and Full (NULL for "").
func (s *AccessStatement) AppendArgs(args []any) []any {
	q := s.q
	var user, authenticated, full any // NULLs: no groups, no versions, no ACEs
	if q.UserID != "" {
		user, authenticated = q.UserID, permission.Authenticated
	}
	if q.Full != "" {
		full = q.Full
	}
	args = append(args, user, authenticated)
	var groups []string
	if s.groups != nil {
		groups = s.groups.groups
	}
	switch {
	case s.shape.Objects < 0:
		prins := make([]string, 0, len(q.Principals)+len(groups)) // an empty array, not NULL
		prins = append(append(prins, q.Principals...), groups...)
		args = append(args, q.Objects, prins)
	case s.shape.Objects > 0:
		args = slices.Grow(args, s.shape.Objects+s.shape.Principals+1)
		for _, o := range q.Objects {
			args = append(args, o)
		}
		for _, p := range q.Principals {
			args = append(args, p)
		}
		for _, g := range groups {
			args = append(args, g)
		}
	}
	return append(args, full)
}

// Row adds one row of the statement: its kind and its two text values.
func (s *AccessStatement) Row(kind, x, y string) {
	switch kind {
	case "g":
		s.out.Groups = append(s.out.Groups, x)
	case "v":
		v, err := strconv.ParseInt(y, 10, 64)
		if err != nil {
			v = -1 // never a version: the kept groups are then stale
		}
		if x == s.q.UserID {
			s.seen[0] = v
		}
		if x == permission.Authenticated {
			s.seen[1] = v
		}
	case "h":
		// A permission held by several of the principals, or an object listed twice, comes
		// in several rows.
		if !slices.Contains(s.out.Held[x], y) {
			s.out.Held[x] = append(s.out.Held[x], y)
		}
	case "f":
		s.out.ACEs[x] = append(s.out.ACEs[x], y)
	}
}

// Run answers the statement's query. exec runs the statement it is given (its Shape, its
// AppendArgs) and hands each row to that statement's Row. When the kept groups the first
// execution relied on had changed, Run calls exec once more, with the statement that reads
// the groups (ReadingGroups): exec must then drop whatever else it read the first time. A
// failure of exec is returned as it is.
func (s *AccessStatement) Run(exec func(st *AccessStatement) error) (permission.Access, error) {
	if err := exec(s); err != nil {
		return permission.Access{}, err
	}
	a, err := s.Access()
	if !errors.Is(err, ErrStaleGroups) {
		return a, err
	}
	s = s.ReadingGroups() // never stale
	if err := exec(s); err != nil {
		return permission.Access{}, err
	}
	return s.Access()
}

// Access returns the answer, once every row is added, or ErrStaleGroups when the statement
// took groups that changed before it ran. A statement that reads the groups keeps them, with
// their versions, for the user's later statements.
func (s *AccessStatement) Access() (permission.Access, error) {
	out := s.out
	if s.groups != nil {
		if s.seen != s.groups.versions {
			s.b.groups.forget(s.q.UserID, s.groups)
			return permission.Access{}, ErrStaleGroups
		}
		out.Groups = append(out.Groups, s.groups.groups...)
	} else {
		// A group given to both the user and Authenticated comes twice.
		slices.Sort(out.Groups)
		out.Groups = slices.Compact(out.Groups)
		s.b.groups.store(s.q.UserID, &groupsEntry{groups: slices.Clip(slices.Clone(out.Groups)), versions: s.seen})
	}
	for _, perms := range out.Held {
		slices.Sort(perms)
	}
	for _, principals := range out.ACEs {
		slices.Sort(principals)
	}
	return out, nil
}

// Access implements [permission.Backend] in one statement (see [AccessSQL]; one per shape of
// query), so one round trip (two when the user's groups kept from an earlier statement
// changed since); none when the query can find nothing.
func (b *Backend) Access(ctx context.Context, q permission.AccessQuery) (permission.Access, error) {
	const op = "access"
	s := b.AccessStatement(q)
	if !s.Needed() {
		return s.Access()
	}
	c, err := b.conn(ctx)
	if err != nil {
		return permission.Access{}, wrap(op, err)
	}
	defer c.Release()
	a, err := s.Run(func(st *AccessStatement) error {
		args := st.AppendArgs(make([]any, 0, 3+max(st.shape.Objects+st.shape.Principals, 2)))
		rows, err := c.Query(ctx, accessSQL(st.shape), args...)
		if err != nil {
			return err
		}
		var kind, x, y string
		_, err = pgx.ForEachRow(rows, []any{&kind, &x, &y}, func() error {
			st.Row(kind, x, y)
			return nil
		})
		return err
	})
	return a, wrap(op, err)
}

// groupsEntry is a user's groups as one statement read them, with the versions it read.
// It is never changed once kept.
type groupsEntry struct {
	groups   []string // sorted, without duplicates
	versions [2]int64 // of the user id and of Authenticated
}

// groupsCache keeps, for up to max users, the groups a statement read, so that the next
// statements only check their versions. A full cache drops a quarter of its entries,
// whichever sync.Map's Range gives first.
type groupsCache struct {
	max int // 0: nothing is kept
	n   atomic.Int64
	m   sync.Map // user id → *groupsEntry
}

func (c *groupsCache) load(user string) *groupsEntry {
	if e, ok := c.m.Load(user); ok {
		return e.(*groupsEntry)
	}
	return nil
}

func (c *groupsCache) store(user string, e *groupsEntry) {
	if c.max <= 0 || user == "" {
		return
	}
	if _, loaded := c.m.Swap(user, e); loaded {
		return
	}
	if c.n.Add(1) <= int64(c.max) {
		return
	}
	drop := c.max/4 + 1
	c.m.Range(func(k, _ any) bool {
		if _, ok := c.m.LoadAndDelete(k); ok {
			c.n.Add(-1)
			drop--
		}
		return drop > 0
	})
}

// forget drops the user's entry if it is still e.
func (c *groupsCache) forget(user string, e *groupsEntry) {
	if user != "" && c.m.CompareAndDelete(user, e) {
		c.n.Add(-1)
	}
}
