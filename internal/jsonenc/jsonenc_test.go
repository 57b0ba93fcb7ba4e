package jsonenc_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/cliquet-go/cliquet/internal/jsonenc"
	"github.com/cliquet-go/cliquet/protocol"
)

func TestAppendStringEncodesLikeProtocolMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		s    string
	}{
		{"an empty string", ""},
		{"plain ASCII is written as it is", "hello world"},
		{"slash and HTML characters are not escaped", "https://x/<a>&b"},
		{"quotes and backslashes are escaped", `say "hi" \ bye`},
		{"short escapes for backspace, form feed, newline, carriage return and tab", "\b\f\n\r\t"},
		{"other control characters and DEL", "\x00\x01\x1f\x7f"},
		{"U+2028 and U+2029 are escaped", "a\u2028b\u2029c"},
		{"invalid UTF-8 becomes U+FFFD byte by byte", "\xff\xfe \xe2\x80 \xed\xa0\x80 \xc0\xaf"},
		{"valid multi-byte runes are written as they are", "café noir \U0001F600 日本"},
		{"the replacement rune itself is kept", "\ufffd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := protocol.MarshalJSON(tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if got := jsonenc.AppendString(nil, tt.s); string(got) != string(want) {
				t.Errorf("got\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestAppendStringEncodesEveryByteAndRuneLikeProtocolMarshalJSON(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, err := protocol.MarshalJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonenc.AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	}
	all := make([]byte, 256)
	for b := range all {
		all[b] = byte(b)
		check(string(all[b : b+1]))
		check("x" + string(all[b:b+1]) + "y")
	}
	check(string(all))                             // every byte value in one string
	for r := rune(0); r <= utf8.MaxRune; r += 97 { // a sample across every plane, surrogates included
		check("a" + string(r) + "b")
	}
}

func TestAppendStringAppendsToTheGivenBuffer(t *testing.T) {
	buf := []byte(`{"k":`)
	got := string(append(jsonenc.AppendString(buf, "v\n"), '}'))
	if want := `{"k":"v\n"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func ExampleAppendString() {
	buf := jsonenc.AppendString([]byte("msg="), "<a href=\"/x\">\tnext\u2028line\xff</a>")
	fmt.Println(string(buf))
	// Output: msg="<a href=\"/x\">\tnext\u2028line\ufffd</a>"
}

func TestAppendStringHTMLEncodesEveryByteAndRuneLikeJSONMarshal(t *testing.T) {
	check := func(s string) {
		t.Helper()
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonenc.AppendStringHTML(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %q, want %q", s, got, want)
		}
	}
	check("")
	check(`<a href="/x?a=1&b=2">`)
	all := make([]byte, 256)
	for b := range all {
		all[b] = byte(b)
		check(string(all[b : b+1]))
		check("x" + string(all[b:b+1]) + "y")
	}
	check(string(all))
	for r := rune(0); r <= utf8.MaxRune; r += 97 {
		check("a" + string(r) + "b")
	}
}
