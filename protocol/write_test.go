package protocol_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cliquet-go/cliquet/protocol"
)

func TestErrorWriterOnError(t *testing.T) {
	type call struct {
		code  int
		errno protocol.Errno
		info  string
		cause error
		wrote bool // the response had been started when OnError ran
	}
	backendDown := errors.New("connection refused")
	tests := []struct {
		name string
		err  error
		want call
	}{
		{
			name: "a protocol error is passed as is, with itself as the cause",
			err:  protocol.NewError(http.StatusForbidden, protocol.ErrnoForbidden, protocol.MsgForbidden),
			want: call{code: 403, errno: protocol.ErrnoForbidden},
		},
		{
			name: "an unknown error is passed mapped to 500 with the info link, and as the cause",
			err:  backendDown,
			want: call{code: 500, errno: protocol.ErrnoUndefined, info: "https://example.com/bugs", cause: backendDown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []call
			rec := httptest.NewRecorder()
			ew := &protocol.ErrorWriter{
				InfoLink: "https://example.com/bugs",
				Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
				OnError: func(r *http.Request, e *protocol.Error, cause error) {
					if r.URL.Path != "/things" {
						t.Errorf("OnError got the request for %q", r.URL.Path)
					}
					got = append(got, call{code: e.Code, errno: e.Errno, info: e.Info, cause: cause, wrote: rec.Code != 200 || rec.Body.Len() > 0})
				},
			}
			req := httptest.NewRequest(http.MethodGet, "/things", nil)
			protocol.WriteError(rec, req.WithContext(protocol.WithErrorWriter(req.Context(), ew)), tt.err)

			if len(got) != 1 {
				t.Fatalf("OnError called %d times, want once", len(got))
			}
			want := tt.want
			if want.cause == nil {
				want.cause = tt.err
			}
			if got[0].code != want.code || got[0].errno != want.errno || got[0].info != want.info {
				t.Errorf("OnError got code %d errno %d info %q, want %d %d %q", got[0].code, got[0].errno, got[0].info, want.code, want.errno, want.info)
			}
			if got[0].cause != want.cause {
				t.Errorf("OnError cause = %v, want %v", got[0].cause, want.cause)
			}
			if got[0].wrote {
				t.Error("OnError ran after the response was started")
			}
			if rec.Code != want.code {
				t.Errorf("status = %d, want %d", rec.Code, want.code)
			}
		})
	}
}
