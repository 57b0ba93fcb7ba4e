package cliquet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/internal/jsoncheck"
	"github.com/cliquet-go/cliquet/internal/jsonenc"
	"github.com/cliquet-go/cliquet/internal/jsonobj"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/protocol"
)

// BatchPath is the route of the batch endpoint under the version prefix (protocol.md 1.6).
const BatchPath = "/batch"

// batchMethods are the methods a sub-request may use, in the order error messages list them.
const batchMethods = "GET, HEAD, DELETE, TRACE, POST, PUT, PATCH"

const msgRecursiveBatch = "Recursive call on " + BatchPath + " endpoint is forbidden."

// subrequest is one validated entry of a batch, defaults applied.
type subrequest struct {
	method  string
	path    string // as given, version prefix added
	target  *url.URL
	headers map[string]string
	body    []byte // JSON-encoded body; nil when the entry has none
}

// subresponse is one entry of the batch response.
type subresponse struct {
	Status  int               `json:"status"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body"` // json.RawMessage, or a string
}

// batchHandler returns the POST /batch view. Sub-requests are dispatched one after the
// other through the router given to Initialize (so through the whole middleware stack),
// in the context of the batch request: they join its unit of work (see [Transaction]).
// The first sub-request answered with a 5xx fails the whole batch with that response.
func (a *App) batchHandler() http.HandlerFunc {
	limit, set, _ := a.Settings.OptionalInt("batch_max_requests") // checked by Initialize
	if !set || limit < 0 {
		limit = 0
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if monitoring.IsSubrequest(ctx) {
			protocol.WriteError(w, r, protocol.InvalidParam("body", "requests", msgRecursiveBatch))
			return
		}
		RequireTransaction(ctx) // the sub-requests' writes form one unit of work
		subs, err := a.parseBatch(r, limit)
		if err != nil {
			protocol.WriteError(w, r, err)
			return
		}
		monitoring.AddFields(ctx, slog.Int("batch_size", len(subs)))
		responses := make([]subresponse, 0, len(subs))
		for i, sub := range subs {
			if err := ctx.Err(); err != nil {
				protocol.WriteError(w, r, fmt.Errorf("cliquet: batch interrupted before sub-request %d: %w", i, context.Cause(ctx)))
				return
			}
			req, res := a.runSubrequest(r, sub)
			if res.status() >= 500 {
				writeFailedBatch(w, r, res)
				return
			}
			responses = append(responses, buildSubresponse(req, res))
		}
		protocol.WriteRawJSON(w, http.StatusOK, appendResponses(make([]byte, 0, 512*len(responses)+16), responses))
	}
}

// runSubrequest dispatches sub and follows one redirection. It returns the request that
// produced the final response.
func (a *App) runSubrequest(parent *http.Request, sub subrequest) (*http.Request, *bufferedWriter) {
	header := parent.Header.Clone()
	if header == nil {
		header = http.Header{}
	}
	header.Del("Content-Length")
	for k, v := range sub.headers {
		header.Set(k, v)
	}
	if sub.body != nil {
		header.Set("Content-Type", "application/json; charset=utf-8")
	}
	req, res := a.dispatch(parent, sub.method, sub.target, header, sub.body)
	code := res.status()
	if code < 300 || code >= 400 || code == http.StatusNotModified {
		return req, res
	}
	loc, err := url.Parse(res.header.Get("Location"))
	if err != nil || res.header.Get("Location") == "" {
		return req, res
	}
	next := sub.target.ResolveReference(loc)
	if next.Host != "" && next.Host != parent.Host {
		return req, res // another server: nothing to dispatch in-process
	}
	next.Scheme, next.Host, next.User = "", "", nil
	return a.dispatch(parent, sub.method, next, header.Clone(), sub.body)
}

