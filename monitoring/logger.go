package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/jsonenc"
)

// LevelCritical is the slog level of critical records (Severity 2 in mozlog).
const LevelCritical = slog.LevelError + 4

// LoggerOptions configures [NewLogger]. The zero value gives a JSON (mozlog) logger at INFO
// level named "cliquet".
type LoggerOptions struct {
	// Renderer is "json" (the default; also accepted: "mozlog" and Cliquet's
	// "cliquet.logs.MozillaHekaRenderer") or "text" (also "classic" and
	// "cliquet.logs.ClassicLogRenderer").
	Renderer string
	// Level is the minimum level written; nil means slog.LevelInfo.
	Level slog.Leveler
	// Name is the mozlog "Logger" field, normally the project name; "" means "cliquet".
	Name string
	// Hostname is the mozlog "Hostname" field; "" means the HOSTNAME environment variable,
	// else os.Hostname().
	Hostname string
	// Pid is the mozlog "Pid" field; 0 means os.Getpid().
	Pid int
	// Now is the clock used when a record has no time; nil means time.Now.
	Now func() time.Time
}

// ParseRenderer returns the canonical renderer name ("json" or "text") for a
// logging_renderer setting value, or an error naming the accepted values.
func ParseRenderer(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "json", "mozlog", "cliquet.logs.mozillahekarenderer", "kinto.core.jsonlogformatter":
		return "json", nil
	case "text", "classic", "cliquet.logs.classiclogrenderer":
		return "text", nil
	}
	return "", fmt.Errorf("monitoring: unknown logging renderer %q (want json or text)", s)
}

// ParseLevel parses a logging_level setting value: debug, info, warning (or warn), error or
// critical, case-insensitively.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warning", "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "critical", "fatal":
		return LevelCritical, nil
	}
	return 0, fmt.Errorf("monitoring: unknown logging level %q (want debug, info, warning, error or critical)", s)
}

