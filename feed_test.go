package cliquet_test

import (
	"net/http/httptest"
	"testing"

	"github.com/cliquet-go/cliquet"
)

func TestWantsEventStream(t *testing.T) {
	tests := []struct {
		name, method string
		accept       []string
		want         bool
	}{
		{"an EventSource asks for text/event-stream", "GET", []string{"text/event-stream"}, true},
		{"media types are case-insensitive, parameters are read", "GET", []string{"Text/Event-Stream; charset=utf-8"}, true},
		{"no Accept header is a JSON client", "GET", nil, false},
		{"JSON clients (kinto-http) never ask for it", "GET", []string{"application/json"}, false},
		{"*/* is a JSON client", "GET", []string{"*/*"}, false},
		{"the stream wins over JSON of lower quality", "GET", []string{"application/json;q=0.5, text/event-stream"}, true},
		{"JSON of higher quality wins over the stream", "GET", []string{"text/event-stream;q=0.4, application/json"}, false},
		{"a tie goes to the stream, named explicitly", "GET", []string{"text/event-stream, */*"}, true},
		{"quality zero refuses the stream", "GET", []string{"text/event-stream;q=0"}, false},
		{"an unreadable quality refuses it", "GET", []string{"text/event-stream;q=high"}, false},
		{"several Accept headers are read together", "GET", []string{"application/json;q=0.1", "text/event-stream"}, true},
		{"HEAD never streams", "HEAD", []string{"text/event-stream"}, false},
		{"POST never streams", "POST", []string{"text/event-stream"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "/v1/things", nil)
			for _, a := range tt.accept {
				r.Header.Add("Accept", a)
			}
			if got := cliquet.WantsEventStream(r); got != tt.want {
				t.Errorf("WantsEventStream(%s %q) = %v, want %v", tt.method, tt.accept, got, tt.want)
			}
		})
	}
}
