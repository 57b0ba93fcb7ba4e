package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestJSSuiteRefusesAnOldNode runs jstest/run.sh with a fake node first on PATH: a node older
// than 18 stops the script before anything else, with a message saying what is needed.
func TestJSSuiteRefusesAnOldNode(t *testing.T) {
	tests := []struct {
		name    string
		version string // what the fake node prints for process.versions.node's major
		want    string
	}{
		{"node 16 is too old", "16", "node v16.0.0 is too old: node >= 18 is required"},
		{"a node that prints no version is refused", "", "is too old: node >= 18 is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin := t.TempDir()
			fake := "#!/bin/sh\nif [ \"$1\" = --version ]; then echo v" + tt.version + ".0.0; else echo " + tt.version + "; fi\n"
			if err := os.WriteFile(filepath.Join(bin, "node"), []byte(fake), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(bin, "npm"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command("bash", filepath.Join("jstest", "run.sh"))
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("run.sh succeeded with node %q:\n%s", tt.version, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("output = %q, want it to contain %q", out, tt.want)
			}
			if strings.Contains(string(out), "npm ci") {
				t.Errorf("run.sh went on to npm ci:\n%s", out)
			}
		})
	}
}
