package jsonenc_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/internal/jsonenc"
	"github.com/cliquet-go/cliquet/protocol"
)

// FuzzAppendString checks that AppendString encodes any string byte for byte as
// protocol.MarshalJSON does, and AppendStringHTML as json.Marshal does. Without -fuzz it runs
// the seeds; scripts/test runs it for a few seconds.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{
		"", "plain", "café 😀 日本", `"quoted" \ back\slash`, "<a href='/x?a=1&b=2'>", "tab\tnew\nline\r\b\f",
		"\x00", "a\x00b", "\x01\x1f\x7f", "\u2028\u2029", "\ufffd", "\xff", "a\xffb", "\xc3", "\xe2\x82",
		"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", `\u0000`, `\ud800`, "1e400", strings.Repeat("é", 100),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := protocol.MarshalJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonenc.AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendString(%q) = %q, want %q", s, got[1:], want)
		}
		want, err = json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonenc.AppendStringHTML(nil, s); string(got) != string(want) {
			t.Errorf("AppendStringHTML(%q) = %q, want %q", s, got, want)
		}
	})
}
