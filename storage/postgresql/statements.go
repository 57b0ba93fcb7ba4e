package postgresql

// Statements is the SQL text of the backend's object writes. It is exported for tools that
// measure the database's own limit with exactly the statements the backend runs (the bench
// harness loops them over a pgxpool.Pool beside the toolkit), so the two cannot drift apart.
// Applications do not need it.
//
// Every statement takes the parameters ($1 resource name, $2 parent id, $3 object id,
// $4 forced last_modified or 0, $5 the data as JSON text) and returns last_modified. These
// are the statements the backend runs for data without protocol keys (what a resource
// sends); for data holding a top-level "id", "last_modified" or "deleted", which storage
// removes, it runs variants that also return the stored data.
type Statements struct {
	// CreateNow is what Create runs for an object without a forced timestamp, in autocommit
	// mode: the clock is bumped and the live counter incremented by a plain UPDATE of the
	// clock row, then the object is inserted. It returns no row, and writes nothing, when
	// the clock row does not exist yet (run NewClock, then CreateNow again), and fails with
	// a unique violation (SQLSTATE 23505), writing nothing, when the id is taken; Create
	// then runs Create.
	CreateNow string
	// Create bumps the collection clock and inserts the object (over a tombstone of the
	// same id); no row when a live object has the id or the clock row does not exist. It
	// runs after Lock, in one transaction with it: its live counter is exact only then.
	Create string
	// Update bumps the collection clock and writes the object, creating it when missing; no
	// row when the clock row does not exist. It runs after Lock, as Create does.
	Update string
	// Lock locks the collection's clock row ($1 resource name, $2 parent id) for the
	// statement that follows it in the same transaction (the backend sends both in one
	// round trip).
	Lock string
	// NewClock creates the clock row of a collection that has none ($1 resource name, $2
	// parent id) at the current time, as the first read of its timestamp does, and returns
	// that timestamp (no row when the clock row exists).
	NewClock string
}

// WriteStatements returns the statements the backend runs for Create and Update.
func WriteStatements() Statements {
	return Statements{CreateNow: createFast.lean, Create: createForms.locked.lean, Update: updateForms.locked.lean,
		Lock: lockSQL, NewClock: newClockSQL}
}
