// Package ctxkey holds the context keys that more than one package of the module reads or
// answers, so that none of them has to export its key.
package ctxkey

// ErrorWriter is the context key of a request's *protocol.ErrorWriter.
// protocol.WithErrorWriter stores the writer under it and protocol.ErrorWriterFrom looks it
// up; the cliquet package's per-request context answers it from its Value method instead of
// adding a context.WithValue layer per request.
type ErrorWriter struct{}
