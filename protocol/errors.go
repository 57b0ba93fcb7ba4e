// Package protocol holds the wire format shared by every cliquet endpoint: the JSON error
// body and its errno table, header names, and the one function that turns Go errors into
// responses.
package protocol

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/feed"
)

// Errno is the application error number carried by every error response. The numbers are
// part of the protocol: never renumber them.
//
//	errno  HTTP  meaning
//	104    401   missing authentication
//	105    401   invalid authentication
//	106    400   malformed JSON (reserved; invalid JSON is reported as 107)
//	107    400   invalid parameters (body, querystring, headers, path; also 406/415)
//	108    400   missing parameters (reserved)
//	109    400   invalid posted data (reserved)
//	110    404   object not found
//	111    404   unknown URL
//	112    411   missing Content-Length (reserved)
//	113    413   request body too large
//	114    412   modified meanwhile (precondition failed)
//	115    405   method not allowed
//	116    404   API version not available
//	117    429   client reached capacity (reserved)
//	121    403   forbidden
//	122    409   constraint violated
//	201    503   backend unavailable
//	202    410   service deprecated (end of service)
//	203    410   changes since _since are gone (tombstones purged): synchronise from scratch
//	999    500   undefined (programming error)
type Errno int

// The errno table.
const (
	ErrnoMissingAuthToken      Errno = 104
	ErrnoInvalidAuthToken      Errno = 105
	ErrnoBadJSON               Errno = 106
	ErrnoInvalidParameters     Errno = 107
	ErrnoMissingParameters     Errno = 108
	ErrnoInvalidPostedData     Errno = 109
	ErrnoInvalidResourceID     Errno = 110
	ErrnoMissingResource       Errno = 111
	ErrnoMissingContentLength  Errno = 112
	ErrnoRequestTooLarge       Errno = 113
	ErrnoModifiedMeanwhile     Errno = 114
	ErrnoMethodNotAllowed      Errno = 115
	ErrnoVersionNotAvailable   Errno = 116
	ErrnoClientReachedCapacity Errno = 117
	ErrnoForbidden             Errno = 121
	ErrnoConstraintViolated    Errno = 122
	ErrnoBackend               Errno = 201
	ErrnoServiceDeprecated     Errno = 202
	// ErrnoSyncHorizon: a delta (_since) starts before the collection's tombstone horizon:
	// deletions it should report were purged, so the client must synchronise again from
	// scratch (a list without _since). 410 Gone, like the other errno of a state that
	// retrying cannot change (202); a cliquet-go addition, not in kinto.core.
	ErrnoSyncHorizon Errno = 203
	ErrnoUndefined   Errno = 999
)

