package monitoring

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The response writer keeps the first sniffSize bytes of an error body, however it is
// written, to find its errno; a successful response keeps nothing.
func TestResponseWriterSniffsErrorBodies(t *testing.T) {
	long := `{"code":400,"errno":107,"error":"Invalid parameters","message":"` + strings.Repeat("x", 300) + `"}`
	tests := []struct {
		name   string
		status int
		chunks []string
		errno  int
		found  bool
	}{
		{"one write", 404, []string{`{"code":404,"errno":111,"error":"Not Found"}`}, 111, true},
		{"split inside the number", 503, []string{`{"code":503,"errno":2`, `01,"error":"x"}`}, 201, true},
		{"byte by byte", 400, strings.Split(`{"errno":107}`, ""), 107, true},
		{"longer than kept", 400, []string{long[:50], long[50:]}, 107, true},
		{"errno beyond the kept bytes", 400, []string{`{"message":"` + strings.Repeat("y", sniffSize) + `","errno":107}`}, 0, false},
		{"success", 200, []string{`{"errno":107}`}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &responseWriter{ResponseWriter: httptest.NewRecorder()}
			w.WriteHeader(tt.status)
			for _, c := range tt.chunks {
				if _, err := w.Write([]byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			errno, ok := w.sniffedErrno()
			if errno != tt.errno || ok != tt.found {
				t.Errorf("sniffedErrno() = %d, %v, want %d, %v", errno, ok, tt.errno, tt.found)
			}
			if len(w.sniff) > sniffSize {
				t.Errorf("kept %d bytes, more than %d", len(w.sniff), sniffSize)
			}
			if tt.status < http.StatusBadRequest && w.sniff != nil {
				t.Errorf("a %d response kept %q", tt.status, w.sniff)
			}
		})
	}
}
