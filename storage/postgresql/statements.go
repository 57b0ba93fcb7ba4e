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
	// CreateNow is what Create tries first for an object without a forced timestamp: the
	// collection clock is bumped by a plain UPDATE. It returns no row, and writes nothing,
	// when the clock row does not exist yet or a live object has the id; Create then runs
	// Create.
	CreateNow string
	// Create upserts the collection clock and inserts the object (over a tombstone of the
	// same id); no row when a live object has the id.
	Create string
	// Update upserts the collection clock and writes the object, creating it when missing.
	Update string
}

// WriteStatements returns the statements the backend runs for Create and Update.
func WriteStatements() Statements {
	return Statements{CreateNow: createNowLeanSQL, Create: createLeanSQL, Update: updateLeanSQL}
}
