package jsoncheck

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestText(t *testing.T) {
	bad := map[string]string{
		"\"a\xffb\"":                          "invalid UTF-8 (byte 0xff at offset 2)",
		"{\"\xc3\": 1}":                       "invalid UTF-8 (byte 0xc3 at offset 2)",
		"\"\xed\xa0\x80\"":                    "invalid UTF-8 (byte 0xed at offset 1)", // a surrogate encoded in UTF-8
		`{"v": "a\u0000b"}`:                   `the NUL character (\u0000 at offset 8) is not allowed`,
		`["\\", "\u0000"]`:                    `the NUL character (\u0000 at offset 8) is not allowed`,
		`{"\u0000": 1}`:                       `the NUL character (\u0000 at offset 2) is not allowed`,
		`"\ud800"`:                            `lone UTF-16 surrogate (\ud800 at offset 1)`,
		`"\uDBFFx"`:                           `lone UTF-16 surrogate (\udbff at offset 1)`,
		`"\udc00"`:                            `lone UTF-16 surrogate (\udc00 at offset 1)`,
		`"\ud800\u0041"`:                      `lone UTF-16 surrogate (\ud800 at offset 1)`,
		`"\ud800\ud800"`:                      `lone UTF-16 surrogate (\ud800 at offset 1)`,
		`"\ud83d\ude00\udc00"`:                `lone UTF-16 surrogate (\udc00 at offset 13)`,
		`{"v": 1e400}`:                        "the number 1e400 is out of range (at offset 6)",
		`[-1.8E+308]`:                         "the number -1.8E+308 is out of range (at offset 1)",
		"[1" + strings.Repeat("0", 309) + "]": "the number 1000000000000000000000000000000000000... is out of range (at offset 1)",
	}
	for in, want := range bad {
		if !json.Valid([]byte(in)) && !strings.Contains(want, "UTF-8") {
			t.Fatalf("test input %q is not valid JSON", in)
		}
		err := Text([]byte(in))
		if err == nil || err.Error() != want {
			t.Errorf("Text(%q) = %v, want %q", in, err, want)
		}
	}
	good := []string{
		`{}`, `"plain"`, `"\\u0000"`, `"\\\u0041"`, `"\u0001\u001f"`, `"\ud83d\ude00 \uD83D\uDE00"`,
		`"\ufffd �"`, `"é 😀"`, `{"1e400": "1e400"}`, `[1.7976931348623157e308, -1.7976931348623157e308]`,
		`[1e-400, 0.000001, -0, 12345678901234567890]`, "[1" + strings.Repeat("0", 300) + "]",
		`{"a": [true, false, null, "\"", "\\"]}`,
	}
	for _, in := range good {
		if err := Text([]byte(in)); err != nil {
			t.Errorf("Text(%q) = %v, want nil", in, err)
		}
	}
}

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		"a\xffb": "invalid UTF-8 (byte 0xff at offset 1)",
		"\xc3":   "invalid UTF-8 (byte 0xc3 at offset 0)",
		"ab\x00": "the NUL character (at offset 2) is not allowed",
	} {
		if err := String(in); err == nil || err.Error() != want {
			t.Errorf("String(%q) = %v, want %q", in, err, want)
		}
	}
	for _, in := range []string{"", "a", "é 😀 \ufffd", "\x01", `\u0000`} {
		if err := String(in); err != nil {
			t.Errorf("String(%q) = %v, want nil", in, err)
		}
	}
}

// FuzzText checks that Text never panics, and that JSON text it accepts decodes to strings
// without NUL characters and to numbers within float64 range. Without -fuzz it runs the
// seeds.
func FuzzText(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"v": "a\u0000b"}`, `"\ud800"`, `"\ud83d\ude00"`, `"\ud800\u0041"`, `[1e400, -1e-400]`, "\"\xff\"",
		`{"a": [true, null, "\\u0000", "\\"]}`, `"\u00e9\uFFFD"`, `12345678901234567890`, `"\`, `"\u12`, `-`, `1e`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Text(b)
		if err != nil || !json.Valid(b) {
			return
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		var walk func(v any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				if strings.IndexByte(x, 0) >= 0 {
					t.Fatalf("Text(%q) = nil, but it decodes to a string holding NUL", b)
				}
			case json.Number:
				if _, err := x.Float64(); err != nil {
					t.Fatalf("Text(%q) = nil, but the number %s: %v", b, x, err)
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			case map[string]any:
				for k, e := range x {
					walk(k)
					walk(e)
				}
			}
		}
		walk(v)
	})
}
