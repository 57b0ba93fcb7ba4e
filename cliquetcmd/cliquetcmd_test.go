package cliquetcmd_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/cliquetcmd"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// recorder is a Command on memory backends that records what Run asked of it.
type recorder struct {
	ini     string
	built   int
	loadErr error
}

func (r *recorder) command(migrate bool) cliquetcmd.Command {
	return cliquetcmd.Command{
		Name: "demo", DefaultListen: "127.0.0.1:0", Migrate: migrate,
		LoadSettings: func(path string) (*config.Settings, error) {
			r.ini = path
			if r.loadErr != nil {
				return nil, r.loadErr
			}
			return config.Load("", config.Options{ProjectName: "demo", Defaults: map[string]string{"userid_hmac_secret": "s"}})
		},
		NewServer: func(s *config.Settings, logger *slog.Logger) (http.Handler, *cliquet.App, error) {
			r.built++
			return newDemoServer(s, logger)
		},
	}
}

// newDemoServer is the toolkit alone, with no resources.
func newDemoServer(s *config.Settings, logger *slog.Logger) (http.Handler, *cliquet.App, error) {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{Settings: s, ProjectName: "demo", ProjectVersion: "1.0.0", Logger: logger})
	if err != nil {
		return nil, nil, err
	}
	return app.Handler(), app, nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name      string
		migrate   bool
		args      []string
		wantFlags []string
		noFlags   []string
		wantName  string
	}{
		{"serve usage with migrate lists --dry-run and names the subcommand", true, []string{"-h"}, []string{"-ini", "-listen", "-dry-run"}, nil, "demo serve"},
		{"migrate usage names the migrate subcommand", true, []string{"migrate", "-h"}, []string{"-ini", "-listen", "-dry-run"}, nil, "demo migrate"},
		{"without migrate there is no --dry-run and the plain name", false, []string{"-h"}, []string{"-ini", "-listen"}, []string{"-dry-run"}, "demo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			r := &recorder{}
			if err := r.command(tt.migrate).Run(context.Background(), tt.args, &out, quiet()); !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("Run = %v, want flag.ErrHelp", err)
			}
			usage := out.String()
			if !strings.HasPrefix(usage, "Usage of "+tt.wantName+":") {
				t.Errorf("usage starts %q, want the name %q", usage, tt.wantName)
			}
			for _, f := range tt.wantFlags {
				if !strings.Contains(usage, "  "+f+" ") && !strings.Contains(usage, "  "+f+"\n") {
					t.Errorf("usage lacks %s: %s", f, usage)
				}
			}
			for _, f := range tt.noFlags {
				if strings.Contains(usage, f) {
					t.Errorf("usage has %s: %s", f, usage)
				}
			}
			if r.built != 0 {
				t.Errorf("the server was built %d times for -h", r.built)
			}
		})
	}
}

func TestRunMigrateAndErrors(t *testing.T) {
	boom := errors.New("boom")
	t.Run("migrate --dry-run passes --ini and builds the server once", func(t *testing.T) {
		r := &recorder{}
		if err := r.command(true).Run(context.Background(), []string{"migrate", "--ini", "x.ini", "--dry-run"}, io.Discard, quiet()); err != nil {
			t.Fatal(err)
		}
		if r.ini != "x.ini" || r.built != 1 {
			t.Errorf("ini %q built %d, want x.ini and 1", r.ini, r.built)
		}
	})
	t.Run("a settings error is returned and no server is built", func(t *testing.T) {
		r := &recorder{loadErr: boom}
		if err := r.command(true).Run(context.Background(), nil, io.Discard, quiet()); !errors.Is(err, boom) {
			t.Fatalf("Run = %v, want boom", err)
		}
		if r.built != 0 {
			t.Errorf("built %d", r.built)
		}
	})
	t.Run("without migrate, --dry-run is an unknown flag", func(t *testing.T) {
		r := &recorder{}
		err := r.command(false).Run(context.Background(), []string{"--dry-run"}, io.Discard, quiet())
		if err == nil || !strings.Contains(err.Error(), "dry-run") {
			t.Fatalf("Run = %v, want an unknown flag error", err)
		}
	})
}

