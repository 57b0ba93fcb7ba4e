package resource

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// readAll returns the whole body whatever the declared length says, and keeps the errors
// that readBody maps (a body over the size limit, a body shorter than declared).
func TestReadAllUsesTheDeclaredLength(t *testing.T) {
	big := strings.Repeat("x", sizedReadLimit+10)
	for _, c := range []struct {
		name     string
		body     string
		declared int64
		limit    int64 // MaxBytesReader limit; 0: none
		want     string
		wantErr  func(error) bool
	}{
		{"exact length", `{"data":{}}`, 11, 0, `{"data":{}}`, nil},
		{"unknown length", `{"data":{}}`, -1, 0, `{"data":{}}`, nil},
		{"declared shorter than sent (a hand-made request)", `{"data":{"a":1}}`, 3, 0, `{"data":{"a":1}}`, nil},
		{"over the sized-read limit", big, int64(len(big)), 0, big, nil},
		{"declared longer than sent", `{}`, 10, 0, "", func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }},
		{"over the body limit", `{"data":{"title":"long"}}`, 25, 8, "", func(err error) bool {
			var tooLarge *http.MaxBytesError
			return errors.As(err, &tooLarge)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/x", strings.NewReader(c.body))
			r.ContentLength = c.declared
			if c.limit > 0 {
				r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, c.limit)
			}
			got, err := readAll(r)
			if c.wantErr != nil {
				if err == nil || !c.wantErr(err) {
					t.Fatalf("readAll = %q, %v; want the error", got, err)
				}
				return
			}
			if err != nil || string(got) != c.want {
				t.Fatalf("readAll = %d bytes %.40q, %v; want %d bytes", len(got), got, err, len(c.want))
			}
		})
	}
}
