package monitoring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/jsontest"
	"github.com/cliquet-go/cliquet/monitoring"
)

// FuzzJSONLogger checks the hand-written mozlog encoder against encoding/json: a record
// with any message, logger name, group, keys and values is written on one line of valid
// JSON that decodes to what json.Marshal gives for the same envelope and fields (a float
// that JSON cannot hold, NaN or an infinity, as its Go spelling in a string). Numbers are
// compared as the exact values they denote. Without -fuzz it runs the seeds; scripts/test
// runs it for a few seconds.
func FuzzJSONLogger(f *testing.F) {
	f.Add("request.summary", "proj", "", "code", "/v1/x", int64(200), uint64(7), 1.5, true, "a", "1")
	f.Add("evt", "", "req", "", "", int64(-1), uint64(math.MaxUint64), math.Inf(1), false, "", "")
	f.Add("a\nb\x00\xff\u2028", "<&>", "g.h", "k\"\\", "tab\tnew\nline\r\b\f", int64(math.MinInt64), uint64(1)<<53+1,
		math.NaN(), true, "\xc3", "\xed\xa0\x80")
	f.Add("é😀", "x", "日本", "é", "</script>&amp;", int64(1)<<53+1, uint64(0), 1e21, false, "k\x7f", "v\x1f")
	f.Add("m", "n", "", "k", "v", int64(0), uint64(0), 5e-324, true, "b", "2")
	f.Add("m", "n", "", "k", "v", int64(0), uint64(0), math.Copysign(0, -1), true, "b", "2")
	f.Add("m", "n", "", "k", "v", int64(0), uint64(0), 1.7976931348623157e308, true, "b", "2")
	f.Fuzz(func(t *testing.T, msg, name, group, key, s string, i int64, u uint64, fl float64, b bool, mk, mv string) {
		var buf bytes.Buffer
		log := monitoring.NewLogger(&buf, monitoring.LoggerOptions{
			Name: name, Hostname: "host", Pid: 7, Level: slog.LevelDebug,
		})
		prefix := ""
		if group != "" {
			log, prefix = log.WithGroup(group), group+"."
		}
		at := time.Unix(0, i)
		log.LogAttrs(context.Background(), slog.LevelWarn, msg,
			slog.String(key+"s", s), slog.Int64(key+"i", i), slog.Uint64(key+"u", u), slog.Float64(key+"f", fl),
			slog.Bool(key+"b", b), slog.Duration(key+"d", time.Duration(i)), slog.Any(key+"e", errors.New(s)),
			slog.Any(key+"m", map[string]string{mk: mv, mk + "2": s}), slog.Any(key+"n", nil),
			slog.Any(key+"l", []any{s, i, b}), slog.Time(key+"t", at))

		line := buf.Bytes()
		if len(line) == 0 || line[len(line)-1] != '\n' || bytes.IndexByte(line[:len(line)-1], '\n') >= 0 {
			t.Fatalf("the record is not one line: %q", line)
		}
		line = line[:len(line)-1]
		if !json.Valid(line) {
			t.Fatalf("not JSON: %s", line)
		}
		var floatValue any = fl
		if math.IsNaN(fl) || math.IsInf(fl, 0) {
			floatValue = strconv.FormatFloat(fl, 'g', -1, 64)
		}
		loggerName := name
		if loggerName == "" {
			loggerName = "cliquet"
		}
		want := map[string]any{
			"Type": msg, "Logger": loggerName, "Hostname": "host", "EnvVersion": "2.0", "Severity": 4, "Pid": 7,
			"Fields": map[string]any{
				prefix + key + "s": s, prefix + key + "i": i, prefix + key + "u": u, prefix + key + "f": floatValue,
				prefix + key + "b": b, prefix + key + "d": i, prefix + key + "e": s,
				prefix + key + "m": map[string]string{mk: mv, mk + "2": s}, prefix + key + "n": nil,
				prefix + key + "l": []any{s, i, b}, prefix + key + "t": at.Format(time.RFC3339Nano),
			},
		}
		wantJSON, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		got := decodeExact(t, line).(map[string]any)
		if ts, ok := got["Timestamp"].(exactNumber); !ok || strings.Contains(string(ts), "/") {
			t.Fatalf("Timestamp %v is not an integer: %s", got["Timestamp"], line)
		}
		delete(got, "Timestamp")
		if w := decodeExact(t, wantJSON); !reflect.DeepEqual(got, w) {
			t.Fatalf("logged %s\nwhich decodes to %v\njson.Marshal gives %s\nwhich decodes to %v", line, got, wantJSON, w)
		}
	})
}

// exactNumber is a JSON number as the exact rational it denotes: 1e+21 and
// 1000000000000000000000, written by two encoders for one float64, are the same number.
type exactNumber string

// decodeExact decodes the JSON text b with encoding/json, numbers as exactNumber.
func decodeExact(t *testing.T, b []byte) any {
	t.Helper()
	return exactNumbers(t, jsontest.Decode(t, b))
}

func exactNumbers(t *testing.T, v any) any {
	switch x := v.(type) {
	case json.Number:
		r, ok := new(big.Rat).SetString(string(x))
		if !ok {
			t.Fatalf("number %s", x)
		}
		return exactNumber(r.RatString())
	case map[string]any:
		for k, e := range x {
			x[k] = exactNumbers(t, e)
		}
	case []any:
		for i, e := range x {
			x[i] = exactNumbers(t, e)
		}
	}
	return v
}
