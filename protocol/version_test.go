package protocol_test

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/protocol"
)

func TestVersionIsMajorMinor(t *testing.T) {
	if !regexp.MustCompile(`^[1-9][0-9]*\.(0|[1-9][0-9]*)$`).MatchString(protocol.Version) {
		t.Fatalf("protocol.Version = %q, want MAJOR.MINOR without leading zeros", protocol.Version)
	}
}

func TestVersionHasAChangelogEntry(t *testing.T) {
	b, err := os.ReadFile("../docs/protocol-changelog.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := "## " + protocol.Version
	for _, line := range strings.Split(string(b), "\n") {
		if line == heading || strings.HasPrefix(line, heading+" ") {
			return
		}
	}
	t.Errorf("docs/protocol-changelog.md has no %q heading for the current protocol.Version", heading)
}

func ExampleVersion() {
	major, minor, _ := strings.Cut(protocol.Version, ".")
	fmt.Printf("protocol %s: major %s, minor %s\n", protocol.Version, major, minor)
	// Output: protocol 1.0: major 1, minor 0
}
