package resource_test

import "testing"

// TestCORSMaxAgeSetting: cors_max_age_seconds sets the Access-Control-Max-Age of preflight
// answers (3600 by default); an empty value or zero leaves the header out.
func TestCORSMaxAgeSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings map[string]string
		want     string // "" means absent
	}{
		{"the default is 3600 seconds", nil, "3600"},
		{"a custom value is sent as is", map[string]string{"cors_max_age_seconds": "42"}, "42"},
		{"an empty value omits the header", map[string]string{"cors_max_age_seconds": ""}, ""},
		{"zero omits the header", map[string]string{"cors_max_age_seconds": "0"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.settings)
			r := s.must(200, req{Method: "OPTIONS", Path: col, Header: map[string]string{
				"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
			}})
			got, present := r.Header["Access-Control-Max-Age"]
			switch {
			case tt.want == "" && present:
				t.Fatalf("Access-Control-Max-Age %q, want none", got)
			case tt.want != "" && r.Header.Get("Access-Control-Max-Age") != tt.want:
				t.Fatalf("Access-Control-Max-Age %q, want %q", got, tt.want)
			}
			if r.Header.Get("Access-Control-Allow-Origin") != "*" { // cors_origins = *
				t.Fatalf("not a CORS preflight answer: %v", r.Header)
			}
		})
	}
}
