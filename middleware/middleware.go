// Package middleware holds the net/http middleware of the protocol that need no App: panic
// recovery, Retry-After, the security headers, Vary, Cache-Control, Backoff, end of service,
// read-only mode, the body limit and CORS. cliquet.Initialize installs them from the
// settings; each can also be used on its own, with any router.
package middleware

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/protocol"
)

// Recover turns a panic in next into a 500 errno 999 JSON error (with the error_info_link
// "info" when the request context carries the app's ErrorWriter); the panic value and the
// stack are logged. http.ErrAbortHandler is re-raised, as net/http expects. When the
// response was already started, the panic is only logged.
func Recover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &trackingWriter{ResponseWriter: w}
		defer recoverPanic(tw, w, r)
		next.ServeHTTP(tw, r)
	})
}

// recoverPanic renders or logs the panic under way, if any, as [Recover] does.
func recoverPanic(tw *trackingWriter, w http.ResponseWriter, r *http.Request) {
	rec := recover()
	if rec == nil {
		return
	}
	if rec == http.ErrAbortHandler {
		panic(rec)
	}
	err := &PanicError{Value: rec, Stack: debug.Stack()}
	if tw.wrote {
		if ew := protocol.ErrorWriterFrom(r.Context()); ew.Logger != nil {
			ew.Logger.ErrorContext(r.Context(), "panic after the response started", "error", err.Error())
		}
		return
	}
	protocol.WriteError(w, r, err)
}

// PanicError is the error [Recover] renders as a 500: the panic value and the stack of the
// goroutine that panicked. An error hook can tell it apart with errors.As (cliquet's Sentry
// reporting skips it: the Sentry middleware, inside Recover, has already reported it).
type PanicError struct {
	Value any
	Stack []byte
}

// Error returns the panic value and the stack.
func (p *PanicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.Value, p.Stack) }

// trackingWriter records whether the response was started.
type trackingWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wrote = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(b)
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// RetryAfter adds "Retry-After: seconds" to every 503 response that lacks it (the JSON
// errors of [protocol.ErrorWriter] already carry it). seconds ≤ 0 means 30.
func RetryAfter(seconds int) func(http.Handler) http.Handler {
	if seconds <= 0 {
		seconds = 30
	}
	value := strconv.Itoa(seconds)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&retryAfterWriter{ResponseWriter: w, value: value}, r)
		})
	}
}

type retryAfterWriter struct {
	http.ResponseWriter
	value string
}

func (rw *retryAfterWriter) WriteHeader(code int) {
	if code == http.StatusServiceUnavailable && rw.Header().Get(protocol.HeaderRetryAfter) == "" {
		rw.Header().Set(protocol.HeaderRetryAfter, rw.value)
	}
	rw.ResponseWriter.WriteHeader(code)
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (rw *retryAfterWriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// ContentSecurityPolicy is the policy [SecurityHeaders] sends: a JSON API loads nothing.
const ContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none';"

// SecurityHeaders sets Content-Security-Policy (see [ContentSecurityPolicy]) and
// "X-Content-Type-Options: nosniff" on every response; handlers may override them.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As Header.Set under the canonical keys, with both values in one array of this
		// response; each key gets a full-capacity sub-slice, so that an Add copies it.
		values := []string{ContentSecurityPolicy, "nosniff"}
		h := w.Header()
		h["Content-Security-Policy"] = values[0:1:1]
		h["X-Content-Type-Options"] = values[1:2:2]
		next.ServeHTTP(w, r)
	})
}

// Vary adds the given request header names to the Vary header of every response (the
// "vary" setting, default Authorization).
func Vary(names ...string) func(http.Handler) http.Handler {
	values := slices.Clone(names)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for _, v := range values {
				h.Add("Vary", v)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// DefaultCacheControl sets "Cache-Control: no-cache" on GET and HEAD responses, so that
// browsers revalidate; handlers may set another value.
func DefaultCacheControl(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			w.Header().Set("Cache-Control", "no-cache")
		}
		next.ServeHTTP(w, r)
	})
}

