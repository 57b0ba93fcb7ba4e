package config

import (
	"context"
	"log/slog"
)

type loggerKey struct{}

// WithLogger returns a copy of ctx carrying logger, for the backend factories
// (storage.Factory, cache.Factory, permission.Factory): cliquet.Initialize opens the backends
// named in the settings with a context carrying the app's logger, so that what a backend
// logs later (InitializeSchema's report of a migrate --dry-run, warnings) goes where the
// app's logs go. The logger is a property of the process, not of the settings, hence the
// context rather than a setting.
func WithLogger(ctx context.Context, logger *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, logger)
}

// LoggerFrom returns the logger carried by ctx (see [WithLogger]), or a logger that discards
// everything when there is none, so that a factory can always use the result.
func LoggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}
