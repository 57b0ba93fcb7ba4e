package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runWithFakeNode runs the Node suite script (jstest/run.sh or admintest/run.sh) with a fake
// node first on PATH, whose major version is major ("" prints none), a fake npm, and env
// added to the environment; it returns the combined output and the error of the run.
func runWithFakeNode(t *testing.T, script, major string, env ...string) (string, error) {
	t.Helper()
	bin := t.TempDir()
	fake := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo v" + major + ".0.0; else echo " + major + "; fi\n"
	if err := os.WriteFile(filepath.Join(bin, "node"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestJSSuiteRefusesAnOldNode runs both Node suites with a fake node: a node older than 18
// stops the script before anything else, with a message saying what is needed.
func TestJSSuiteRefusesAnOldNode(t *testing.T) {
	tests := []struct {
		name    string
		version string // what the fake node prints for process.versions.node's major
		want    string
	}{
		{"node 16 is too old", "16", "node v16.0.0 is too old: node >= 18 is required"},
		{"a node that prints no version is refused", "", "is too old: node >= 18 is required"},
	}
	for _, script := range []string{"jstest/run.sh", "admintest/run.sh"} {
		for _, tt := range tests {
			t.Run(script+": "+tt.name, func(t *testing.T) {
				out, err := runWithFakeNode(t, script, tt.version)
				if err == nil {
					t.Fatalf("run.sh succeeded with node %q:\n%s", tt.version, out)
				}
				if !strings.Contains(out, tt.want) {
					t.Errorf("output = %q, want it to contain %q", out, tt.want)
				}
				if strings.Contains(out, "npm ci") {
					t.Errorf("run.sh went on to npm ci:\n%s", out)
				}
			})
		}
	}
}

// TestAdminSuiteNeedsChromiumInCI runs admintest/run.sh with a chromium that does not exist:
// in CI it fails loudly, saying how to install one; elsewhere it skips the journeys and
// succeeds. Either way it stops before npm ci.
func TestAdminSuiteNeedsChromiumInCI(t *testing.T) {
	missing := "CHROMIUM=" + filepath.Join(t.TempDir(), "chromium")
	t.Run("CI fails", func(t *testing.T) {
		out, err := runWithFakeNode(t, "admintest/run.sh", "20", missing, "CI=1")
		if err == nil {
			t.Fatalf("run.sh succeeded in CI without chromium:\n%s", out)
		}
		if want := "Debian's chromium is required (bash scripts/services.sh installs it with apt-get)"; !strings.Contains(out, want) {
			t.Errorf("output = %q, want it to contain %q", out, want)
		}
		if strings.Contains(out, "npm ci") {
			t.Errorf("run.sh went on to npm ci:\n%s", out)
		}
	})
	t.Run("a developer's run skips", func(t *testing.T) {
		out, err := runWithFakeNode(t, "admintest/run.sh", "20", missing, "CI=")
		if err != nil {
			t.Fatalf("run.sh failed outside CI without chromium: %v\n%s", err, out)
		}
		if want := "admin journeys skipped"; !strings.Contains(out, want) {
			t.Errorf("output = %q, want it to contain %q", out, want)
		}
		if strings.Contains(out, "npm ci") {
			t.Errorf("run.sh went on to npm ci:\n%s", out)
		}
	})
}