// Detail is one entry of a validation error's details.
type Detail struct {
	Location    string `json:"location"` // body, querystring, headers, path
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Error is the JSON body of every error response:
//
//	{"code": 404, "errno": 111, "error": "Not Found", "message": "...", "info": "...", "details": ...}
//
// It implements error, so handlers can return it and have it rendered by [WriteError].
type Error struct {
	Code    int    `json:"code"`
	Errno   Errno  `json:"errno"`
	Title   string `json:"error"` // the HTTP reason phrase
	Message string `json:"message,omitempty"`
	Info    string `json:"info,omitempty"`
	Details any    `json:"details,omitempty"`
	// Header holds extra headers to send with the error (Allow, WWW-Authenticate, Alert).
	Header http.Header `json:"-"`
	// Cause is the internal error behind a 5xx; it is logged, never sent.
	Cause error `json:"-"`
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%d %s (errno %d)", e.Code, e.Title, e.Errno)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// NewError builds an error response with the reason phrase of code.
func NewError(code int, errno Errno, message string) *Error {
	return &Error{Code: code, Errno: errno, Title: http.StatusText(code), Message: message}
}

// Common messages.
const (
	MsgNotFound         = "The resource you are looking for could not be found."
	MsgVersionNotFound  = "The requested API version is not available on this server."
	MsgMethodNotAllowed = "Method not allowed on this endpoint."
	MsgUnauthorized     = "Please authenticate yourself to use this endpoint."
	MsgForbidden        = "This user cannot access this resource."
	MsgModified         = "Resource was modified meanwhile"
	MsgBackend          = "Service temporary unavailable due to overloading or maintenance, please retry later."
	MsgUndefined        = "A programmatic error occured, developers have been informed."
	MsgDeprecated       = "The service you are trying to connect no longer exists at this location."
	MsgTooLarge         = "Request body is too large."
	MsgInvalidInput     = "The request holds a value that cannot be stored (such as a NUL character or invalid UTF-8)."
	MsgSyncHorizon      = "Changes since this timestamp are no longer available (deleted objects were purged): synchronise again from scratch, without _since."
)

// InvalidParameters builds a 400 errno 107 error from validation details. Its message is the
// first detail after sorting by name: "<name> in <location>: <description>".
func InvalidParameters(details ...Detail) *Error {
	return invalid(http.StatusBadRequest, details)
}

// InvalidParam is InvalidParameters for a single detail.
func InvalidParam(location, name, description string) *Error {
	return InvalidParameters(Detail{Location: location, Name: name, Description: description})
}

func invalid(code int, details []Detail) *Error {
	e := NewError(code, ErrnoInvalidParameters, "")
	e.Title = "Invalid parameters"
	if len(details) > 0 {
		first := details[0]
		for _, d := range details[1:] {
			if d.Name < first.Name {
				first = d
			}
		}
		switch {
		case first.Name == "":
			e.Message = first.Location + ": " + first.Description
		case containsWord(first.Description, first.Name):
			e.Message = first.Description
		default:
			e.Message = first.Name + " in " + first.Location + ": " + first.Description
		}
		e.Details = details
	}
	return e
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}

// NotAcceptable is the 406 answer to an Accept header that excludes JSON.
func NotAcceptable() *Error {
	e := invalid(http.StatusNotAcceptable, []Detail{{Location: "headers", Name: "Accept",
		Description: "Accept header should be one of ['application/json']"}})
	e.Title = http.StatusText(http.StatusNotAcceptable)
	return e
}

// UnsupportedMediaType is the 415 answer to a body that is not JSON; accepted lists the
// content types the endpoint takes.
func UnsupportedMediaType(accepted ...string) *Error {
	if len(accepted) == 0 {
		accepted = []string{"application/json"}
	}
	list := "["
	for i, a := range accepted {
		if i > 0 {
			list += ", "
		}
		list += "'" + a + "'"
	}
	list += "]"
	e := invalid(http.StatusUnsupportedMediaType, []Detail{{Location: "headers", Name: "Content-Type",
		Description: "Content-Type header should be one of " + list}})
	e.Title = http.StatusText(http.StatusUnsupportedMediaType)
	return e
}

// FromError maps any error to the response to send. It is the only place where internal
// errors meet the wire:
//
//   - a *Error (possibly wrapped) is returned as is;
//   - *http.MaxBytesError (a body over the size limit) → 413 errno 113;
//   - storage.ErrNotFound → 404 errno 110;
//   - storage.ErrModified (a failed conditional write) → 412 errno 114;
//   - *storage.UnicityError → 409 errno 122 with details {field, existing};
//   - storage.ErrBeyondHorizon (a *storage.HorizonError: a _since delta older than the
//     collection's tombstone horizon) → 410 errno 203 with details {since, horizon} and
//     Cache-Control: no-cache (a 410 is cacheable by default);
//   - storage.ErrInvalid, permission.ErrInvalid (input a backend refuses to store, such as
//     a NUL character on PostgreSQL) → 400 errno 107;
//   - storage.ErrReadOnly, *storage.BackendError, *cache.BackendError,
//     *permission.BackendError, context.DeadlineExceeded → 503 errno 201 (Retry-After is
//     added by the writer);
//   - the change feed's: a *feed.LimitError of a user, and feed.ErrSlow (a stream that
//     fell behind) → 429 errno 117; a *feed.LimitError of the process, feed.ErrClosed
//     and feed.ErrShutdown (the server stops) → 503 errno 201; storage.ErrNotifyDisabled
//     → 406 errno 107 (see feedError);
//   - anything else → 500 errno 999, with Cause set so that it gets logged.
func FromError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return NewError(http.StatusRequestEntityTooLarge, ErrnoRequestTooLarge, MsgTooLarge)
	}
	if e := feedError(err); e != nil {
		return e
	}
	var ue *storage.UnicityError
	var he *storage.HorizonError
	var sbe *storage.BackendError
	var cbe *cache.BackendError
	var pbe *permission.BackendError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return NewError(http.StatusNotFound, ErrnoInvalidResourceID, MsgNotFound)
	case errors.Is(err, storage.ErrModified):
		// A failed conditional write that a view did not turn into its own 412 (which
		// carries the current object): still a 412, without details.
		e := NewError(http.StatusPreconditionFailed, ErrnoModifiedMeanwhile, MsgModified)
		e.Details = map[string]any{}
		return e
	case errors.Is(err, storage.ErrInvalid), errors.Is(err, permission.ErrInvalid):
		// Input that a backend cannot store: the client's fault, and retrying cannot help.
		e := NewError(http.StatusBadRequest, ErrnoInvalidParameters, MsgInvalidInput)
		e.Title = "Invalid parameters"
		return e
	case errors.As(err, &he):
		e := NewError(http.StatusGone, ErrnoSyncHorizon, MsgSyncHorizon)
		e.Details = map[string]any{"since": he.Since, "horizon": he.Horizon}
		e.Header = http.Header{"Cache-Control": {"no-cache"}}
		return e
	case errors.As(err, &ue):
		e := NewError(http.StatusConflict, ErrnoConstraintViolated,
			fmt.Sprintf("Conflict of field %s on record %s", ue.Field, ue.Existing.ID))
		e.Details = map[string]any{"field": ue.Field, "existing": ue.Existing}
		return e
	case errors.Is(err, storage.ErrReadOnly), errors.As(err, &sbe), errors.As(err, &cbe), errors.As(err, &pbe),
		errors.Is(err, errContextDeadline):
		e := NewError(http.StatusServiceUnavailable, ErrnoBackend, MsgBackend)
		e.Cause = err
		return e
	}
	e := NewError(http.StatusInternalServerError, ErrnoUndefined, MsgUndefined)
	e.Cause = err
	return e
}