func TestRunDefaults(t *testing.T) {
	t.Run("without LoadSettings the settings come from the --ini file and the environment", func(t *testing.T) {
		t.Setenv("DEMO_USERID_HMAC_SECRET", "from-env")
		var got string
		c := cliquetcmd.Command{Name: "demo", Migrate: true,
			NewServer: func(s *config.Settings, logger *slog.Logger) (http.Handler, *cliquet.App, error) {
				got = s.String("userid_hmac_secret")
				return newDemoServer(s, logger)
			}}
		if err := c.Run(context.Background(), []string{"migrate", "--dry-run"}, io.Discard, quiet()); err != nil {
			t.Fatal(err)
		}
		if got != "from-env" {
			t.Errorf("userid_hmac_secret = %q, want the DEMO_ environment variable", got)
		}
	})
	t.Run("without DefaultListen --listen defaults to :8888", func(t *testing.T) {
		var out bytes.Buffer
		c := cliquetcmd.Command{Name: "demo", NewServer: newDemoServer}
		if err := c.Run(context.Background(), []string{"-h"}, &out, quiet()); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Run = %v, want flag.ErrHelp", err)
		}
		if !strings.Contains(out.String(), `(default ":8888")`) {
			t.Errorf("usage: %s", out.String())
		}
	})
	t.Run("without NewServer Run fails before parsing", func(t *testing.T) {
		err := cliquetcmd.Command{Name: "demo"}.Run(context.Background(), nil, io.Discard, quiet())
		if err == nil || !strings.Contains(err.Error(), "NewServer") {
			t.Fatalf("Run = %v, want an error naming NewServer", err)
		}
	})
}

func TestRunServesUntilTheContextEnds(t *testing.T) {
	addr := testenv.FreeAddr(t)
	r := &recorder{}
	stop := testenv.Start(t, func(ctx context.Context) error {
		return r.command(true).Run(ctx, []string{"--listen", addr}, io.Discard, quiet())
	})
	if code := testenv.WaitHTTP(t, "http://"+addr+"/v1/"); code != http.StatusOK {
		t.Errorf("GET /v1/ = %d, want 200", code)
	}
	if err := stop(); err != nil {
		t.Errorf("Run after the context ended = %v, want nil", err)
	}
	if r.built != 1 {
		t.Errorf("built %d, want 1", r.built)
	}
}

