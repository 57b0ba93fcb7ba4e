package monitoring

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/getsentry/sentry-go"

	"github.com/cliquet-go/cliquet/config"
)

// Sentry reports errors and panics to a Sentry server. A nil *Sentry is valid and reports
// nothing. It uses its own sentry-go client (never the SDK's global hub) and is safe for
// concurrent use.
type Sentry struct {
	client *sentry.Client
}

// SentryOptions are the optional parameters of [NewSentry]; the zero value is valid.
type SentryOptions struct {
	// Release is the release reported with events (the project version); "" lets sentry-go
	// guess it from the environment or the build information.
	Release string
	// HTTPClient sends the events; nil means sentry-go's default client.
	HTTPClient *http.Client
}

// NewSentry returns a Sentry reporting to dsn (as shown in the Sentry project settings,
// "https://public@host/project") under the environment env ("" lets sentry-go read
// SENTRY_ENVIRONMENT). Events are sent asynchronously; call Close on shutdown to flush them.
// An empty or malformed dsn is an error.
func NewSentry(dsn, env string, opts SentryOptions) (*Sentry, error) {
	if dsn == "" {
		return nil, errors.New("monitoring: sentry DSN is empty")
	}
	c, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:         dsn,
		Environment: env,
		Release:     opts.Release,
		HTTPClient:  opts.HTTPClient,
	})
	if err != nil {
		return nil, fmt.Errorf("monitoring: sentry: %w", err)
	}
	return &Sentry{client: c}, nil
}

// NewSentryFromSettings returns the Sentry described by the settings sentry_dsn, sentry_env
// and project_version (as release), or nil (reporting nothing) when sentry_dsn is empty.
func NewSentryFromSettings(s *config.Settings) (*Sentry, error) {
	dsn := s.String("sentry_dsn")
	if dsn == "" {
		return nil, nil
	}
	return NewSentry(dsn, s.String("sentry_env"), SentryOptions{Release: s.String("project_version")})
}

// Close waits up to timeout for the queued events to be sent, then releases the client. It
// reports whether every event was sent. It is safe on a nil *Sentry.
func (s *Sentry) Close(timeout time.Duration) bool {
	if s == nil {
		return true
	}
	ok := s.client.Flush(timeout)
	s.client.Close()
	return ok
}

// Capture reports err as an error event carrying the request context (see
// [Sentry.Middleware]). The protocol error writer calls it for 5xx responses, with the
// cause; the middleware then does not report the same request again. An event sent for a
// batch sub-request (see [WithSubrequest]) covers the batch request: Capture reports
// nothing for a request one of whose sub-requests was reported. It does nothing on a nil
// *Sentry or a nil err.
func (s *Sentry) Capture(ctx context.Context, err error, r *http.Request) {
	if s == nil || err == nil {
		return
	}
	st := stateFrom(ctx)
	if st != nil {
		st.mu.Lock()
		covered := st.subCaptured
		st.mu.Unlock()
		if covered {
			return
		}
		st.markReported()
	}
	ev := s.client.EventFromException(err, sentry.LevelError)
	s.client.CaptureEvent(ev, &sentry.EventHint{Context: ctx, OriginalException: err, Request: r},
		requestScope{r: r, st: st})
}

// Middleware returns a middleware reporting, with the request context, the panics of the
// handlers it wraps (then panicking again with the same value, so that the recover
// middleware installed outside it still answers 500) and the 5xx responses not already
// reported through [Sentry.Capture]. http.ErrAbortHandler panics are not reported. A batch
// request whose failing sub-request was reported is not reported again: one event per
// failure.
//
// Events carry the method, the URL and query string, the request headers except
// Authorization, Proxy-Authorization and Cookie, the request id (tag request_id) and the
// user id given to [SetUser] or opts.UserID. Install it inside RequestLogger and the
// recover middleware, outside the authentication middleware. On a nil *Sentry it passes
// requests through untouched.
func (s *Sentry) Middleware(opts RequestOptions) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if s == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, w, r, _ := begin(w, r, opts.Context)
			defer func() {
				if v := recover(); v != nil {
					if v != http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
						s.capturePanic(r, st, v, opts)
					}
					panic(v)
				}
			}()
			next.ServeHTTP(w, r)
			code := st.rw.code()
			if code < 500 {
				return
			}
			st.mu.Lock()
			captured := st.captured
			st.mu.Unlock()
			if captured {
				return
			}
			st.markReported()
			ev := s.client.EventFromMessage(fmt.Sprintf("HTTP %d %s: %s %s", code, http.StatusText(code), r.Method, r.URL.Path), sentry.LevelError)
			ev.Tags["status_code"] = fmt.Sprint(code)
			s.client.CaptureEvent(ev, &sentry.EventHint{Context: r.Context(), Request: r},
				requestScope{r: r, st: st, opts: &opts})
		})
	}
}

func (s *Sentry) capturePanic(r *http.Request, st *requestState, v any, opts RequestOptions) {
	st.markReported()
	s.client.RecoverWithContext(r.Context(), v, &sentry.EventHint{Request: r, RecoveredException: v},
		requestScope{r: r, st: st, opts: &opts})
}

// hiddenHeader reports whether the request header k is never sent to Sentry.
func hiddenHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Authorization", "Proxy-Authorization", "Cookie":
		return true
	}
	return false
}

// requestScope adds the request context to an event.
type requestScope struct {
	r    *http.Request
	st   *requestState
	opts *RequestOptions
}

func (rs requestScope) ApplyToEvent(ev *sentry.Event, _ *sentry.EventHint, _ *sentry.Client) *sentry.Event {
	r := rs.r
	if r == nil {
		return ev
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	headers := make(map[string]string, len(r.Header))
	for k, v := range r.Header {
		if !hiddenHeader(k) {
			headers[k] = strings.Join(v, ", ")
		}
	}
	ev.Request = &sentry.Request{
		URL:         scheme + "://" + r.Host + r.URL.Path,
		Method:      r.Method,
		QueryString: r.URL.RawQuery,
		Headers:     headers,
	}
	if ev.Tags == nil {
		ev.Tags = map[string]string{}
	}
	if rs.st != nil {
		ev.Tags["request_id"] = rs.st.rid
		var uidFn func(*http.Request) string
		if rs.opts != nil {
			uidFn = rs.opts.UserID
		}
		if uid, _ := rs.st.user(r, uidFn, nil); uid != "" {
			ev.User = sentry.User{ID: uid}
		}
	}
	return ev
}
