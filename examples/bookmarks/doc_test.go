package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPackageDocNamesRealFilesAndFlags keeps the command's documentation honest: every .ini
// file it names exists, and every flag of both commands is described.
func TestPackageDocNamesRealFilesAndFlags(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatal("main.go has no package doc comment")
	}
	doc := f.Doc.Text()

	t.Run("every .ini file named exists", func(t *testing.T) {
		inis := regexp.MustCompile(`[\w./-]+\.ini\b`).FindAllString(doc, -1)
		if len(inis) == 0 {
			t.Fatal("the doc names no .ini file")
		}
		for _, name := range inis {
			// Paths are relative to the repository root, two levels up, or to this directory.
			_, errRoot := os.Stat(filepath.Join("..", "..", name))
			_, errHere := os.Stat(name)
			if errRoot != nil && errHere != nil {
				t.Errorf("the doc names %s, which does not exist", name)
			}
		}
	})
	for _, cmd := range [][]string{{"-h"}, {"migrate", "-h"}} {
		t.Run("every flag of "+strings.Join(cmd, " ")+" is described", func(t *testing.T) {
			var usage bytes.Buffer
			if err := run(context.Background(), cmd, &usage, quiet()); !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("run(%q) = %v, want flag.ErrHelp", cmd, err)
			}
			names := regexp.MustCompile(`(?m)^\s+-([\w-]+)`).FindAllStringSubmatch(usage.String(), -1)
			if len(names) == 0 {
				t.Fatalf("no flag in the usage %q", usage.String())
			}
			for _, n := range names {
				if !strings.Contains(doc, "--"+n[1]) {
					t.Errorf("the doc does not describe --%s", n[1])
				}
			}
		})
	}
}