func ExampleCommand_Run() {
	c := cliquetcmd.Command{
		Name: "demo", DefaultListen: "127.0.0.1:8888", Migrate: true,
		LoadSettings: func(path string) (*config.Settings, error) {
			return config.Load(path, config.Options{ProjectName: "demo", Defaults: map[string]string{"userid_hmac_secret": "s"}})
		},
		NewServer: newDemoServer,
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	err := c.Run(context.Background(), []string{"migrate", "--dry-run"}, io.Discard, logger)
	fmt.Println("migrate --dry-run:", err)
	// Output: migrate --dry-run: <nil>
}

func TestRunPurge(t *testing.T) {
	// One memory storage for every Run, so that the purge command sees what was written.
	store := memory.New(nil)
	scope := storage.Scope{Resource: "note", Parent: "p"}
	command := func(settings map[string]string) cliquetcmd.Command {
		return cliquetcmd.Command{
			Name: "demo", Purge: true,
			LoadSettings: func(string) (*config.Settings, error) {
				values := map[string]string{"userid_hmac_secret": "s"}
				for k, v := range settings {
					values[k] = v
				}
				return config.FromMap(values, config.Options{Env: []string{}})
			},
			NewServer: func(s *config.Settings, logger *slog.Logger) (http.Handler, *cliquet.App, error) {
				app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{Settings: s, ProjectVersion: "1.0.0", Logger: logger, Storage: store})
				if err != nil {
					return nil, nil, err
				}
				return app.Handler(), app, nil
			},
		}
	}
	ctx := context.Background()
	tombstone := func() storage.Object {
		t.Helper()
		o, err := store.Create(ctx, scope, storage.Object{})
		if err != nil {
			t.Fatal(err)
		}
		d, err := store.Delete(ctx, scope, o.ID, 0, storage.Condition{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// 300 ms apart, so that --older-than can fall between them with room for the command's
	// start on a slow machine.
	old := tombstone()
	time.Sleep(300 * time.Millisecond)
	recent := tombstone()

	t.Run("usage lists --older-than under the purge name", func(t *testing.T) {
		var out bytes.Buffer
		if err := command(nil).Run(ctx, []string{"purge", "-h"}, &out, quiet()); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Run = %v, want flag.ErrHelp", err)
		}
		if !strings.HasPrefix(out.String(), "Usage of demo purge:") || !strings.Contains(out.String(), "-older-than") {
			t.Errorf("usage: %s", out.String())
		}
	})
	t.Run("without a retention the purge fails and removes nothing", func(t *testing.T) {
		err := command(nil).Run(ctx, []string{"purge"}, io.Discard, quiet())
		if !errors.Is(err, cliquet.ErrNoRetention) {
			t.Fatalf("Run = %v, want ErrNoRetention", err)
		}
		if h, _ := store.Horizon(ctx, scope); h != 0 {
			t.Errorf("horizon %d after a refused purge", h)
		}
	})
	t.Run("in readonly mode the purge fails", func(t *testing.T) {
		err := command(map[string]string{"readonly": "true"}).Run(ctx, []string{"purge", "--older-than", "1ms"}, io.Discard, quiet())
		if err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Fatalf("Run = %v, want a readonly error", err)
		}
	})
	// purgeOne runs the purge command, which must purge one tombstone, the newest of which
	// is then the horizon.
	purgeOne := func(t *testing.T, settings map[string]string, args []string, horizon int64) {
		t.Helper()
		var out bytes.Buffer
		if err := command(settings).Run(ctx, append([]string{"purge"}, args...), &out, quiet()); err != nil {
			t.Fatal(err)
		}
		if out.String() != "purged 1 tombstones\n" {
			t.Errorf("output %q", out.String())
		}
		if h, _ := store.Horizon(ctx, scope); h != horizon {
			t.Errorf("horizon %d, want the purged tombstone's %d", h, horizon)
		}
	}
	t.Run("--older-than purges the older tombstones and reports how many", func(t *testing.T) {
		age := time.Since(time.UnixMilli(recent.LastModified)) + 150*time.Millisecond // between the two
		purgeOne(t, nil, []string{"--older-than", age.String()}, old.LastModified)
	})
	t.Run("the setting gives the retention", func(t *testing.T) {
		time.Sleep(20 * time.Millisecond) // the newest tombstone older than the retention
		purgeOne(t, map[string]string{"tombstones_retention_seconds": "0.005"}, nil, recent.LastModified)
	})
	t.Run("a negative --older-than is refused", func(t *testing.T) {
		err := command(nil).Run(ctx, []string{"purge", "--older-than", "-1h"}, io.Discard, quiet())
		if err == nil || !strings.Contains(err.Error(), "negative") {
			t.Fatalf("Run = %v, want a negative duration error", err)
		}
	})
	t.Run("without Purge there is no --older-than", func(t *testing.T) {
		var out bytes.Buffer
		r := &recorder{}
		if err := r.command(true).Run(ctx, []string{"-h"}, &out, quiet()); !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("Run = %v, want flag.ErrHelp", err)
		}
		if strings.Contains(out.String(), "older-than") {
			t.Errorf("usage without Purge: %s", out.String())
		}
	})
}
