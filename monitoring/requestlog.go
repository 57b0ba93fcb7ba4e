package monitoring

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// RequestOptions configures [RequestLogger], [RequestMetrics] and [Sentry.Middleware]. The
// zero value is valid.
type RequestOptions struct {
	// UserID returns the authenticated user id of a request when [SetUser] was not called
	// for it. It receives the request as the middleware saw it, so it only sees context
	// values set by middleware installed outside this one; nil means no fallback.
	UserID func(r *http.Request) string
	// AuthnType returns the authentication policy name ("basicauth") when [SetUser] was not
	// called; nil means no fallback.
	AuthnType func(r *http.Request) string
	// RouteName names the route of a request for the view.<route>.<METHOD> timer; nil means
	// the chi route pattern (see [RequestMetrics]).
	RouteName func(r *http.Request) string
	// Now is the clock used to time requests; nil means time.Now.
	Now func() time.Time
	// Context, when not nil, derives the context of a request the middleware starts
	// monitoring (the outermost monitoring middleware of a request) from the request's own:
	// the monitoring state goes on top of what it returns, and the request is copied once
	// for both. A middleware that needs a per-request context of its own can install it this
	// way instead of copying the request a second time. It is not called for a request whose
	// monitoring an outer monitoring middleware already started.
	Context func(context.Context) context.Context
}

func (o *RequestOptions) now() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// RequestLogger returns a middleware that writes one INFO record per request once the
// handler returned. Its message is "request.summary" ("subrequest.summary" for a context
// marked with [WithSubrequest]) and its attributes are:
//
//	method, path       the request method and URL path
//	querystring        the query parameters as a JSON object (last value of repeated keys)
//	code               the response status (200 when the handler wrote nothing)
//	errno              for responses ≥ 400: the value given to SetErrno, else the "errno" of the JSON body
//	t                  the duration in milliseconds
//	time               the request start, RFC 3339 UTC
//	uid, authn_type    the identity given to SetUser (or the UserID/AuthnType getters), when authenticated
//	agent, lang        the User-Agent and Accept-Language headers, when present
//	rid                the request id (see below)
//
// followed by the attributes given to [AddFields]. The request id is the request's
// X-Request-Id header when it is 1 to 128 characters among letters, digits and "-_.:+/=@",
// else a random UUID; it is set on the response's X-Request-Id header and returned by
// [RequestID]. Install RequestLogger outermost (before the recover middleware) so that it
// logs the final status of every request. A nil logger panics.
func RequestLogger(logger *slog.Logger, opts RequestOptions) func(http.Handler) http.Handler {
	if logger == nil {
		panic("monitoring: RequestLogger needs a logger")
	}
	now := opts.now()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, w, r, _ := begin(w, r, opts.Context)
			if st.start.IsZero() && logger.Enabled(r.Context(), slog.LevelInfo) {
				st.start = now()
			}
			next.ServeHTTP(w, r)
			if !logger.Enabled(r.Context(), slog.LevelInfo) {
				return
			}
			logRequest(logger, st, r, &opts, now())
		})
	}
}

func logRequest(logger *slog.Logger, st *requestState, r *http.Request, opts *RequestOptions, end time.Time) {
	if st.start.IsZero() { // INFO was enabled while the request ran: no start was read
		st.start = end
	}
	code := st.rw.code()
	msg := "request.summary"
	if st.subrequest {
		msg = "subrequest.summary"
	}
	var qs map[string]string
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		qs = make(map[string]string, len(q))
		for k, v := range q {
			qs[k] = v[len(v)-1]
		}
	} else {
		qs = map[string]string{}
	}
	var stack [16]slog.Attr
	attrs := append(stack[:0],
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Any("querystring", qs),
		slog.Int("code", code),
	)
	if code >= 400 {
		st.mu.Lock()
		errno, ok := st.errno, st.hasErrno
		st.mu.Unlock()
		if !ok {
			errno, ok = st.rw.sniffedErrno()
		}
		if ok {
			attrs = append(attrs, slog.Int("errno", errno))
		}
	}
	attrs = append(attrs,
		slog.Int64("t", end.Sub(st.start).Milliseconds()),
		slog.String("time", st.start.UTC().Format("2006-01-02T15:04:05.000Z")),
	)
	uid, authn := st.user(r, opts.UserID, opts.AuthnType)
	if uid != "" {
		attrs = append(attrs, slog.String("uid", uid))
	}
	if authn != "" {
		attrs = append(attrs, slog.String("authn_type", authn))
	}
	if v := r.Header.Get("User-Agent"); v != "" {
		attrs = append(attrs, slog.String("agent", v))
	}
	if v := r.Header.Get("Accept-Language"); v != "" {
		attrs = append(attrs, slog.String("lang", v))
	}
	attrs = append(attrs, slog.String("rid", st.rid))
	st.mu.Lock()
	attrs = append(attrs, st.fields...)
	st.mu.Unlock()
	// A record without time: slog's own handlers then write no "time" of theirs, so the
	// summary's "time" (the request start, as kinto logs it) is the only one; NewLogger's
	// handler stamps its Timestamp itself.
	if h := logger.Handler(); h.Enabled(r.Context(), slog.LevelInfo) {
		rec := slog.NewRecord(time.Time{}, slog.LevelInfo, msg, 0)
		rec.AddAttrs(attrs...)
		_ = h.Handle(r.Context(), rec)
	}
}