// NewLogger returns a logger writing one line per record to w, in the format chosen by
// opts.Renderer:
//
//   - "json": a mozlog object {"Timestamp", "Type", "Logger", "Hostname", "EnvVersion",
//     "Severity", "Pid", "Fields"}, where Timestamp is nanoseconds since the epoch, Type is
//     the record message (the event name, such as "request.summary"), Severity is the syslog
//     number of the level (critical 2, error 3, warning 4, info 6, debug 7, as Dockerflow's
//     JsonLogFormatter) and Fields holds every attribute, group names joined with dots.
//   - "text": `"GET /v1/x?a=1" 200 (3 ms) request.summary k=v ...` for request summaries,
//     `event k=v ...` for other records, prefixed with the level when it is not INFO.
//
// Each record is written with a single Write call; the logger is safe for concurrent use.
// NewLogger panics when opts.Renderer is not a known renderer (validate settings with
// [ParseRenderer] or use [NewLoggerFromSettings]).
func NewLogger(w io.Writer, opts LoggerOptions) *slog.Logger {
	renderer, err := ParseRenderer(opts.Renderer)
	if err != nil {
		panic(err)
	}
	c := &handlerCore{w: w, text: renderer == "text", level: opts.Level, name: opts.Name,
		hostname: opts.Hostname, pid: opts.Pid, now: opts.Now}
	if c.level == nil {
		c.level = slog.LevelInfo
	}
	if c.name == "" {
		c.name = "cliquet"
	}
	if c.hostname == "" {
		c.hostname = os.Getenv("HOSTNAME")
	}
	if c.hostname == "" {
		c.hostname, _ = os.Hostname()
	}
	if c.pid == 0 {
		c.pid = os.Getpid()
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.pool.New = func() any { b := make([]byte, 0, 1024); return &b }
	return slog.New(&handler{core: c})
}

// NewLoggerFromSettings builds a logger on w from the settings logging_renderer,
// logging_level and project_name.
func NewLoggerFromSettings(w io.Writer, s *config.Settings) (*slog.Logger, error) {
	renderer, err := ParseRenderer(s.String("logging_renderer"))
	if err != nil {
		return nil, err
	}
	level, err := ParseLevel(s.String("logging_level"))
	if err != nil {
		return nil, err
	}
	return NewLogger(w, LoggerOptions{Renderer: renderer, Level: level, Name: s.String("project_name")}), nil
}

// handlerCore is shared by a handler and the handlers derived from it.
type handlerCore struct {
	mu       sync.Mutex // serialises writes
	w        io.Writer
	text     bool
	level    slog.Leveler
	name     string
	hostname string
	pid      int
	now      func() time.Time
	pool     sync.Pool // *[]byte buffers
}

// field is an attribute already flattened: key is the dotted path.
type field struct {
	key string
	val slog.Value
}

// handler implements slog.Handler for both renderers.
type handler struct {
	core   *handlerCore
	prefix string  // open groups, "a.b." or ""
	fields []field // from WithAttrs, already flattened
}

var _ slog.Handler = (*handler)(nil)

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.core.level.Level()
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.fields = slices.Clip(h.fields)
	for _, a := range attrs {
		h2.fields = appendFlat(h2.fields, h.prefix, a)
	}
	return &h2
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

// appendFlat appends a, resolved and with groups flattened into dotted keys.
func appendFlat(dst []field, prefix string, a slog.Attr) []field {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() == slog.KindGroup {
		attrs := a.Value.Group()
		if len(attrs) == 0 {
			return dst
		}
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, g := range attrs {
			dst = appendFlat(dst, p, g)
		}
		return dst
	}
	if a.Equal(slog.Attr{}) {
		return dst
	}
	return append(dst, field{prefix + a.Key, a.Value})
}

func (h *handler) Handle(_ context.Context, r slog.Record) error {
	bp := h.core.pool.Get().(*[]byte)
	buf := (*bp)[:0]
	var stack [24]field
	fields := append(stack[:0], h.fields...)
	r.Attrs(func(a slog.Attr) bool {
		fields = appendFlat(fields, h.prefix, a)
		return true
	})
	t := r.Time
	if t.IsZero() {
		t = h.core.now()
	}
	if h.core.text {
		buf = h.appendText(buf, r, fields)
	} else {
		buf = h.appendJSON(buf, r, t, fields)
	}
	buf = append(buf, '\n')
	h.core.mu.Lock()
	_, err := h.core.w.Write(buf)
	h.core.mu.Unlock()
	if cap(buf) <= 64<<10 {
		*bp = buf
		h.core.pool.Put(bp)
	}
	return err
}

// Severity returns the syslog severity mozlog uses for a slog level.
func Severity(l slog.Level) int {
	switch {
	case l >= LevelCritical:
		return 2
	case l >= slog.LevelError:
		return 3
	case l >= slog.LevelWarn:
		return 4
	case l >= slog.LevelInfo:
		return 6
	default:
		return 7
	}
}

func (h *handler) appendJSON(buf []byte, r slog.Record, t time.Time, fields []field) []byte {
	c := h.core
	buf = append(buf, `{"Timestamp":`...)
	buf = strconv.AppendInt(buf, t.UnixNano(), 10)
	buf = append(buf, `,"Type":`...)
	buf = jsonenc.AppendString(buf, r.Message)
	buf = append(buf, `,"Logger":`...)
	buf = jsonenc.AppendString(buf, c.name)
	buf = append(buf, `,"Hostname":`...)
	buf = jsonenc.AppendString(buf, c.hostname)
	buf = append(buf, `,"EnvVersion":"2.0","Severity":`...)
	buf = strconv.AppendInt(buf, int64(Severity(r.Level)), 10)
	buf = append(buf, `,"Pid":`...)
	buf = strconv.AppendInt(buf, int64(c.pid), 10)
	buf = append(buf, `,"Fields":{`...)
	for i, f := range fields {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jsonenc.AppendString(buf, f.key)
		buf = append(buf, ':')
		buf = appendJSONValue(buf, f.val)
	}
	return append(buf, "}}"...)
}

func appendJSONValue(buf []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return jsonenc.AppendString(buf, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(buf, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(buf, v.Uint64(), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
			return jsonenc.AppendString(buf, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(buf, f, 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(buf, v.Bool())
	case slog.KindDuration:
		return strconv.AppendInt(buf, int64(v.Duration()), 10)
	case slog.KindTime:
		return jsonenc.AppendString(buf, v.Time().Format(time.RFC3339Nano))
	}
	switch x := v.Any().(type) {
	case nil:
		return append(buf, "null"...)
	case error:
		return jsonenc.AppendString(buf, x.Error())
	case map[string]string:
		return appendStringMap(buf, x)
	case fmt.Stringer:
		if _, ok := x.(json.Marshaler); !ok {
			return jsonenc.AppendString(buf, x.String())
		}
	}
	b, err := marshalNoEscape(v.Any())
	if err != nil {
		return jsonenc.AppendString(buf, fmt.Sprintf("!ERROR: %v", err))
	}
	return append(buf, b...)
}

func appendStringMap(buf []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jsonenc.AppendString(buf, k)
		buf = append(buf, ':')
		buf = jsonenc.AppendString(buf, m[k])
	}
	return append(buf, '}')
}

func marshalNoEscape(v any) ([]byte, error) {
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return []byte(strings.TrimSuffix(sb.String(), "\n")), nil
}

// appendText renders the classic one-line form.
func (h *handler) appendText(buf []byte, r slog.Record, fields []field) []byte {
	if r.Level != slog.LevelInfo {
		buf = append(buf, levelName(r.Level)...)
		buf = append(buf, ' ')
	}
	// Request summaries start with the request line, status and duration.
	method, path, qs, code, dur := -1, -1, -1, -1, -1
	for i, f := range fields {
		switch f.key {
		case "method":
			method = i
		case "path":
			path = i
		case "querystring":
			qs = i
		case "code":
			code = i
		case "t":
			dur = i
		}
	}
	request := method >= 0 && path >= 0
	if request {
		buf = append(buf, '"')
		buf = append(buf, fields[method].val.String()...)
		buf = append(buf, ' ')
		buf = append(buf, fields[path].val.String()...)
		if qs >= 0 {
			if m, ok := fields[qs].val.Any().(map[string]string); ok && len(m) > 0 {
				buf = appendQuery(buf, m)
			}
		}
		buf = append(buf, '"')
		if code >= 0 {
			buf = append(buf, ' ')
			buf = appendTextValue(buf, fields[code].val)
		}
		if dur >= 0 {
			buf = append(buf, " ("...)
			buf = appendTextValue(buf, fields[dur].val)
			buf = append(buf, " ms)"...)
		}
		buf = append(buf, ' ')
	}
	buf = append(buf, r.Message...)
	for i, f := range fields {
		if request && (i == method || i == path || i == qs || i == code || i == dur) {
			continue
		}
		buf = append(buf, ' ')
		buf = append(buf, f.key...)
		buf = append(buf, '=')
		buf = appendTextValue(buf, f.val)
	}
	return buf
}

func appendQuery(buf []byte, m map[string]string) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i == 0 {
			buf = append(buf, '?')
		} else {
			buf = append(buf, '&')
		}
		buf = append(buf, k...)
		buf = append(buf, '=')
		buf = append(buf, m[k]...)
	}
	return buf
}

func levelName(l slog.Level) string {
	switch {
	case l >= LevelCritical:
		return "CRITICAL"
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// appendTextValue writes v bare when it is a simple token, quoted otherwise.
func appendTextValue(buf []byte, v slog.Value) []byte {
	var s string
	switch v.Kind() {
	case slog.KindString:
		s = v.String()
	case slog.KindInt64:
		return strconv.AppendInt(buf, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(buf, v.Uint64(), 10)
	case slog.KindBool:
		return strconv.AppendBool(buf, v.Bool())
	case slog.KindFloat64:
		return strconv.AppendFloat(buf, v.Float64(), 'g', -1, 64)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			s = x.Error()
		case fmt.Stringer:
			s = x.String()
		default:
			return appendJSONValue(buf, v)
		}
	default:
		s = v.String()
	}
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return r <= ' ' || r == '"' || r == '=' || r == '\\' || r == utf8.RuneError || r == 0x7f
	}) {
		return append(buf, s...)
	}
	return strconv.AppendQuote(buf, s)
}