// Backoff adds "Backoff: seconds" to responses, asking clients to slow down. percentage
// between 1 and 99 sends it on that share of responses (chosen at random); other values
// send it on every response. Batch sub-requests (monitoring.IsSubrequest) are passed
// through: the batch response itself carries the header.
func Backoff(seconds, percentage int) func(http.Handler) http.Handler {
	value := strconv.Itoa(seconds)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if monitoring.IsSubrequest(r.Context()) {
				next.ServeHTTP(w, r)
				return
			}
			if percentage <= 0 || percentage >= 100 || rand.IntN(100) < percentage {
				w.Header().Set(protocol.HeaderBackoff, value)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Deprecation implements end of service (protocol.md 5.1). Before eos every response
// carries an Alert header {"code": "soft-eol", "message": message, "url": url}; from eos on
// every request is answered 410 errno 202 with a "hard-eol" Alert. An empty message or url
// is sent as null. A zero eos disables the middleware. Batch sub-requests
// (monitoring.IsSubrequest) are passed through untouched, as kinto's tweens do not run for
// them: the batch request itself gets the Alert, or the 410. Beside the Alert, both kinds
// of answer carry a Sunset header (RFC 8594) holding eos as an HTTP-date, added to the
// Access-Control-Expose-Headers of a CORS response.
func Deprecation(eos time.Time, message, url string) func(http.Handler) http.Handler {
	soft, hard := alertValue("soft-eol", message, url), alertValue("hard-eol", message, url)
	sunset := eos.UTC().Format(http.TimeFormat)
	return func(next http.Handler) http.Handler {
		if eos.IsZero() {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if monitoring.IsSubrequest(r.Context()) {
				next.ServeHTTP(w, r)
				return
			}
			w.Header().Set(protocol.HeaderSunset, sunset)
			ExposeHeaders(w, protocol.HeaderSunset)
			if time.Now().Before(eos) {
				w.Header().Set(protocol.HeaderAlert, soft)
				next.ServeHTTP(w, r)
				return
			}
			e := protocol.NewError(http.StatusGone, protocol.ErrnoServiceDeprecated, protocol.MsgDeprecated)
			e.Header = http.Header{protocol.HeaderAlert: {hard}, protocol.HeaderSunset: {sunset}}
			protocol.WriteError(w, r, e)
		})
	}
}

// ReadOnly answers 405 errno 115 to every method but GET, HEAD and OPTIONS (the readonly
// setting). The one exception is POST to batchPath (cliquet passes its batch endpoint,
// "/v1/batch"; "" means none): the batch view writes nothing itself, and each of its
// sub-requests goes through ReadOnly again, so that a batch of reads is served and a write
// sub-request gets its own 405.
func ReadOnly(batchPath string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodGet, r.Method == http.MethodHead, r.Method == http.MethodOptions,
				r.Method == http.MethodPost && batchPath != "" && r.URL.Path == batchPath && !monitoring.IsSubrequest(r.Context()):
				next.ServeHTTP(w, r)
			default:
				e := protocol.NewError(http.StatusMethodNotAllowed, protocol.ErrnoMethodNotAllowed, protocol.MsgMethodNotAllowed)
				e.Header = http.Header{"Allow": {"GET, HEAD, OPTIONS"}}
				protocol.WriteError(w, r, e)
			}
		})
	}
}

