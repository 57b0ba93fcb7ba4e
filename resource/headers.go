package resource

import (
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// preconditions are the parsed If-Match / If-None-Match headers. A zero timestamp with the
// header present means "*".
type preconditions struct {
	ifMatch, ifNoneMatch       bool
	matchAny, noneMatchAny     bool
	matchValue, noneMatchValue int64
}

var etagPattern = regexp.MustCompile(`^"(\d+)"$`)

func parsePreconditions(h http.Header) (preconditions, error) {
	var p preconditions
	parse := func(name string) (present, any bool, v int64, err error) {
		vals := h.Values(name)
		if len(vals) == 0 {
			return false, false, 0, nil
		}
		raw := strings.TrimSpace(vals[0])
		if raw == "*" {
			return true, true, 0, nil
		}
		m := etagPattern.FindStringSubmatch(raw)
		if m == nil {
			return false, false, 0, protocol.InvalidParam("headers", name,
				"Invalid value for "+name+". The value should be integer between double quotes.")
		}
		n, perr := strconv.ParseInt(m[1], 10, 64)
		if perr != nil {
			return false, false, 0, protocol.InvalidParam("headers", name,
				"Invalid value for "+name+". The value should be integer between double quotes.")
		}
		return true, false, n, nil
	}
	var err error
	if p.ifMatch, p.matchAny, p.matchValue, err = parse(protocol.HeaderIfMatch); err != nil {
		return p, err
	}
	if p.ifNoneMatch, p.noneMatchAny, p.noneMatchValue, err = parse(protocol.HeaderIfNoneMatch); err != nil {
		return p, err
	}
	return p, nil
}

// notModified reports whether a GET should answer 304: If-None-Match equals current.
func (p preconditions) notModified(current int64) bool {
	return p.ifNoneMatch && !p.noneMatchAny && p.noneMatchValue == current
}

// failed applies the RFC-style rules of protocol.md 3.5 and reports whether the request must
// answer 412: If-None-Match: * fails when the target exists, If-Match fails when it does not
// exist, and If-Match: "<ts>" fails when ts differs from current.
func (p preconditions) failed(exists bool, current int64) bool {
	switch {
	case p.ifNoneMatch && p.noneMatchAny && exists:
		return true
	case p.ifMatch && !exists:
		return true
	case p.ifMatch && !p.matchAny:
		return p.matchValue != current
	}
	return false
}

// modifiedMeanwhile is the 412 errno 114 answer, carrying the current timestamp headers and,
// on object endpoints, the existing object (never its permissions).
func modifiedMeanwhile(current int64, existing *storage.Object) error {
	e := protocol.NewError(http.StatusPreconditionFailed, protocol.ErrnoModifiedMeanwhile, protocol.MsgModified)
	if existing != nil {
		e.Details = map[string]any{"existing": *existing}
	} else {
		e.Details = map[string]any{}
	}
	e.Header = http.Header{}
	setTimestamp(e.Header, current)
	return e
}

// setTimestamp sets ETag (the quoted timestamp) and Last-Modified for ts (epoch
// milliseconds), as Header.Set would under the canonical keys, with both values cut from
// one string and held in one array of this response (each key gets a full-capacity
// sub-slice, so that an Add copies it).
func setTimestamp(h http.Header, ts int64) {
	var stack [64]byte
	b := append(stack[:0], '"')
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, '"')
	etagLen := len(b)
	b = time.UnixMilli(ts).UTC().AppendFormat(b, http.TimeFormat)
	both := string(b)
	values := []string{both[:etagLen], both[etagLen:]}
	h["Etag"] = values[0:1:1]
	h[protocol.HeaderLastModified] = values[1:2:2]
}

// acceptsJSON reports whether the Accept header allows a JSON response.
func acceptsJSON(h http.Header) bool {
	values := h.Values("Accept")
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			media, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					continue
				}
			}
			switch media {
			case "*/*", "application/*", protocol.MediaJSON:
				return true
			}
		}
	}
	return false
}

// bodyKind is how a request body must be read.
type bodyKind int

const (
	bodyJSON bodyKind = iota
	bodyMergePatch
	bodyJSONPatch
)

// contentKind checks the Content-Type of a write. An absent Content-Type is accepted only
// with an empty body.
func contentKind(h http.Header, method string, empty bool) (bodyKind, error) {
	accepted := []string{protocol.MediaJSON}
	if method == http.MethodPatch {
		accepted = append(accepted, protocol.MediaMergePatch, protocol.MediaJSONPatch)
	}
	raw := h.Get("Content-Type")
	if raw == "" {
		if empty {
			return bodyJSON, nil
		}
		return 0, protocol.UnsupportedMediaType(accepted...)
	}
	if raw == protocol.MediaJSON {
		return bodyJSON, nil // the common case, without parsing
	}
	media, _, err := mime.ParseMediaType(raw)
	if err != nil {
		return 0, protocol.UnsupportedMediaType(accepted...)
	}
	media = strings.ToLower(media)
	switch {
	case media == protocol.MediaJSON:
		return bodyJSON, nil
	case method == http.MethodPatch && media == protocol.MediaMergePatch:
		return bodyMergePatch, nil
	case method == http.MethodPatch && media == protocol.MediaJSONPatch:
		return bodyJSONPatch, nil
	}
	return 0, protocol.UnsupportedMediaType(accepted...)
}