// The messages of the change feed's errors.
const (
	MsgFeedUserLimit = "Too many open change feeds for this user (%d at most): close one first."
	MsgFeedLimit     = "This server holds as many change feeds as it allows (%d): retry later."
	MsgFeedSlow      = "The client read the change feed too slowly: reconnect with Last-Event-ID (the id of the last event received) to receive the rest."
	MsgFeedClosed    = "The server is shutting down: reconnect with Last-Event-ID (the id of the last event received) to continue."
	MsgFeedDisabled  = "Change feeds are disabled on this server."
)

// feedError maps the errors of the change feed (package storage/feed), nil for others.
func feedError(err error) *Error {
	var le *feed.LimitError
	switch {
	case errors.As(err, &le) && le.PerUser:
		return NewError(http.StatusTooManyRequests, ErrnoClientReachedCapacity, fmt.Sprintf(MsgFeedUserLimit, le.Max))
	case errors.As(err, &le):
		e := NewError(http.StatusServiceUnavailable, ErrnoBackend, fmt.Sprintf(MsgFeedLimit, le.Max))
		e.Cause = err
		return e
	case errors.Is(err, feed.ErrSlow):
		return NewError(http.StatusTooManyRequests, ErrnoClientReachedCapacity, MsgFeedSlow)
	case errors.Is(err, feed.ErrClosed), errors.Is(err, feed.ErrShutdown):
		e := NewError(http.StatusServiceUnavailable, ErrnoBackend, MsgFeedClosed)
		e.Cause = err
		return e
	case errors.Is(err, storage.ErrNotifyDisabled):
		e := invalid(http.StatusNotAcceptable, []Detail{{Location: "headers", Name: "Accept", Description: MsgFeedDisabled}})
		e.Title = http.StatusText(http.StatusNotAcceptable)
		return e
	}
	return nil
}