// MaxBodySize limits request bodies to limit bytes: a larger Content-Length is answered 413
// errno 113 at once, and reading past the limit fails with *http.MaxBytesError, which
// [protocol.FromError] maps to the same 413.
func MaxBodySize(limit int64) func(http.Handler) http.Handler {
	if limit <= 0 {
		panic("middleware: MaxBodySize expects limit > 0")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				protocol.WriteError(w, r, protocol.NewError(http.StatusRequestEntityTooLarge, protocol.ErrnoRequestTooLarge, protocol.MsgTooLarge))
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, limit)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// DefaultExposeHeaders returns the response headers every CORS response exposes to scripts
// (protocol.md 5.4): Alert, Backoff, Retry-After, Content-Length, Content-Type.
func DefaultExposeHeaders() []string {
	return []string{"Alert", "Backoff", "Retry-After", "Content-Length", "Content-Type"}
}

// CORSOptions configures [CORS].
type CORSOptions struct {
	// Origins are the allowed origins. "*" allows any origin without credentials; an origin
	// listed explicitly, or matching a shell pattern such as "https://*.example.com", is
	// allowed with credentials. The opaque origin "null" is allowed with credentials only
	// when "null" itself is listed. Empty allows none.
	Origins []string
	// MaxAgeSeconds is the Access-Control-Max-Age of preflight responses; 0 omits it.
	MaxAgeSeconds int
	// ExposeHeaders is the base Access-Control-Expose-Headers list; nil means
	// [DefaultExposeHeaders]. Handlers add to it with [ExposeHeaders].
	ExposeHeaders []string
}

const (
	headerAllowOrigin   = "Access-Control-Allow-Origin"
	headerExposeHeaders = "Access-Control-Expose-Headers"
)

// corsMatch is how an Origin is allowed.
type corsMatch int

const (
	corsDenied   corsMatch = iota
	corsWildcard           // by "*": Access-Control-Allow-Origin: *, no credentials
	corsListed             // explicitly: the origin echoed, with credentials
)

// CORS answers preflight requests (OPTIONS with Access-Control-Request-Method) for any
// route, and adds the CORS headers to the responses of requests whose Origin is allowed. An
// origin listed explicitly (or matching a pattern) is echoed in Access-Control-Allow-Origin
// with Access-Control-Allow-Credentials: true; any other origin allowed by "*" gets
// Access-Control-Allow-Origin: * without credentials, so that a page of any site cannot
// make the browser send its cookies or stored credentials. Scripts that send an
// Authorization header themselves (fetch without credentials: "include") work either way.
// Both kinds get the expose-headers list, and preflights the requested method and headers.
// A disallowed origin gets no CORS header at all.
func CORS(opts CORSOptions) func(http.Handler) http.Handler {
	expose := opts.ExposeHeaders
	if expose == nil {
		expose = DefaultExposeHeaders()
	}
	exposeValue := strings.Join(expose, ", ")
	match := func(origin string) corsMatch {
		m := corsDenied
		for _, o := range opts.Origins {
			switch {
			case o == "*":
				m = corsWildcard
			case o == origin:
				return corsListed
			case origin != "null":
				if ok, _ := path.Match(o, origin); ok {
					return corsListed
				}
			}
		}
		return m
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			h := w.Header()
			if origin != "" {
				h.Add("Vary", "Origin")
			}
			m := corsDenied
			if origin != "" {
				m = match(origin)
			}
			switch m {
			case corsListed:
				h.Set(headerAllowOrigin, origin)
				h.Set("Access-Control-Allow-Credentials", "true")
			case corsWildcard:
				h.Set(headerAllowOrigin, "*")
			}
			ok := m != corsDenied
			if !preflight {
				if ok {
					h.Set(headerExposeHeaders, exposeValue)
				}
				next.ServeHTTP(w, r)
				return
			}
			if ok {
				h.Set("Access-Control-Allow-Methods", r.Header.Get("Access-Control-Request-Method"))
				if rh := r.Header.Get("Access-Control-Request-Headers"); rh != "" {
					h.Set("Access-Control-Allow-Headers", rh)
				}
				if opts.MaxAgeSeconds > 0 {
					h.Set("Access-Control-Max-Age", strconv.Itoa(opts.MaxAgeSeconds))
				}
			}
			protocol.WriteRawJSON(w, http.StatusOK, []byte("{}"))
		})
	}
}

// ExposeHeaders adds names to the Access-Control-Expose-Headers of a CORS response (one
// whose Origin was allowed by [CORS]); it does nothing on other responses. Resource
// handlers call it for ETag, Last-Modified, Next-Page, Total-Objects and the like.
func ExposeHeaders(w http.ResponseWriter, names ...string) {
	h := w.Header()
	cur := h.Get(headerExposeHeaders)
	if cur == "" {
		return
	}
	list := strings.Split(cur, ", ")
	for _, n := range names {
		if !slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, n) }) {
			list = append(list, n)
		}
	}
	h.Set(headerExposeHeaders, strings.Join(list, ", "))
}

// SendAlert sets the Alert header, {"code": code, "message": message, "url": url}, that
// clients show to users (protocol.md 5.1; for example "soft-eol" for a deprecated
// parameter). An empty message or url is sent as null.
func SendAlert(w http.ResponseWriter, code, message, url string) {
	w.Header().Set(protocol.HeaderAlert, alertValue(code, message, url))
}

func alertValue(code, message, url string) string {
	v := map[string]any{"code": code, "message": nil, "url": nil}
	if message != "" {
		v["message"] = message
	}
	if url != "" {
		v["url"] = url
	}
	b, _ := protocol.MarshalJSON(v)
	return string(b)
}