// dispatch serves one sub-request with the root router and records its response.
func (a *App) dispatch(parent *http.Request, method string, target *url.URL, header http.Header, body []byte) (*http.Request, *bufferedWriter) {
	ctx := monitoring.WithSubrequest(parent.Context())
	// A fresh routing context: chi reuses one found in the context, which would make the
	// root router resume the batch request's routing state.
	ctx = context.WithValue(ctx, chi.RouteCtxKey, chi.NewRouteContext())
	u := *target
	// The literal does not escape: WithContext's copy is the request's only allocation.
	req := (&http.Request{
		Method:     method,
		URL:        &u,
		Proto:      parent.Proto,
		ProtoMajor: parent.ProtoMajor,
		ProtoMinor: parent.ProtoMinor,
		Header:     header,
		Body:       http.NoBody,
		Host:       parent.Host,
		RemoteAddr: parent.RemoteAddr,
		RequestURI: u.RequestURI(),
		TLS:        parent.TLS,
	}).WithContext(ctx)
	if len(body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	res := &bufferedWriter{header: http.Header{}}
	a.root.ServeHTTP(res, req)
	return req, res
}

// buildSubresponse turns a recorded response into a batch response entry.
func buildSubresponse(req *http.Request, res *bufferedWriter) subresponse {
	out := subresponse{
		Status:  res.status(),
		Path:    req.URL.Path,
		Headers: make(map[string]string, len(res.header)),
		Body:    "",
	}
	for k, v := range res.header {
		if k == "Etag" { // Go's canonical form; the protocol (and Kinto's clients) spell it ETag
			k = protocol.HeaderETag
		}
		out.Headers[k] = strings.Join(v, ", ")
	}
	if req.Method == http.MethodHead {
		return out
	}
	raw := bytes.TrimSpace(res.body.Bytes())
	switch {
	case len(raw) > 0 && json.Valid(raw):
		out.Body = json.RawMessage(raw)
	case out.Status >= 400:
		// Errors are always JSON on the protocol's channel: wrap a plain-text one.
		b, _ := protocol.MarshalJSON(plainError(out.Status, raw))
		out.Body = json.RawMessage(b)
		out.Headers["Content-Type"] = protocol.ContentTypeJSON
		delete(out.Headers, "Content-Length")
	case len(raw) > 0:
		out.Body = res.body.String()
	}
	return out
}

// writeFailedBatch answers the batch request with the 5xx response of a sub-request. A
// JSON body is sent as is; another one is replaced by the protocol's JSON error.
func writeFailedBatch(w http.ResponseWriter, r *http.Request, res *bufferedWriter) {
	raw := bytes.TrimSpace(res.body.Bytes())
	if len(raw) > 0 && raw[0] == '{' && json.Valid(raw) {
		if ra := res.header.Get(protocol.HeaderRetryAfter); ra != "" {
			w.Header().Set(protocol.HeaderRetryAfter, ra)
		}
		protocol.WriteRawJSON(w, res.status(), raw)
		return
	}
	protocol.WriteError(w, r, plainError(res.status(), raw))
}

// plainError is the JSON error standing for a non-JSON error response.
func plainError(code int, text []byte) *protocol.Error {
	errno := protocol.ErrnoUndefined
	if code == http.StatusServiceUnavailable {
		errno = protocol.ErrnoBackend
	}
	e := protocol.NewError(code, errno, "")
	if e.Title == "" {
		e.Title = "Error " + strconv.Itoa(code)
	}
	msg := strings.TrimSpace(string(text))
	if len(msg) > 200 {
		msg = msg[:200]
	}
	e.Message = msg
	if code >= 500 {
		e.Cause = errors.New("cliquet: batch sub-request failed: " + msg)
	}
	return e
}

// parseBatch reads, validates and expands the batch payload (protocol.md 1.6).
func (a *App) parseBatch(r *http.Request, limit int) ([]subrequest, error) {
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, protocol.InvalidParam("body", "", "Could not read the request body: "+err.Error())
	}
	raw = bytes.TrimSpace(raw)
	if ct := r.Header.Get("Content-Type"); ct != "" || len(raw) > 0 {
		media, _, err := mime.ParseMediaType(ct)
		if err != nil || !strings.EqualFold(media, protocol.MediaJSON) {
			return nil, protocol.UnsupportedMediaType(protocol.MediaJSON)
		}
	}
	var doc any = map[string]any{} // an empty body lacks requests
	if len(raw) > 0 {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		err := d.Decode(&doc)
		if err == nil {
			if _, extra := d.Token(); extra != io.EOF {
				err = errors.New("invalid character after top-level value")
			}
		}
		if err != nil {
			return nil, protocol.InvalidParam("body", "", "Invalid JSON: "+err.Error())
		}
		// The decoder turns invalid UTF-8 and lone surrogates into U+FFFD, which the
		// sub-requests could not tell from the real thing: the batch body follows the rules
		// of the bodies it carries.
		if err := jsoncheck.Text(raw); err != nil {
			return nil, protocol.InvalidParam("body", "", err.Error())
		}
	}
	payload, ok := doc.(map[string]any)
	if !ok {
		return nil, protocol.InvalidParam("body", "", "The body should be a JSON object with a requests list")
	}

	var details []protocol.Detail
	add := func(name, desc string) {
		details = append(details, protocol.Detail{Location: "body", Name: name, Description: desc})
	}
	for _, k := range sortedKeys(payload) {
		if k != "requests" && k != "defaults" {
			add(k, k+" is not allowed")
		}
	}
	defaults, hasDefaults := payload["defaults"]
	if hasDefaults && defaults != nil {
		dm, ok := defaults.(map[string]any)
		if !ok {
			add("defaults", "defaults should be an object")
		} else {
			details = append(details, checkSubrequest("defaults", dm, false)...)
		}
	}
	list, present := payload["requests"]
	items, isList := list.([]any)
	switch {
	case !present || list == nil:
		add("requests", "requests is missing")
	case !isList:
		add("requests", "requests should be a list")
	}
	if len(details) > 0 {
		return nil, protocol.InvalidParameters(details...)
	}

	dm, _ := defaults.(map[string]any)
	for i, item := range items {
		name := "requests." + strconv.Itoa(i)
		m, ok := item.(map[string]any)
		if !ok {
			add(name, name+" should be an object")
			continue
		}
		if dm != nil {
			mergeDefaults(m, dm)
		}
		details = append(details, checkSubrequest(name, m, true)...)
	}
	if len(details) > 0 {
		return nil, protocol.InvalidParameters(details...)
	}
	if limit > 0 && len(items) > limit {
		return nil, protocol.InvalidParam("body", "requests", fmt.Sprintf("Number of requests is limited to %d", limit))
	}

	subs := make([]subrequest, 0, len(items))
	for i, item := range items {
		sub, err := a.newSubrequest("requests."+strconv.Itoa(i), item.(map[string]any))
		if err != nil {
			return nil, err
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

// newSubrequest builds a sub-request from a validated entry.
func (a *App) newSubrequest(name string, m map[string]any) (subrequest, error) {
	sub := subrequest{method: http.MethodGet}
	if s, ok := m["method"].(string); ok {
		sub.method = s
	}
	p := m["path"].(string)
	if strings.Contains(p, BatchPath) {
		return sub, protocol.InvalidParam("body", "requests", msgRecursiveBatch)
	}
	if p != a.Prefix && !strings.HasPrefix(p, a.Prefix+"/") && !strings.HasPrefix(p, a.Prefix+"?") {
		p = a.Prefix + p
	}
	sub.path = p
	u, err := url.Parse(p)
	if err != nil {
		return sub, protocol.InvalidParam("body", name+".path", "path is not a valid URL: "+err.Error())
	}
	if strings.Contains(u.Path, BatchPath) {
		return sub, protocol.InvalidParam("body", "requests", msgRecursiveBatch)
	}
	u.RawQuery = encodeQuery(u.RawQuery)
	sub.target = u
	if h, ok := m["headers"].(map[string]any); ok {
		sub.headers = make(map[string]string, len(h))
		for k, v := range h {
			sub.headers[k] = v.(string)
		}
	}
	if b, ok := m["body"].(map[string]any); ok {
		raw, err := protocol.MarshalJSON(b)
		if err != nil {
			return sub, protocol.InvalidParam("body", name+".body", "body cannot be encoded: "+err.Error())
		}
		sub.body = raw
	}
	return sub, nil
}

// checkSubrequest validates one request entry (or the defaults, where path is optional).
func checkSubrequest(name string, m map[string]any, pathRequired bool) []protocol.Detail {
	var details []protocol.Detail
	add := func(field, desc string) {
		details = append(details, protocol.Detail{Location: "body", Name: name + "." + field, Description: desc})
	}
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch k {
		case "method":
			if v == nil {
				continue
			}
			if s, ok := v.(string); !ok || !validBatchMethod(s) {
				add(k, "method should be one of "+batchMethods)
			}
		case "path":
			if v == nil {
				continue
			}
			s, ok := v.(string)
			switch {
			case !ok:
				add(k, "path should be a string")
			case !strings.HasPrefix(s, "/"):
				add(k, "path should start with /")
			}
		case "headers":
			if v == nil {
				continue
			}
			h, ok := v.(map[string]any)
			if !ok {
				add(k, "headers should be an object")
				continue
			}
			for _, hk := range sortedKeys(h) {
				if _, ok := h[hk].(string); !ok {
					add(k, "headers contains a non string value for "+strconv.Quote(hk))
				}
			}
		case "body":
			if v == nil {
				continue
			}
			if _, ok := v.(map[string]any); !ok {
				add(k, "body should be an object")
			}
		default:
			add(k, k+" is not allowed")
		}
	}
	if pathRequired && m["path"] == nil {
		add("path", "path is missing")
	}
	return details
}

func validBatchMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodTrace,
		http.MethodPost, http.MethodPut, http.MethodPatch:
		return true
	}
	return false
}

