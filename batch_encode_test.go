package cliquet

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/protocol"
)

func TestAppendResponsesEncodesLikeProtocolMarshalJSON(t *testing.T) {
	var every strings.Builder
	for b := range 256 {
		every.WriteByte(byte(b))
	}
	tests := []struct {
		name      string
		responses []subresponse
	}{
		{"no responses", []subresponse{}},
		{"a JSON body with spaces is compacted", []subresponse{{
			Status: 201, Path: "/v1/bookmarks",
			Headers: map[string]string{"Etag": `"123"`, "Content-Type": "application/json; charset=UTF-8", "X-Request-Id": "a/b"},
			Body:    json.RawMessage("{ \"data\" : [1, 2,\n 3], \"url\": \"https://x/<a>&\" }"),
		}}},
		{"a string body, no headers and an empty body", []subresponse{
			{Status: 200, Path: "/v1/text", Headers: map[string]string{}, Body: "plain\ntext \"quoted\" \\ <tag> & é"},
			{Status: 204, Path: "/v1/café noir", Headers: map[string]string{"A": ""}, Body: ""},
		}},
		{"every byte, invalid UTF-8, U+2028 and U+2029 in strings", []subresponse{{
			Status: 400, Path: every.String(),
			Headers: map[string]string{every.String(): "\u2028 \u2029 \xff\xfe \xe2\x80 \U0001F600 \x7f"},
			Body:    "tab\there \b \f \r \x00 \x1f",
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := protocol.MarshalJSON(map[string]any{"responses": tt.responses})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendResponses(nil, tt.responses); string(got) != string(want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}
