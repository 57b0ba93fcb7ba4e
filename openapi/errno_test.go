package openapi

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestErrnoTableIsDocumented checks that every errno constant of package protocol is in the
// OpenAPI errno table with its number, and in docs/errors.md with its status and name.
func TestErrnoTableIsDocumented(t *testing.T) {
	src, err := os.ReadFile("../protocol/errors.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	consts := regexp.MustCompile(`(?m)^\s+(Errno\w+)\s+Errno = (\d+)$`).FindAllStringSubmatch(string(src), -1)
	if len(consts) != len(errnoTable) {
		t.Errorf("protocol declares %d errnos, the OpenAPI table has %d", len(consts), len(errnoTable))
	}
	byNumber := map[int]errnoDoc{}
	for _, e := range errnoTable {
		byNumber[int(e.errno)] = e
	}
	for _, c := range consts {
		name := c[1]
		n, _ := strconv.Atoi(c[2])
		e, ok := byNumber[n]
		if !ok {
			t.Errorf("%s = %d is missing from the OpenAPI errno table", name, n)
			continue
		}
		row := fmt.Sprintf("| %d | %d | `%s` |", n, e.status, name)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/errors.md has no row starting %q", row)
		}
	}
}
