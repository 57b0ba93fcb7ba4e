package monitoring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/monitoring"
)

var fixed = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func jsonLogger(buf *bytes.Buffer, level slog.Leveler) *slog.Logger {
	return monitoring.NewLogger(buf, monitoring.LoggerOptions{
		Name: "proj", Hostname: "host-1", Pid: 7, Level: level, Now: func() time.Time { return fixed },
	})
}

type mozlog struct {
	Timestamp  int64
	Type       string
	Logger     string
	Hostname   string
	EnvVersion string
	Severity   int
	Pid        int
	Fields     map[string]any
}

func decodeLines(t *testing.T, s string) []mozlog {
	t.Helper()
	var out []mozlog
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if line == "" {
			continue
		}
		var m mozlog
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestJSONRendererWritesTheMozlogEnvelope(t *testing.T) {
	var buf bytes.Buffer
	log := jsonLogger(&buf, nil)
	log.Info("request.summary", "code", 200, "path", "/v1/x")
	got := decodeLines(t, buf.String())
	if len(got) != 1 {
		t.Fatalf("want 1 line, got %d: %q", len(got), buf.String())
	}
	m := got[0]
	if m.Type != "request.summary" || m.Logger != "proj" || m.Hostname != "host-1" || m.EnvVersion != "2.0" ||
		m.Severity != 6 || m.Pid != 7 {
		t.Errorf("envelope = %+v", m)
	}
	// slog stamps records itself; the timestamp is nanoseconds since the epoch, close to now.
	if d := time.Since(time.Unix(0, m.Timestamp)); d < 0 || d > time.Minute {
		t.Errorf("Timestamp %d is not ns since the epoch of now", m.Timestamp)
	}
	if m.Fields["code"] != json.Number("200") || m.Fields["path"] != "/v1/x" {
		t.Errorf("Fields = %v", m.Fields)
	}
}

func TestJSONRendererFlattensGroupsAndKeepsWithAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := jsonLogger(&buf, nil).With("app", "a1").WithGroup("req").With("rid", "r1").WithGroup("db")
	log.Info("evt", "ms", 3, slog.Group("q", "n", 1), slog.Group("empty"), slog.Group("", "inline", true))
	// The parent logger is unaffected by its children.
	jsonLogger(&buf, nil).Info("plain")
	got := decodeLines(t, buf.String())
	want := map[string]any{"app": "a1", "req.rid": "r1", "req.db.ms": json.Number("3"),
		"req.db.q.n": json.Number("1"), "req.db.inline": true}
	if len(got) != 2 {
		t.Fatalf("got %d lines", len(got))
	}
	if len(got[0].Fields) != len(want) {
		t.Errorf("Fields = %v, want %v", got[0].Fields, want)
	}
	for k, v := range want {
		if got[0].Fields[k] != v {
			t.Errorf("Fields[%q] = %#v, want %#v", k, got[0].Fields[k], v)
		}
	}
	if len(got[1].Fields) != 0 {
		t.Errorf("parent logger gained fields: %v", got[1].Fields)
	}
}

