package resource

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

// Conditional writes. Every read-modify-write of an object passes the timestamp it read as
// the storage.Condition of its write, so that a write made in between is never overwritten:
//
//   - PUT replacing an object and DELETE, with If-Match: the write happens only if the object
//     is still the one the precondition was checked on; otherwise 412 errno 114 with the
//     object as it is now (staleWrite).
//   - PATCH always merges into the object it read: when another write came first, it reads
//     the object again and merges again, at most maxWriteAttempts times, then answers 412.
//     With If-Match: "<ts>" the second read fails the precondition, hence a 412 at once.
//   - PUT without If-Match replaces whatever is there (last writer wins), and DELETE without
//     If-Match deletes whatever is there, as in kinto.
//   - PUT creating an object that another request creates at the same time (Create fails
//     with *storage.UnicityError): with If-None-Match: * that is a 412; on a shareable
//     resource too (the request was authorized to create, not to replace another user's
//     object: the client can retry and be authorized against the object); otherwise the PUT
//     replaces the object, as kinto's upsert does, and answers 200.

// maxWriteAttempts bounds the read-merge-write attempts of a PATCH.
const maxWriteAttempts = 20

// writeBackoff waits before the next read-merge-write attempt of a PATCH that lost a race: a
// random delay whose bound doubles with each attempt (100 µs, 200 µs, ... capped at 25 ms), so
// that many writers patching one object spread out instead of colliding again at once. It
// returns the context's error if the request is cancelled meanwhile.
func writeBackoff(ctx context.Context, attempt int) error {
	bound := 100 * time.Microsecond << min(attempt-1, 8)
	t := time.NewTimer(rand.N(bound) + 1)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// conditionIf returns the condition of a write of the object read as existing: none (the
// zero Condition) unless cond is true.
func conditionIf(cond bool, existing storage.Object) storage.Condition {
	if !cond {
		return storage.Condition{}
	}
	return storage.Condition{LastModified: existing.LastModified}
}

// current reads the object id again, bypassing the target's cached lookup; nil when it is
// gone.
func (rs *core) current(ctx context.Context, scope storage.Scope, id string) (*storage.Object, error) {
	obj, err := rs.store.Get(ctx, scope, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return &obj, nil
}

// staleWrite is the answer to a failed conditional write: 412 errno 114 with the object as it
// is now, freshly read (left out when hide is true, or when it was deleted meanwhile: then the
// timestamp reported is the collection's).
func (rs *core) staleWrite(ctx context.Context, scope storage.Scope, id string, hide bool) error {
	now, err := rs.current(ctx, scope, id)
	if err != nil {
		return err
	}
	if now == nil {
		ts, err := rs.store.Timestamp(ctx, scope)
		if err != nil {
			return err
		}
		return modifiedMeanwhile(ts, nil)
	}
	if hide {
		return modifiedMeanwhile(now.LastModified, nil)
	}
	return modifiedMeanwhile(now.LastModified, now)
}
