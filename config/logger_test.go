package config

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestLoggerFromContext(t *testing.T) {
	LoggerFrom(context.Background()).Info("dropped") // no logger: discards, does not panic
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	LoggerFrom(WithLogger(context.Background(), l)).Info("kept")
	if !strings.Contains(buf.String(), "msg=kept") {
		t.Fatalf("log = %q, want the record", buf.String())
	}
}