// mergeDefaults copies into m the values of defaults that m lacks (a null counts as
// absent), recursively for objects present on both sides: the request always wins.
func mergeDefaults(m, defaults map[string]any) {
	for k, dv := range defaults {
		cur, ok := m[k]
		if !ok || cur == nil {
			m[k] = jsonobj.Clone(dv)
			continue
		}
		cm, curIsMap := cur.(map[string]any)
		dm, defIsMap := dv.(map[string]any)
		if curIsMap && defIsMap {
			mergeDefaults(cm, dm)
		}
	}
}

// encodeQuery percent-encodes the bytes of a raw querystring that may not appear in a URL
// (spaces, non-ASCII), leaving existing escapes and delimiters alone.
func encodeQuery(q string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c > 0x20 && c < 0x7f && c != '#' && c != '"' && c != '<' && c != '>' && c != '`' && c != '{' && c != '}' && c != '|' && c != '\\' && c != '^' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0x0f])
	}
	return b.String()
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendResponses appends {"responses": [...]} encoded as protocol.WriteJSON encodes it
// (encoding/json without HTML escaping: header names sorted, a json.RawMessage body
// compacted), without reflection: the batch response is the largest JSON a batch writes. A
// test checks that the output is byte for byte protocol.MarshalJSON's.
func appendResponses(buf []byte, responses []subresponse) []byte {
	buf = append(buf, `{"responses":[`...)
	var keys []string
	for i, r := range responses {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"status":`...)
		buf = strconv.AppendInt(buf, int64(r.Status), 10)
		buf = append(buf, `,"path":`...)
		buf = jsonenc.AppendString(buf, r.Path)
		buf = append(buf, `,"headers":{`...)
		keys = keys[:0]
		for k := range r.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for j, k := range keys {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = jsonenc.AppendString(buf, k)
			buf = append(buf, ':')
			buf = jsonenc.AppendString(buf, r.Headers[k])
		}
		buf = append(buf, `},"body":`...)
		switch b := r.Body.(type) {
		case json.RawMessage:
			out := bytes.NewBuffer(buf)
			if err := json.Compact(out, b); err != nil { // never: bodies are checked with json.Valid
				out.Truncate(len(buf))
				out.WriteString(`null`)
			}
			buf = out.Bytes()
		case string:
			buf = jsonenc.AppendString(buf, b)
		default:
			buf = append(buf, `null`...)
		}
		buf = append(buf, '}')
	}
	return append(buf, "]}"...)
}
