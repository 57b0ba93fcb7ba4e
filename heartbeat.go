package cliquet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/cliquet-go/cliquet/protocol"
)

// HeartbeatFunc checks one dependency for GET /__heartbeat__. It returns nil when healthy,
// [ErrHeartbeatSkipped] for "not applicable" (reported as null, which does not fail the
// heartbeat), and any other error when unhealthy. It must honour ctx, which carries the
// heartbeat_timeout_seconds deadline.
type HeartbeatFunc func(ctx context.Context) error

// ErrHeartbeatSkipped, returned by a [HeartbeatFunc], reports the check as null: not
// applicable, not a failure.
var ErrHeartbeatSkipped = errors.New("cliquet: heartbeat not applicable")

// AddHeartbeat registers a check under name; it is reported in GET /__heartbeat__ as
// {name: true|false|null}. Registering a name twice is an error. Initialize registers the
// Ping of the app's backends as "storage", "cache" and "permission".
func (a *App) AddHeartbeat(name string, check HeartbeatFunc) error {
	if name == "" || check == nil {
		return errors.New("cliquet: AddHeartbeat needs a name and a check")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.heartbeats[name]; dup {
		return fmt.Errorf("cliquet: heartbeat %q is already registered", name)
	}
	a.heartbeats[name] = check
	return nil
}

func (a *App) registerBackendHeartbeats() {
	readonly, _ := a.Settings.Bool("readonly")
	if p := a.Storage; p != nil {
		a.heartbeats["storage"] = func(ctx context.Context) error { return p.Ping(ctx, readonly) }
	}
	if a.Cache != nil {
		a.heartbeats["cache"] = a.Cache.Ping
	}
	if p := a.Permission; p != nil {
		a.heartbeats["permission"] = func(ctx context.Context) error { return p.Ping(ctx, readonly) }
	}
}

// heartbeat runs every check concurrently, bounded by heartbeat_timeout_seconds; a check
// that does not finish in time counts as false.
func (a *App) heartbeat(w http.ResponseWriter, r *http.Request) {
	timeout, _ := a.Settings.Seconds("heartbeat_timeout_seconds")
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()

	a.mu.RLock()
	checks := make(map[string]HeartbeatFunc, len(a.heartbeats))
	for k, v := range a.heartbeats {
		checks[k] = v
	}
	a.mu.RUnlock()

	var mu sync.Mutex
	results := make(map[string]any, len(checks))
	for name := range checks {
		results[name] = false // until it reports in time
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v any
			err := runCheck(ctx, check)
			switch {
			case err == nil:
				v = true
			case errors.Is(err, ErrHeartbeatSkipped):
				v = nil
			default:
				v = false
				a.Logger.ErrorContext(ctx, "heartbeat check failed", "check", name, "error", err.Error())
			}
			mu.Lock()
			results[name] = v
			mu.Unlock()
		}()
	}
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	status := http.StatusOK
	body := make(map[string]any, len(results))
	for k, v := range results {
		body[k] = v
		if v == false {
			status = http.StatusServiceUnavailable
		}
	}
	mu.Unlock()
	protocol.WriteJSON(w, status, body)
}

// runCheck calls check, turning a panic into an error.
func runCheck(ctx context.Context, check HeartbeatFunc) (err error) {
	defer func() {
		if rec := recover(); rec != nil {
			err = fmt.Errorf("panic: %v", rec)
		}
	}()
	return check(ctx)
}

// lbheartbeat answers GET /__lbheartbeat__: always 200 {} (no backend touched).
func lbheartbeat(w http.ResponseWriter, _ *http.Request) {
	protocol.WriteRawJSON(w, http.StatusOK, []byte("{}"))
}

// version serves the JSON file at version_json_path, read once and cached.
func (a *App) version(w http.ResponseWriter, r *http.Request) {
	a.versionOnce.Lock()
	body := a.versionJSON
	if body == nil {
		path := a.Settings.String("version_json_path")
		b, err := os.ReadFile(path)
		b = bytes.TrimSpace(b)
		if err == nil && !json.Valid(b) {
			err = fmt.Errorf("%s is not valid JSON", path)
		}
		if err != nil {
			a.versionOnce.Unlock()
			e := protocol.NewError(http.StatusInternalServerError, protocol.ErrnoUndefined, "Version file is missing or invalid.")
			e.Cause = err
			protocol.WriteError(w, r, e)
			return
		}
		a.versionJSON, body = b, b
	}
	a.versionOnce.Unlock()
	protocol.WriteRawJSON(w, http.StatusOK, body)
}
