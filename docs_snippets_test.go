package cliquet

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// snippetSource is the marker that names, before a ```go block of a documentation page, the
// source files the block is copied from: <!-- from examples/scores/main.go -->. Several
// files may be listed, separated by spaces; the block is then matched against them in that
// order.
var snippetSource = regexp.MustCompile(`^<!--\s*from\s+(.+?)\s*-->$`)

// snippetPages are the pages whose Go code blocks must be copies of the examples.
var snippetPages = []string{"docs/quickstart.md"}

// goSnippet is one ```go block of a page and the files it is copied from.
type goSnippet struct {
	line    int      // of the opening fence, 1-based
	sources []string // from the marker; nil when it is missing
	lines   []string // the block's lines
}

// goSnippets returns the ```go blocks of a Markdown text, each with the files named by the
// marker on the closest non-blank line before it.
func goSnippets(text string) []goSnippet {
	var out []goSnippet
	var cur *goSnippet
	fence := ""
	lastProse := ""
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil:
			if trimmed == "```" {
				out = append(out, *cur)
				cur = nil
				continue
			}
			cur.lines = append(cur.lines, line)
		case fence != "":
			if trimmed == fence {
				fence = ""
			}
		case trimmed == "```go":
			cur = &goSnippet{line: i + 1}
			if m := snippetSource.FindStringSubmatch(lastProse); m != nil {
				cur.sources = strings.Fields(m[1])
			}
		case strings.HasPrefix(trimmed, "```"):
			fence = "```"
		case trimmed != "":
			lastProse = trimmed
		}
	}
	return out
}

// normalizeSpace trims s and collapses its runs of white space to one space, so that the
// alignment gofmt gives struct fields does not matter.
func normalizeSpace(s string) string { return strings.Join(strings.Fields(s), " ") }

// missingLine returns the first non-blank line of snippet that is not found, in order, among
// the lines of source (lines may be skipped in source, not reordered), and false when every
// line is found.
func missingLine(snippet, source []string) (string, bool) {
	i := 0
	for _, want := range snippet {
		want = normalizeSpace(want)
		if want == "" {
			continue
		}
		for i < len(source) && normalizeSpace(source[i]) != want {
			i++
		}
		if i == len(source) {
			return want, true
		}
		i++
	}
	return "", false
}

func TestDocumentationSnippetsMatchTheExamples(t *testing.T) {
	for _, page := range snippetPages {
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		snippets := goSnippets(string(b))
		if len(snippets) == 0 {
			t.Fatalf("%s has no ```go block", page)
		}
		for _, s := range snippets {
			if len(s.sources) == 0 {
				t.Errorf("%s:%d: a ```go block without a <!-- from <file> --> marker before it", page, s.line)
				continue
			}
			var source []string
			for _, f := range s.sources {
				src, err := os.ReadFile(f)
				if err != nil {
					t.Errorf("%s:%d: marker names %s: %v", page, s.line, f, err)
					continue
				}
				source = append(source, strings.Split(string(src), "\n")...)
			}
			if line, missing := missingLine(s.lines, source); missing {
				t.Errorf("%s:%d: the line %q is not in %s (in the block's order)", page, s.line, line, strings.Join(s.sources, ", "))
			}
		}
	}
}

func TestMissingLine(t *testing.T) {
	source := []string{"func f() {", "\tx := 1", "\treturn x", "}"}
	tests := []struct {
		name    string
		snippet []string
		want    string
	}{
		{"lines in order, with source lines skipped, are found", []string{"func f() {", "", "  return   x", "}"}, ""},
		{"a line absent from the source is reported", []string{"func f() {", "\ty := 2"}, "y := 2"},
		{"lines out of order are reported", []string{"\treturn x", "\tx := 1"}, "x := 1"},
		{"a line matches whole source lines only", []string{"x"}, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, missing := missingLine(tt.snippet, source)
			if missing != (tt.want != "") || got != tt.want {
				t.Errorf("missingLine = %q, %v; want %q", got, missing, tt.want)
			}
		})
	}
}

func TestGoSnippetsReadsMarkers(t *testing.T) {
	page := "<!-- from a.go b.go -->\n\n```go\nx := 1\n```\n\n```console\n```go\n```\n\nText\n```go\ny\n```\n"
	got := goSnippets(page)
	if len(got) != 2 {
		t.Fatalf("%d snippets, want 2: %+v", len(got), got)
	}
	if strings.Join(got[0].sources, ",") != "a.go,b.go" || strings.Join(got[0].lines, "|") != "x := 1" || got[0].line != 3 {
		t.Errorf("first snippet = %+v", got[0])
	}
	if got[1].sources != nil || strings.Join(got[1].lines, "|") != "y" {
		t.Errorf("second snippet = %+v, want no marker (prose comes between)", got[1])
	}
}