func TestJSONRendererEncodesValues(t *testing.T) {
	tests := []struct {
		name string
		attr slog.Attr
		want string
	}{
		{"strings keep slashes and non-ASCII and escape quotes", slog.String("s", `a/b "é"`), `"s":"a/b \"é\""`},
		{"control characters are escaped", slog.String("s", "a\nb\x01"), `"s":"a\nb\u0001"`},
		{"invalid UTF-8 becomes the replacement character", slog.String("s", "a\xffb"), `"s":"a\ufffdb"`},
		{"backspace and form feed have encoding/json's short escapes", slog.String("s", "a\bb\fc"), `"s":"a\bb\fc"`},
		{"U+2028 and U+2029 are escaped", slog.String("s", "a\u2028b\u2029c"), `"s":"a\u2028b\u2029c"`},
		{"slashes and HTML characters are not escaped", slog.String("s", "</a>&"), `"s":"</a>&"`},
		{"integers are numbers", slog.Int("n", -12), `"n":-12`},
		{"floats are numbers", slog.Float64("f", 1.5), `"f":1.5`},
		{"booleans are booleans", slog.Bool("b", true), `"b":true`},
		{"durations are nanoseconds", slog.Duration("d", 3*time.Millisecond), `"d":3000000`},
		{"errors are their message", slog.Any("err", errors.New("boom")), `"err":"boom"`},
		{"string maps are objects with sorted keys", slog.Any("qs", map[string]string{"b": "2", "a": "1"}), `"qs":{"a":"1","b":"2"}`},
		{"other values are JSON-encoded", slog.Any("l", []int{1, 2}), `"l":[1,2]`},
		{"nil is null", slog.Any("x", nil), `"x":null`},
		{"times are RFC 3339", slog.Time("at", fixed), `"at":"2024-05-01T12:00:00Z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			jsonLogger(&buf, nil).LogAttrs(context.Background(), slog.LevelInfo, "e", tt.attr)
			if !strings.Contains(buf.String(), `"Fields":{`+tt.want+`}}`) {
				t.Errorf("got %s, want Fields {%s}", buf.String(), tt.want)
			}
			if !json.Valid(bytes.TrimSpace(buf.Bytes())) {
				t.Errorf("invalid JSON: %s", buf.String())
			}
		})
	}
}

func TestSeverityFollowsDockerflowSyslogNumbers(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		want  int
	}{
		{"critical is 2", monitoring.LevelCritical, 2},
		{"error is 3", slog.LevelError, 3},
		{"warning is 4", slog.LevelWarn, 4},
		{"info is 6", slog.LevelInfo, 6},
		{"debug is 7", slog.LevelDebug, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			jsonLogger(&buf, slog.LevelDebug).Log(context.Background(), tt.level, "e")
			if got := decodeLines(t, buf.String())[0].Severity; got != tt.want {
				t.Errorf("Severity = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestLevelFiltersRecords(t *testing.T) {
	var buf bytes.Buffer
	log := jsonLogger(&buf, slog.LevelWarn)
	log.Info("dropped")
	log.Warn("kept")
	got := decodeLines(t, buf.String())
	if len(got) != 1 || got[0].Type != "kept" {
		t.Errorf("got %+v", got)
	}
}

func TestTextRenderer(t *testing.T) {
	tests := []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"request summaries start with the request line, status and duration", func(l *slog.Logger) {
			l.Info("request.summary", "method", "GET", "path", "/v1/x", "querystring", map[string]string{"b": "2", "a": "1"},
				"code", 200, "t", 3, "uid", "basicauth:1")
		}, `"GET /v1/x?a=1&b=2" 200 (3 ms) request.summary uid=basicauth:1`},
		{"an empty querystring adds no question mark", func(l *slog.Logger) {
			l.Info("request.summary", "method", "GET", "path", "/", "querystring", map[string]string{}, "code", 404, "t", 0)
		}, `"GET /" 404 (0 ms) request.summary`},
		{"other records are the event then key=value pairs", func(l *slog.Logger) {
			l.Info("startup", "port", 8888, "ok", true)
		}, `startup port=8888 ok=true`},
		{"non-INFO records are prefixed with their level", func(l *slog.Logger) {
			l.Warn("slow", "ms", 900)
		}, `WARNING slow ms=900`},
		{"values with spaces or quotes are quoted", func(l *slog.Logger) {
			l.Error("failed", "error", errors.New(`no "db"`), "empty", "")
		}, `ERROR failed error="no \"db\"" empty=""`},
		{"groups are dotted", func(l *slog.Logger) {
			l.WithGroup("g").Info("e", "k", "v")
		}, `e g.k=v`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(monitoring.NewLogger(&buf, monitoring.LoggerOptions{Renderer: "text"}))
			if got := strings.TrimSuffix(buf.String(), "\n"); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// lineWriter records each Write call separately.
type lineWriter struct {
	mu     sync.Mutex
	writes []string
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, string(b))
	w.mu.Unlock()
	return len(b), nil
}

func TestConcurrentRecordsAreWrittenWholeInOneWriteEach(t *testing.T) {
	w := &lineWriter{}
	log := monitoring.NewLogger(w, monitoring.LoggerOptions{})
	var wg sync.WaitGroup
	const goroutines, each = 8, 50
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := log.With("g", g)
			for i := range each {
				l.Info("evt", "i", i, "pad", strings.Repeat("x", 200))
			}
		}()
	}
	wg.Wait()
	if len(w.writes) != goroutines*each {
		t.Fatalf("%d writes, want %d", len(w.writes), goroutines*each)
	}
	for _, s := range w.writes {
		if strings.Count(s, "\n") != 1 || !strings.HasSuffix(s, "\n") || !json.Valid([]byte(s)) {
			t.Fatalf("write is not one JSON line: %q", s)
		}
	}
}

func TestParseRendererAndLevel(t *testing.T) {
	renderers := []struct {
		in, want string
		err      bool
	}{
		{"", "json", false}, {"json", "json", false}, {"mozlog", "json", false},
		{"cliquet.logs.MozillaHekaRenderer", "json", false}, {"text", "text", false},
		{"cliquet.logs.ClassicLogRenderer", "text", false}, {"xml", "", true},
	}
	for _, tt := range renderers {
		got, err := monitoring.ParseRenderer(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseRenderer(%q) = %q, %v", tt.in, got, err)
		}
	}
	levels := []struct {
		in   string
		want slog.Level
		err  bool
	}{
		{"debug", slog.LevelDebug, false}, {"INFO", slog.LevelInfo, false}, {"warning", slog.LevelWarn, false},
		{"warn", slog.LevelWarn, false}, {"error", slog.LevelError, false}, {"critical", monitoring.LevelCritical, false},
		{"verbose", 0, true},
	}
	for _, tt := range levels {
		got, err := monitoring.ParseLevel(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseLevel(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestNewLoggerPanicsOnAnUnknownRenderer(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	monitoring.NewLogger(&bytes.Buffer{}, monitoring.LoggerOptions{Renderer: "xml"})
}

func TestNewLoggerFromSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		check    func(t *testing.T, out string)
		err      bool
	}{
		{"text renderer and warning level are honoured", map[string]string{"logging_renderer": "text", "logging_level": "warning"},
			func(t *testing.T, out string) {
				if out != "WARNING w\n" {
					t.Errorf("got %q", out)
				}
			}, false},
		{"the JSON Logger field is the project name", map[string]string{"project_name": "kinto"},
			func(t *testing.T, out string) {
				if !strings.Contains(out, `"Logger":"kinto"`) || !strings.Contains(out, `"Type":"i"`) {
					t.Errorf("got %q", out)
				}
			}, false},
		{"an unknown renderer is an error", map[string]string{"logging_renderer": "xml"}, nil, true},
		{"an unknown level is an error", map[string]string{"logging_level": "loud"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := config.FromMap(tt.settings, config.Options{Env: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			log, err := monitoring.NewLoggerFromSettings(&buf, s)
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			log.Info("i")
			log.Warn("w")
			tt.check(t, buf.String())
		})
	}
}
